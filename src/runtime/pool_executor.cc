#include "runtime/pool_executor.h"

#include <algorithm>

namespace suanli::runtime {

PoolExecutor::PoolExecutor(std::unique_ptr<cluster::Pool> pool) : pool_(std::move(pool)) {
  for (size_t i = 0; i < pool_->pipelines(); ++i) {
    info_.push_back(MakeLaneInfo(i));
    live_.push_back(std::make_unique<Live>());
  }
  calibrator_ = std::thread([this] { Calibrate(); });
}

void PoolExecutor::Calibrate() {
  std::unique_lock<std::mutex> lock(calibrator_mu_);
  while (!stopping_) {
    calibrator_cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    lock.unlock();
    // Lost workers that answer again become placeable; Calibrate below then moves layers onto
    // them when that is faster (a join at a safe point, without waiting for a failure).
    (void)pool_->Rejoin();
    for (size_t i = 0; i < pool_->pipelines(); ++i) {
      if (!pool_->pipeline_up(i)) continue;
      // A re-placement: the scheduler replays the sequences on it, as after a lost worker.
      (void)pool_->Calibrate(i);
    }
    lock.lock();
  }
}

LaneInfo PoolExecutor::MakeLaneInfo(size_t i) const {
  const cluster::PoolOptions& o = pool_->options();
  const placement::Plan plan = pool_->plan();
  const placement::Pipeline& p = plan.pipelines[i];
  {
    LaneInfo l;
    l.name = "pipeline " + std::to_string(i + 1) + " (" + std::to_string(p.stages.size()) +
             " stage" + (p.stages.size() == 1 ? "" : "s") + ")";
    l.n_blocks = pool_->kv_blocks();
    // As every worker lays out its stage's pool (cluster/worker.cc).
    l.kv = KvLayoutFor(pool_->model_hparams(), l.n_blocks, o.n_ctx, o.max_seqs, o.max_batch);
    l.max_batch = o.max_batch;
    l.max_seqs = o.max_seqs;
    l.depth = static_cast<int>(p.stages.size());
    l.tokens_per_second = p.tokens_per_second();
    // Results are one message each: keep a batch's logits within 32 MiB.
    l.max_logits_rows =
        std::max<int64_t>(1, (int64_t{32} << 20) / (4 * pool_->model_hparams().n_vocab));
    return l;
  }
}

Status PoolExecutor::Recover(int lane, const Status& why) {
  (void)why;
  Status s = pool_->Recover(static_cast<size_t>(lane), pool_->options().recovery_seconds);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(live_[static_cast<size_t>(lane)]->mu);
    live_[static_cast<size_t>(lane)]->stage_seconds.clear();  // the stages changed
  }
  return s;
}

std::vector<ExecutorEvent> PoolExecutor::TakeEvents() {
  std::vector<ExecutorEvent> out;
  for (cluster::PoolEvent& e : pool_->TakeEvents())
    out.push_back({std::move(e.kind), std::move(e.message)});
  return out;
}

void PoolExecutor::RefreshLane(int lane) {
  info_[static_cast<size_t>(lane)] = MakeLaneInfo(static_cast<size_t>(lane));
}

PoolExecutor::~PoolExecutor() { Shutdown(); }

void PoolExecutor::Submit(int lane, StepBatch batch, std::function<void(StepOutput)> done) {
  uint64_t rows = 0;
  for (const SeqStep& s : batch.steps) rows += s.tokens.size();
  Live* live = live_[static_cast<size_t>(lane)].get();
  cluster::Pool* pool = pool_.get();
  pool_->pipeline(static_cast<size_t>(lane))
      .Send(batch, [live, rows, pool, lane, done = std::move(done)](StepOutput out) {
        // One token of one stream: what the placement predicts each stage's time for.
        if (rows == 1 && out.status.ok())
          pool->Observe(static_cast<size_t>(lane), out.stage_seconds);
        {
          std::lock_guard<std::mutex> lock(live->mu);
          if (live->stage_seconds.size() < out.stage_seconds.size())
            live->stage_seconds.resize(out.stage_seconds.size());
          for (size_t i = 0; i < out.stage_seconds.size(); ++i)
            live->stage_seconds[i] += out.stage_seconds[i];
          if (out.status.ok()) live->tokens += rows;
        }
        done(std::move(out));
      });
}

void PoolExecutor::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(calibrator_mu_);
    stopping_ = true;
  }
  calibrator_cv_.notify_all();
  if (calibrator_.joinable()) calibrator_.join();
  if (pool_) pool_->Close();
}

namespace {

// What a worker's profile says of it.
DeviceState FromWorker(const cluster::PoolWorker& w, const char* role, int lane) {
  DeviceState d;
  d.name = w.address;
  d.role = role;
  d.lane = lane;
  d.total_memory_bytes = w.profile.total_ram_bytes;
  d.battery = w.profile.battery.present ? w.profile.battery.level : -1;
  d.charging = w.profile.battery.charging;
  d.throttled = w.profile.thermal.throttled;
  d.cpu = w.profile.cpu_model;
  d.threads = w.profile.threads;
  return d;
}

}  // namespace

std::vector<DeviceState> PoolExecutor::Devices() const {
  std::vector<DeviceState> out;
  const placement::Plan& plan = pool_->plan();
  for (size_t i = 0; i < pool_->pipelines() && i < plan.pipelines.size(); ++i) {
    const auto workers = pool_->pipeline_workers(i);
    const placement::Pipeline& p = plan.pipelines[i];
    for (size_t s = 0; s < p.stages.size() && s < workers.size(); ++s) {
      DeviceState d = FromWorker(*workers[s], "worker", static_cast<int>(i));
      d.first_layer = p.stages[s].first_layer;
      d.last_layer = p.stages[s].last_layer;
      d.memory_bytes = p.stages[s].memory_bytes;
      d.up = pool_->pipeline_up(i);
      {
        std::lock_guard<std::mutex> lock(live_[i]->mu);
        if (s < live_[i]->stage_seconds.size()) d.busy_seconds = live_[i]->stage_seconds[s];
        d.tokens = live_[i]->tokens;
      }
      out.push_back(d);
    }
  }
  // The rest of the pool: joined, back after a loss, or left out by the placement.
  std::vector<bool> placed(pool_->worker_count(), false);
  for (size_t i = 0; i < pool_->pipelines(); ++i)
    for (const cluster::PoolWorker* w : pool_->pipeline_workers(i))
      for (size_t k = 0; k < placed.size(); ++k) placed[k] = placed[k] || &pool_->worker(k) == w;
  for (size_t k = 0; k < placed.size(); ++k) {
    if (placed[k]) continue;
    DeviceState d = FromWorker(pool_->worker(k), "spare", -1);
    d.up = !pool_->worker_lost(k);
    out.push_back(d);
  }
  return out;
}

}  // namespace suanli::runtime
