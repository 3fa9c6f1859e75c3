// The head of a pool: turns a list of worker addresses into running pipelines.
//
// Open() greets every worker (Hello: its profile and proof of the pool token), measures every
// link (head→worker with Pings, worker→worker with ProbePeer), plans the placement
// (src/placement), prints it, loads each stage (streaming the weights a worker lacks), and opens
// each pipeline's streams. A worker that is unreachable, rejects the token, fails its proof or
// cannot load its layers is reported and left out, and the placement is made again without it.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "cluster/device_profile.h"
#include "cluster/link_probe.h"
#include "cluster/pipeline_client.h"
#include "cluster/stage_weights.h"
#include "cluster/transport.h"
#include "model/model.h"
#include "suanli/placement.h"

namespace suanli::cluster {

struct PoolOptions {
  std::vector<std::string> workers;  // host:port
  SecurityOptions security;
  // How the head reaches workers; null: the network (GrpcTransport with `security`).
  std::shared_ptr<Transport> transport;
  placement::Objective objective = placement::Objective::kLatency;
  std::vector<int64_t> split;  // forced layer counts per worker (in `workers` order)
  placement::ActFormat act = placement::ActFormat::kF16;
  int64_t n_ctx = 4096;     // positions one sequence may use
  int64_t max_seqs = 1;     // sequences in flight at once (per pipeline)
  int64_t max_batch = 512;  // rows (tokens) per batch
  int64_t kv_tokens = 0;    // each pipeline's KV pool; 0: max_seqs · n_ctx
  std::string cache_dir;    // the head's hash cache
  double min_battery = 0.2;
  double detect_seconds = 2;     // a worker that froze, died or is cut off is noticed within this
  double recovery_seconds = 30;  // re-placing a lost worker's layers gives up after this
  bool quiet = false;            // no progress lines (the placement is still printed)
  // Candidates for joining while the pool runs (discovery), asked every find_every_seconds by
  // Rejoin; each must authenticate like any worker. Null: only the listed workers (those down
  // at Open are tried again every 10 s).
  std::function<std::vector<std::string>()> find_workers;
  double find_every_seconds = 10;
  // Heartbeats, detection, recovery timeouts and re-placement intervals (tests: virtual time).
  const Clock* clock = &Clock::Real();
};

struct PoolWorker {
  std::string address;
  DeviceProfile profile;
  std::shared_ptr<Channel> channel;
  // From the handshake (session.h); renewed by Greet. session and lost change while pipelines
  // run (Recover, Rejoin): read them through Pool, under its workers_mu_.
  std::shared_ptr<ClientSession> session;
  LinkMeasurement link;  // head → worker
  // Measured compute time over what its profile predicts (live timings; 2: twice as slow), and
  // the first such measurement (the cost model's error for this model on this device, before any
  // drift). 0: not measured yet (planning then assumes the other workers' mean baseline).
  double speed_scale = 0;
  double baseline_scale = 0;
  bool lost = false;  // found dead, frozen or cut off; not placed on until it answers again
  std::chrono::steady_clock::time_point last_greet;  // Rejoin's last try
};

// What the pool did that a dashboard shows: kind "recovery", "placement" or "device".
struct PoolEvent {
  std::string kind;
  std::string message;
};

class Pool {
 public:
  // `model` is the head's copy of the GGUF (only its metadata is needed, plus the tensors it
  // streams to workers that lack them).
  static StatusOr<std::unique_ptr<Pool>> Open(const Model& model, const PoolOptions& opts);
  ~Pool();

  // The running pipelines, in the plan's order (plan().pipelines[i] describes pipeline i).
  size_t pipelines() const { return pipelines_.size(); }
  PipelineClient& pipeline(size_t i) { return *pipelines_[i].client; }
  // Workers of pipeline i, first stage first.
  std::vector<const PoolWorker*> pipeline_workers(size_t i) const;
  int64_t kv_blocks() const { return kv_blocks_; }
  const HParams& model_hparams() const { return hp_; }
  const PoolOptions& options() const { return opts_; }
  // The pool's workers, placed or not (any thread: Join adds to the end, nothing is removed
  // once the pool runs).
  size_t worker_count() const { return n_workers_.load(std::memory_order_acquire); }
  const PoolWorker& worker(size_t i) const { return workers_[i]; }
  bool worker_lost(size_t i) const { return Lost(static_cast<int>(i)); }
  static constexpr size_t kMaxWorkers = 256;

  // A copy: Recover may change it from another thread.
  placement::Plan plan() const {
    std::lock_guard<std::mutex> lock(mu_);
    return plan_;
  }
  // Whether pipeline i runs (not broken, not being recovered).
  bool pipeline_up(size_t i) const;
  const placement::Cluster& cluster() const { return cluster_; }
  // Predicted per-token latency of one stream (seconds): the plan's, corrected by the live
  // timings of its stages once there are some (Calibrate).
  double predicted_latency() const;
  // Live timings: the stage times of a one-token batch through pipeline i (cheap; any thread).
  void Observe(size_t i, const std::vector<double>& stage_seconds);
  // Corrects the profiles of pipeline i's workers from the timings observed since the last call
  // (at least 8 batches). When a plan with the corrected speeds is faster by more than 15%
  // (never for a forced --split, nor within 5 s of the pipeline's last placement), breaks the
  // pipeline on purpose so the runtime recovers it (Recover places it again) and returns why.
  // Empty: kept.
  std::string Calibrate(size_t i);
  // Recoveries, re-placements, workers leaving or coming back since the last call (at most 100).
  std::vector<PoolEvent> TakeEvents();
  // Pipeline i broke (a lost worker): closes it and places its layers again on the workers not
  // lost and not in another pipeline — a lost one that answers again counts — with empty KV
  // caches, retrying until timeout_seconds. kUnavailable when nothing can hold the model by then.
  // Not thread-safe with other calls on the same pipeline.
  Status Recover(size_t i, double timeout_seconds);
  double last_recovery_seconds() const { return recovered_seconds_; }
  // Greets each lost worker again (each at most every 5 s, within the detection time): one that
  // answers (thawed, restarted at its address, its link back) is placeable once more, so the
  // next Calibrate may move layers onto it while requests run. Returns how many came back.
  // Also hands a newer revocation list (pool revoke while the head runs) to every worker, so
  // they refuse the revoked device as a head or a previous stage too.
  // Also tries the listed workers that were down at Open (each every 10 s) and asks
  // find_workers for new candidates (every find_every_seconds), joining those that answer.
  int Rejoin();
  // Admits a worker the pool has not met (started after the head, or found by discovery): the
  // handshake, its profile, its links to the head and to every other worker, both ways. It is
  // placeable from then on: Recover may use it, and the next Calibrate moves layers onto it when
  // that is faster (no request is interrupted for it otherwise). A known address: Ok, nothing
  // done. Not thread-safe with itself (Rejoin calls it).
  Status Join(const std::string& address);
  void Close();

 private:
  Pool() = default;
  Status Connect();
  // Dials, authenticates and profiles one worker, measuring the link from the head.
  StatusOr<PoolWorker> Meet(const std::string& address, double handshake_seconds) const;
  Status MeasureLinks();
  // Worker `from` measures its link to `to` (ProbePeer); unusable (10 s, 1 B/s) when it fails.
  LinkMeasurement PeerLink(size_t from, const std::string& to) const;
  void AddWorker(PoolWorker w);  // publishes it (worker_count) once it is complete
  // usable[i] false: worker i takes no layers (empty: all may).
  StatusOr<placement::Plan> MakePlan(const Model& model, const std::vector<bool>& usable,
                                     placement::Objective objective,
                                     const std::vector<int64_t>& split);
  struct Running;
  // Loads the plan's stages; on a worker's failure returns its index in *failed.
  Status LoadStages(const Model& model, int* failed);
  StatusOr<Running> LoadPipeline(const Model& model, const placement::Pipeline& p, int* failed);
  bool Greet(size_t wi);  // a new handshake, within the detection time
  std::shared_ptr<ClientSession> SessionOf(int wi) const;
  bool Lost(int wi) const;
  void SetLost(int wi, bool lost);
  // Workers pipeline i may be placed on: not lost, not in another pipeline.
  std::vector<bool> UsableFor(size_t i) const;
  double ShortDeadline() const;  // calls to a worker that may be lost: the detection time
  // Unloads (worker index, pipeline) stages, all at once, each call bounded by the detection
  // time; returns once all answered or after wait_seconds, leaving the calls to workers that did
  // not answer yet to finish in the background (joined by Close).
  void Unload(const std::vector<std::pair<int, PipelineKey>>& stages, double wait_seconds);
  std::mutex unload_mu_;
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> unloading_;  // done?

  PoolOptions opts_;
  std::shared_ptr<Credentials> creds_;  // from opts_.security
  uint64_t crl_handed_ = 0;             // the revocation list every worker was given (Rejoin)
  std::string model_sha256_;
  StageDigests digests_;  // of the head's file: what every stage's bytes must hash to
  // kMaxWorkers slots, the first worker_count() in use: a join never moves the others, which
  // other threads read by index and through pipeline_workers' pointers.
  std::vector<PoolWorker> workers_;
  std::atomic<size_t> n_workers_{0};
  // Listed addresses that could not be used at Open, with when each was last tried (Rejoin).
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> absent_;
  std::chrono::steady_clock::time_point last_find_{};
  std::deque<std::string> refused_;  // candidates that failed the handshake (the last 64)
  std::vector<std::vector<LinkMeasurement>> peer_links_;  // [i][j]: worker i → worker j
  placement::Cluster cluster_;
  placement::Plan plan_;
  struct Running {
    std::shared_ptr<PipelineClient> client;
    std::vector<int> workers;        // indices into workers_
    std::vector<double> plan_scale;  // each stage's speed_scale when the plan was made
    std::chrono::steady_clock::time_point placed_at;
    // Observe → Calibrate (under calib_mu_, like the two below).
    std::vector<double> observed;  // summed stage seconds of one-token batches
    int n_observed = 0;
    double corrected_latency = 0;  // the plan's latency with the measured stage times; 0: none
    // What Calibrate last planned with (workers' planning scales, which were free).
    std::vector<double> checked_scales;
    std::vector<bool> checked_usable;
  };
  std::vector<Running> pipelines_;
  int64_t kv_blocks_ = 0;
  HParams hp_;
  const Model* model_ = nullptr;  // outlives the pool (the runtime holds it)
  // Guards plan_ and pipelines_[i] against readers on other threads while Recover swaps them.
  mutable std::mutex mu_;
  mutable std::mutex calib_mu_;    // Running::observed, n_observed, corrected_latency
  mutable std::mutex workers_mu_;  // PoolWorker::session, lost, last_greet
  std::mutex planning_mu_;         // MakePlan rebuilds cluster_; Join grows peer_links_
  std::mutex events_mu_;
  std::deque<PoolEvent> events_;
  void AddEvent(std::string kind, std::string message);
  double PlanningScale(size_t worker) const;  // speed_scale, or the others' mean baseline
  double recovered_seconds_ = 0;
};

// A placement device from a worker's profile (decode speed from the measured matvec rate of the
// model's main tensor type when the profile has it, else memory bandwidth).
placement::Device DeviceFromProfile(const DeviceProfile& p, const std::string& name,
                                    const std::string& main_type);

// Workers on one host each report the host's whole free memory; this splits it evenly among the
// devices with the same non-empty host id (devices[i] ↔ host_ids[i]).
void ShareHostMemory(std::vector<placement::Device>& devices,
                     const std::vector<std::string>& host_ids);

}  // namespace suanli::cluster
