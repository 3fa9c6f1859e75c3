// Runtime: a loaded model and where its sequences run, behind one Submit().
//
// Open() loads the model and its tokenizer, then either runs every sequence on this device
// (LocalExecutor) or connects to a pool of workers, places the model and runs through them
// (PoolExecutor); a Scheduler batches whatever is submitted. `generate`, `eval`, `bench` and
// `serve` all go through it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "model/model.h"
#include "runtime/executor.h"
#include "runtime/options.h"
#include "runtime/request.h"
#include "runtime/scheduler.h"

namespace suanli::cluster {
class Pool;
}

namespace suanli::runtime {

// A model and its tokenizer. bind_weights false: metadata and tokenizer only (a pool's head).
struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  double load_seconds = 0;
};
StatusOr<LoadedModel> LoadModel(const ModelOptions& o, bool bind_weights = true);

class Runtime {
 public:
  static StatusOr<std::unique_ptr<Runtime>> Open(const RuntimeOptions& o);
  ~Runtime();

  const Model& model() const { return *loaded_.model; }
  const Tokenizer& tokenizer() const { return *loaded_.tokenizer; }
  double load_seconds() const { return loaded_.load_seconds; }
  int64_t n_ctx() const { return n_ctx_; }
  int threads() const { return threads_; }
  const RuntimeOptions& options() const { return opts_; }

  StatusOr<RequestHandle> Submit(GenerationRequest r) { return scheduler_->Submit(std::move(r)); }
  SchedulerStats Stats() const { return scheduler_->Stats(); }
  std::vector<DeviceState> Devices() const { return executor_->Devices(); }
  std::vector<ExecutorEvent> TakeEvents() { return executor_->TakeEvents(); }
  const Executor& executor() const { return *executor_; }
  // The pool behind the executor (nullptr on this device): placement, predicted speed.
  cluster::Pool* pool() const { return pool_; }
  // "threads: 2" or "pool: 3 stage(s) in 1 pipeline(s)".
  std::string Describe() const;
  // Stops taking requests, lets running ones finish for up to grace_seconds, ends the rest.
  void Shutdown(double grace_seconds = 0);

 private:
  Runtime() = default;
  RuntimeOptions opts_;
  LoadedModel loaded_;
  int64_t n_ctx_ = 0;
  int threads_ = 1;
  std::unique_ptr<Executor> executor_;
  cluster::Pool* pool_ = nullptr;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace suanli::runtime
