// Pool flags shared by the job commands (generate, eval, bench) and `suanli worker`, and the
// Backend that runs a job on this device or, with --workers, through a pool.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "cli/common.h"
#include "cluster/head.h"
#include "cluster/transport.h"
#include "engine/sequence.h"

namespace suanli::cli {

struct SecurityFlags {
  std::string token, token_file, tls_cert, tls_key, tls_ca;
};
void AddSecurityOptions(CLI::App* app, SecurityFlags* f);
StatusOr<cluster::SecurityOptions> ResolveSecurity(const SecurityFlags& f);

struct PoolFlags {
  std::string workers;  // host:port,host:port
  bool discover = false;
  double discover_seconds = 1.5;
  std::string objective = "latency";
  std::string split;
  std::string act = "f16";
  SecurityFlags security;
  bool active() const { return !workers.empty() || discover; }
};
void AddPoolOptions(CLI::App* app, PoolFlags* f);

// Where a job's sequences run.
class Backend {
 public:
  // Local: sequences on this device with l.threads. Pool: connects to the workers, places the
  // model and prints the placement. max_seqs: sequences in flight at once.
  static StatusOr<std::unique_ptr<Backend>> Open(const Loaded& l, const PoolFlags& f, int64_t n_ctx,
                                                 int64_t max_seqs, int64_t max_batch = 512);
  std::unique_ptr<Sequence> NewSequence();
  cluster::Pool* pool() { return pool_.get(); }
  // "threads: 2" or "pool: 3 workers".
  std::string Describe() const;

 private:
  const Model* model_ = nullptr;
  std::unique_ptr<ThreadPool> threads_;
  std::unique_ptr<cluster::Pool> pool_;
  int64_t n_ctx_ = 0, max_batch_ = 512;
  int n_threads_ = 1;
};

}  // namespace suanli::cli
