// suanli worker: offers this device to a pool over gRPC (proto/suanli/cluster/v1/worker.proto).
//
// It profiles the device once at start (or reuses the cached profile), then serves stages: each
// LoadStage binds layers [first, last) of a model (mapped from --model-dir, or from weights the
// head streamed into the cache), and a compute thread runs the batches that arrive on the stage's
// Forward stream, one at a time, each one step of the head's scheduler (engine/batch_runner.h:
// the same code one device runs); the output goes to the next stage's Forward stream, or, on the
// last stage, as sampled tokens or logits to the head's Results stream.
//
// Limits against a hostile key holder: a stage answers only calls presenting its pipeline's
// capability; at most kMaxStages stages, whose weights, KV pools and buffers together stay within
// the memory the worker had at start; unfed stages expire; weights are checked against the
// loading head's digests (stage_weights.h).
#pragma once

#include <memory>
#include <string>

#include "base/clock.h"
#include "cluster/device_profile.h"
#include "cluster/transport.h"

namespace suanli::cluster {

struct WorkerOptions {
  std::string listen = "127.0.0.1:0";
  int threads = 0;  // 0: all cores
  std::string model_dir;
  std::string cache_dir;  // hash cache, streamed weights (and the profile, by default)
  // The device profile describes the host, not this worker: workers with cache directories of
  // their own share it here (empty: cache_dir).
  std::string profile_cache_dir;
  SecurityOptions security;
  // How the worker listens and reaches its next stage; null: the network (GrpcTransport).
  std::shared_ptr<Transport> transport;
  // Sessions' ages, unfed stages' timeout, the battery and heat checks, the emulated throttle's
  // onset and the drain's wait (tests: ManualClock, with the FakeNetwork on the same clock).
  const Clock* clock = &Clock::Real();
  ProfileOptions profile;
  double profile_max_age_s = 7 * 24 * 3600;
  std::string name;  // shown in the head's placement; default host:port
  // Emulating a slower, smaller device on this one (benchmarks of placement on heterogeneous
  // sets; the worker says so in its log): compute takes `slowdown` times as long (the worker
  // waits the difference before it answers each batch, and reports the longer time) and the
  // profile's speeds are divided by it; memory_bytes > 0 caps the memory the profile reports and
  // LoadStage allows.
  double emulate_slowdown = 1.0;
  uint64_t emulate_memory_bytes = 0;
  // A device that gets busy (benchmarks and tests of straggler handling): after
  // throttle_after_seconds, compute takes emulate_throttle times longer still, and the profile
  // does not say so.
  double emulate_throttle = 1.0;
  double emulate_throttle_after_seconds = 0;
  // A stage no Forward stream attaches to within this long of its LoadStage is freed (a head
  // that never came back, or one loading stages it does not use).
  double stage_timeout_seconds = 60;
  uint64_t cache_quota_bytes = 0;  // streamed weights on disk; 0: free space less 1 GiB
  // Leave the pool (drain, then stop) when the battery is below this fraction and discharging,
  // or the hottest thermal zone reaches this temperature (0: never). Read every 5 s.
  double leave_battery = 0;
  double leave_temp_c = 0;
  double drain_seconds = 30;  // how long a drain waits for the head to move the stages
};

class WorkerServer {
 public:
  // Profiles the device, scans --model-dir and starts serving. Errors: the address cannot be
  // bound, bad TLS files, an unreadable model directory.
  static StatusOr<std::unique_ptr<WorkerServer>> Start(const WorkerOptions& opts);
  ~WorkerServer();

  const std::string& address() const;  // host:port actually bound
  // Returns when the server stopped (Shutdown, or a drain the battery or heat started).
  void Wait();
  // Leaving: heartbeats answer DRAINING, so heads move this worker's layers elsewhere and end
  // its stages; no new handshakes or stages are taken. Returns when no stage is left, or after
  // opts.drain_seconds (then the rest end with the shutdown). `why` goes to the log and heads.
  void Drain(const std::string& why);
  // The drain in progress stops waiting (a second signal).
  void EndDrain();
  // Asks the process to leave: WaitForLeave returns `why` (the first one asked).
  void RequestLeave(const std::string& why);
  std::string WaitForLeave();
  void Shutdown();

  struct Impl;

 private:
  explicit WorkerServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace suanli::cluster
