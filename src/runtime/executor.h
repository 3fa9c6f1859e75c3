// Executor: where the scheduler's batches run — this device (local_executor.h) or a pool of
// workers (pool_executor.h). The scheduler sees only this interface.
//
// An executor has one or more lanes. A lane is an independent copy of the model with its own KV
// block pool: this device is one lane; each pipeline of a pool is one. Batches submitted to a lane
// run in submission order (so a sequence's prompt chunks may be in flight together), and up to
// `depth` of them may be in flight at once (a pipeline of k stages keeps k busy).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/batch.h"
#include "model/footprint.h"

namespace suanli::runtime {

struct LaneInfo {
  std::string name;                   // "this device", "pipeline 1 (3 workers)"
  int64_t n_blocks = 0;               // KV pool (model/footprint.h kKvBlockTokens positions each)
  // Where the executor keeps each layer's KV (its n_blocks is n_blocks): with rings for
  // sliding-window layers, sequences cannot share prefixes (their windows are in nobody's ring).
  KvLayout kv;
  int64_t max_batch = 512;            // rows (tokens) per batch
  int64_t max_seqs = 1;               // sequences per batch and with sampler state
  int depth = 1;                      // batches in flight
  int64_t max_logits_rows = 1 << 30;  // logits rows one batch may return (a message limit)
  double tokens_per_second = 0;       // expected decode speed of one stream (routing weight)
};

// Live figures of one device for the dashboard and the metrics.
struct DeviceState {
  std::string name;
  std::string role;  // "this device", "worker", or "spare" (a pool worker running no layers now)
  bool up = true;
  int64_t first_layer = 0, last_layer = 0;  // layers it runs [first, last)
  int lane = 0;                             // -1: a spare
  uint64_t memory_bytes = 0;                // weights + KV it holds for this job
  uint64_t total_memory_bytes = 0;
  double busy_seconds = 0;  // compute time so far
  uint64_t tokens = 0;      // rows computed so far
  double battery = -1;      // 0..1, -1 = mains
  bool charging = false;
  bool throttled = false;
  std::string cpu;
  int threads = 0;
};

// Something the dashboard shows: kind "recovery", "placement" or "device", and what happened.
struct ExecutorEvent {
  std::string kind;
  std::string message;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual int lanes() const = 0;
  virtual const LaneInfo& lane(int i) const = 0;
  // Runs `batch` on lane `lane`; `done` is called once with its output, from an executor thread.
  // After Shutdown, done reports kUnavailable at once.
  virtual void Submit(int lane, StepBatch batch, std::function<void(StepOutput)> done) = 0;
  virtual void Shutdown() = 0;
  virtual std::vector<DeviceState> Devices() const = 0;
  // Lane `lane` failed with a retryable `why` (a pool lost a worker): rebuild it — its KV pool
  // empty, the same number of blocks — blocking until it runs again or the executor gives up
  // (the error to end its sequences with). Called from a thread of the caller's, never while a
  // batch is being submitted to that lane. Default: this executor cannot.
  virtual Status Recover(int lane, const Status& why) {
    (void)lane;
    return why;
  }
  virtual bool CanRecover() const { return false; }
  // The lane's shape after a recovery (depth and speed may change; n_blocks does not).
  virtual void RefreshLane(int lane) { (void)lane; }
  // Events since the last call (a pool's recoveries, re-placements, workers leaving or back).
  virtual std::vector<ExecutorEvent> TakeEvents() { return {}; }
};

}  // namespace suanli::runtime
