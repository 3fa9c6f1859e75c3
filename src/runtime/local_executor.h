// LocalExecutor: one lane on this device — the whole model in a BatchRunner, fed from a queue by
// one compute thread, so the scheduler keeps taking requests and streaming tokens while a batch
// computes.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "base/thread_pool.h"
#include "engine/batch_runner.h"
#include "model/model.h"
#include "runtime/executor.h"

namespace suanli::runtime {

class LocalExecutor : public Executor {
 public:
  // n_blocks: the KV pool; max_batch: rows per batch; max_seqs: sequences per batch.
  // kv_ring: sliding-window layers keep rings (BatchRunnerConfig::kv_ring).
  LocalExecutor(const Model& model, int threads, int64_t n_ctx, int64_t n_blocks, int64_t max_batch,
                int64_t max_seqs, bool kv_ring = true);
  ~LocalExecutor() override;

  int lanes() const override { return 1; }
  const LaneInfo& lane(int) const override { return info_; }
  void Submit(int lane, StepBatch batch, std::function<void(StepOutput)> done) override;
  void Shutdown() override;
  std::vector<DeviceState> Devices() const override;
  ThreadPool& threads() { return *pool_; }

 private:
  void Loop();

  const Model& model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<BatchRunner> runner_;
  LaneInfo info_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<StepBatch, std::function<void(StepOutput)>>> queue_;
  bool stop_ = false;
  double busy_seconds_ = 0;
  uint64_t rows_ = 0;
  uint64_t memory_bytes_ = 0, total_memory_bytes_ = 0;
  std::thread thread_;
};

}  // namespace suanli::runtime
