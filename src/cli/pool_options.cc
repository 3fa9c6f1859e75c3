#include "cli/pool_options.h"

#include <algorithm>

#include "cluster/auth.h"
#include "cluster/discovery.h"
#include "engine/session.h"
#include "model/default_model.h"

namespace suanli::cli {

void AddSecurityOptions(CLI::App* app, SecurityFlags* f) {
  app->add_option("--token", f->token,
                  "Pool token, the same on the head and every worker (visible in the process "
                  "list: prefer --token-file or SUANLI_TOKEN)");
  app->add_option("--token-file", f->token_file, "Read the pool token from this file");
  app->add_option("--tls-cert", f->tls_cert, "TLS: this node's certificate (PEM)");
  app->add_option("--tls-key", f->tls_key, "TLS: this node's private key (PEM)");
  app->add_option("--tls-ca", f->tls_ca, "TLS: CA that signed every peer's certificate (PEM)");
}

StatusOr<cluster::SecurityOptions> ResolveSecurity(const SecurityFlags& f) {
  cluster::SecurityOptions s;
  SL_ASSIGN_OR_RETURN(s.token, cluster::ResolvePoolToken(f.token, f.token_file));
  s.tls_cert = f.tls_cert;
  s.tls_key = f.tls_key;
  s.tls_ca = f.tls_ca;
  SL_RETURN_IF_ERROR(s.Validate());
  return s;
}

void AddPoolOptions(CLI::App* app, PoolFlags* f) {
  app->add_option("--workers", f->workers,
                  "Run through a pool: comma-separated worker addresses HOST:PORT (see "
                  "`suanli worker`)");
  app->add_flag("--discover", f->discover,
                "Find workers on the LAN by UDP multicast (added to --workers)");
  app->add_option("--objective", f->objective,
                  "Placement goal: latency (one fast stream) or throughput (many streams)")
      ->check(CLI::IsMember({"latency", "throughput"}));
  app->add_option("--split", f->split,
                  "Force layer counts per worker, in --workers order (e.g. 3,5,8)");
  app->add_option("--act", f->act,
                  "Activations between workers: f32 (exact), f16 (default) or q8_0")
      ->check(CLI::IsMember({"f32", "f16", "q8_0"}));
  AddSecurityOptions(app, &f->security);
}

StatusOr<std::unique_ptr<Backend>> Backend::Open(const Loaded& l, const PoolFlags& f, int64_t n_ctx,
                                                 int64_t max_seqs, int64_t max_batch) {
  auto b = std::make_unique<Backend>();
  b->model_ = l.model.get();
  b->n_ctx_ = n_ctx;
  b->max_batch_ = max_batch;
  b->n_threads_ = l.threads;
  if (!f.active()) {
    b->threads_ = std::make_unique<ThreadPool>(l.threads);
    return b;
  }
  cluster::PoolOptions o;
  SL_ASSIGN_OR_RETURN(o.security, ResolveSecurity(f.security));
  if (!f.workers.empty())
    for (const std::string& addr : SplitCommas(f.workers)) {
      if (addr.empty() || addr.find(':') == std::string::npos)
        return InvalidArgument("--workers: '" + addr + "' is not HOST:PORT");
      o.workers.push_back(addr);
    }
  if (f.discover) {
    SL_ASSIGN_OR_RETURN(auto found, cluster::DiscoverWorkers(f.discover_seconds));
    std::fprintf(stderr, "suanli: discovered %zu worker(s)\n", found.size());
    for (auto& a : found)
      if (std::find(o.workers.begin(), o.workers.end(), a) == o.workers.end())
        o.workers.push_back(a);
    if (o.workers.empty())
      return NotFound(
          "--discover found no worker on the LAN (is `suanli worker --announce` "
          "running, and multicast allowed?)");
  }
  o.objective = f.objective == "throughput" ? placement::Objective::kThroughput
                                            : placement::Objective::kLatency;
  if (!f.split.empty()) {
    SL_ASSIGN_OR_RETURN(o.split, ParseLayerCounts(f.split));
    if (o.split.size() != o.workers.size())
      return InvalidArgument("--split gives " + std::to_string(o.split.size()) +
                             " layer counts for " + std::to_string(o.workers.size()) + " workers");
  }
  auto act = placement::ParseActFormat(f.act);
  if (!act) return InvalidArgument("--act: '" + f.act + "' is not one of f32, f16, q8_0");
  o.act = *act;
  o.n_ctx = n_ctx;
  o.max_seqs = max_seqs;
  o.max_batch = max_batch;
  SL_ASSIGN_OR_RETURN(o.cache_dir, CacheDir());
  SL_ASSIGN_OR_RETURN(b->pool_, cluster::Pool::Open(*l.model, o));
  return b;
}

std::unique_ptr<Sequence> Backend::NewSequence() {
  if (pool_) return pool_->NewSequence();
  return std::make_unique<Session>(*model_, *threads_, n_ctx_, max_batch_);
}

std::string Backend::Describe() const {
  if (pool_) {
    size_t stages = 0;
    for (const auto& p : pool_->plan().pipelines) stages += p.stages.size();
    return "pool: " + std::to_string(stages) + " stage(s) in " +
           std::to_string(pool_->plan().pipelines.size()) + " pipeline(s)";
  }
  return "threads: " + std::to_string(n_threads_);
}

}  // namespace suanli::cli
