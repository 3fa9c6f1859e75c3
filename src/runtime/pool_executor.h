// PoolExecutor: lanes that are pipelines of workers (cluster/head.h places the model and loads the
// stages; each pipeline is one lane with its own KV pool on its workers). A batch goes to the
// pipeline's first stage and its answer comes from the last; a pipeline of k stages takes k
// batches in flight so every stage has work.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/head.h"
#include "runtime/executor.h"

namespace suanli::runtime {

class PoolExecutor : public Executor {
 public:
  explicit PoolExecutor(std::unique_ptr<cluster::Pool> pool);
  ~PoolExecutor() override;

  int lanes() const override { return static_cast<int>(info_.size()); }
  const LaneInfo& lane(int i) const override { return info_[static_cast<size_t>(i)]; }
  void Submit(int lane, StepBatch batch, std::function<void(StepOutput)> done) override;
  void Shutdown() override;
  std::vector<DeviceState> Devices() const override;
  Status Recover(int lane, const Status& why) override;
  bool CanRecover() const override { return true; }
  void RefreshLane(int lane) override;
  std::vector<ExecutorEvent> TakeEvents() override;
  cluster::Pool& pool() { return *pool_; }

 private:
  std::unique_ptr<cluster::Pool> pool_;
  std::vector<LaneInfo> info_;
  LaneInfo MakeLaneInfo(size_t i) const;
  struct Live {
    mutable std::mutex mu;
    std::vector<double> stage_seconds;  // compute time of each stage so far
    uint64_t tokens = 0;
  };
  std::vector<std::unique_ptr<Live>> live_;  // per lane
  // Every second: corrects the workers' profiles from live timings and re-places a pipeline
  // when a plan with them is faster by a margin (cluster::Pool::Calibrate).
  void Calibrate();
  std::thread calibrator_;
  std::mutex calibrator_mu_;
  std::condition_variable calibrator_cv_;
  bool stopping_ = false;
};

}  // namespace suanli::runtime
