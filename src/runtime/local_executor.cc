#include "runtime/local_executor.h"

#include "base/mapped_file.h"
#include "cluster/device_profile.h"
#include "model/footprint.h"

namespace suanli::runtime {

LocalExecutor::LocalExecutor(const Model& model, int threads, int64_t n_ctx, int64_t n_blocks,
                             int64_t max_batch, int64_t max_seqs, bool kv_ring)
    : model_(model), pool_(std::make_unique<ThreadPool>(threads)) {
  BatchRunnerConfig c;
  c.first_layer = 0;
  c.last_layer = model.hparams().n_layers;
  c.with_embedding = c.with_output = true;
  c.n_ctx = n_ctx;
  c.n_blocks = n_blocks;
  c.max_seqs = max_seqs;
  c.max_batch = max_batch;
  c.kv_ring = kv_ring;
  c.label = "this device";
  runner_ = std::make_unique<BatchRunner>(model, c, *pool_);
  info_.name = "this device";
  info_.n_blocks = n_blocks;
  info_.kv = runner_->cache().layout();
  info_.max_batch = max_batch;
  info_.max_seqs = max_seqs;
  info_.depth = 1;
  // What this device holds for the model: its tensors and the KV pool at full size.
  for (const GgufTensorInfo& t : model.file().tensors()) memory_bytes_ += t.size_bytes;
  memory_bytes_ += runner_->cache().bytes();
  if (auto text = ReadFileToString("/proc/meminfo"); text.ok()) {
    uint64_t avail = 0;
    (void)ParseMeminfo(*text, &total_memory_bytes_, &avail);
  }
  thread_ = std::thread([this] { Loop(); });
}

LocalExecutor::~LocalExecutor() { Shutdown(); }

void LocalExecutor::Submit(int, StepBatch batch, std::function<void(StepOutput)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stop_) {
      queue_.emplace_back(std::move(batch), std::move(done));
      cv_.notify_one();
      return;
    }
  }
  StepOutput out;
  out.id = batch.id;
  out.status = Unavailable("this device is shutting down");
  done(std::move(out));
}

void LocalExecutor::Loop() {
  for (;;) {
    std::pair<StepBatch, std::function<void(StepOutput)>> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    StepOutput out;
    runner_->Run(job.first, {}, {}, &out);
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_seconds_ += out.compute_seconds;
      for (const SeqStep& s : job.first.steps) rows_ += s.tokens.size();
    }
    job.second(std::move(out));
  }
}

void LocalExecutor::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();  // finishes the queued batches first
}

std::vector<DeviceState> LocalExecutor::Devices() const {
  DeviceState d;
  d.name = "this device";
  d.role = "this device";
  d.first_layer = 0;
  d.last_layer = model_.hparams().n_layers;
  d.threads = pool_->size();
  d.memory_bytes = memory_bytes_;
  d.total_memory_bytes = total_memory_bytes_;
  std::lock_guard<std::mutex> lock(mu_);
  d.busy_seconds = busy_seconds_;
  d.tokens = rows_;
  return {d};
}

}  // namespace suanli::runtime
