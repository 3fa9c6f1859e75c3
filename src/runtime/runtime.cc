#include "runtime/runtime.h"

#include <algorithm>
#include <cstdio>

#include "base/thread_pool.h"
#include "base/timer.h"
#include "cluster/discovery.h"
#include "cluster/head.h"
#include "model/default_model.h"
#include "model/footprint.h"
#include "runtime/local_executor.h"
#include "runtime/pool_executor.h"

namespace suanli::runtime {

StatusOr<LoadedModel> LoadModel(const ModelOptions& o, bool bind_weights) {
  LoadedModel l;
  const double t0 = NowSeconds();
  std::string path = o.path;
  if (path.empty()) {
    SL_ASSIGN_OR_RETURN(path, EnsureDefaultModel());
  }
  BindOptions bind;
  if (!bind_weights) bind = BindOptions{0, 0, false, false};  // a pool's head: metadata only
  SL_ASSIGN_OR_RETURN(l.model, Model::Load(path, bind, bind_weights ? o.weights : LoadMode::kMmap));
  auto tok = Tokenizer::FromGguf(l.model->file());
  if (!tok.ok()) return tok.status().WithContext(path);
  l.tokenizer = std::move(*tok);
  if (l.tokenizer->n_vocab() != l.model->hparams().n_vocab)
    return InvalidArgument(path + ": the tokenizer has " + std::to_string(l.tokenizer->n_vocab()) +
                           " tokens but the model's vocabulary is " +
                           std::to_string(l.model->hparams().n_vocab));
  if (bind_weights && o.prefault) l.model->Prefault();
  l.load_seconds = NowSeconds() - t0;
  return l;
}

StatusOr<std::unique_ptr<Runtime>> Runtime::Open(const RuntimeOptions& o) {
  std::unique_ptr<Runtime> rt(new Runtime());
  rt->opts_ = o;
  if (o.max_seqs < 1 || o.max_seqs > 4096)
    return InvalidArgument("sequences at once must be 1..4096, not " + std::to_string(o.max_seqs));
  if (o.step_tokens < 1) return InvalidArgument("tokens per step must be at least 1");
  // A pool's head runs no layers: it needs the model's metadata and tokenizer only.
  SL_ASSIGN_OR_RETURN(rt->loaded_, LoadModel(o.model, /*bind_weights=*/!o.pool));
  const HParams& hp = rt->loaded_.model->hparams();
  rt->n_ctx_ = o.n_ctx > 0 ? o.n_ctx : std::min<int64_t>(hp.n_ctx_train, 4096);
  rt->threads_ = o.threads > 0 ? o.threads : ThreadPool::HardwareThreads();
  const int64_t kv_tokens = o.kv_tokens > 0 ? o.kv_tokens : o.max_seqs * rt->n_ctx_;
  if (kv_tokens < rt->n_ctx_)
    return InvalidArgument("a KV cache of " + std::to_string(kv_tokens) +
                           " positions cannot hold one sequence of " + std::to_string(rt->n_ctx_));
  // A batch holds every running sequence's decode token plus prompt chunks up to the budget.
  const int64_t max_batch = o.step_tokens + o.max_seqs;
  if (!o.pool) {
    rt->executor_ =
        std::make_unique<LocalExecutor>(*rt->loaded_.model, rt->threads_, rt->n_ctx_,
                                        KvBlocksFor(kv_tokens), max_batch, o.max_seqs, !o.swa_full);
  } else {
    const PoolOptions& p = *o.pool;
    cluster::PoolOptions po;
    po.workers = p.workers;
    if (p.discover) {
      SL_ASSIGN_OR_RETURN(auto found, cluster::DiscoverWorkers(p.discover_seconds));
      std::fprintf(stderr, "suanli: discovered %zu worker(s)\n", found.size());
      for (auto& a : found)
        if (std::find(po.workers.begin(), po.workers.end(), a) == po.workers.end())
          po.workers.push_back(a);
      if (po.workers.empty())
        return NotFound(
            "discovery found no worker on the LAN (is `suanli worker --announce` running, and "
            "multicast allowed?)");
    }
    if (!p.split.empty() && p.split.size() != po.workers.size())
      return InvalidArgument("the split gives " + std::to_string(p.split.size()) +
                             " layer counts for " + std::to_string(po.workers.size()) + " workers");
    if (p.discover) {
      // Workers announced later join while the pool runs (they must authenticate like any).
      const double window = std::min(p.discover_seconds, 0.5);
      po.find_workers = [window] {
        auto found = cluster::DiscoverWorkers(window);
        return found.ok() ? *found : std::vector<std::string>{};
      };
    }
    po.security = p.security;
    po.transport = p.transport;
    po.clock = p.clock;
    po.objective = p.objective;
    po.split = p.split;
    po.act = p.act;
    po.detect_seconds = p.detect_seconds;
    po.recovery_seconds = p.recovery_seconds;
    po.n_ctx = rt->n_ctx_;
    po.max_seqs = o.max_seqs;
    po.max_batch = max_batch;
    po.kv_tokens = kv_tokens;
    SL_ASSIGN_OR_RETURN(po.cache_dir, CacheDir());
    SL_ASSIGN_OR_RETURN(auto pool, cluster::Pool::Open(*rt->loaded_.model, po));
    rt->pool_ = pool.get();
    rt->executor_ = std::make_unique<PoolExecutor>(std::move(pool));
  }
  SchedulerOptions so;
  so.n_ctx = rt->n_ctx_;
  so.step_tokens = o.step_tokens;
  so.keys_per_token = AttentionKeysPerToken(hp);
  so.max_queue = o.max_queue;
  so.prefix_cache = o.prefix_cache;
  rt->scheduler_ = std::make_unique<Scheduler>(*rt->executor_, *rt->loaded_.tokenizer, so);
  return rt;
}

Runtime::~Runtime() { Shutdown(0); }

void Runtime::Shutdown(double grace_seconds) {
  if (scheduler_) scheduler_->Shutdown(grace_seconds);
  if (executor_) executor_->Shutdown();
}

std::string Runtime::Describe() const {
  if (pool_) {
    size_t stages = 0;
    for (const auto& p : pool_->plan().pipelines) stages += p.stages.size();
    return "pool: " + std::to_string(stages) + " stage(s) in " +
           std::to_string(pool_->plan().pipelines.size()) + " pipeline(s)";
  }
  return "threads: " + std::to_string(threads_);
}

}  // namespace suanli::runtime
