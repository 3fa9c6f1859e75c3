// The head's side of a pipeline's data path: the Forward stream into the first stage (batches of
// token ids in) and the Results stream from the last stage (one BatchResult per batch out).
//
// Any number of batches may be in flight; they are answered in order, matched by id. Every batch
// has a deadline: one without an answer in time breaks the pipeline (the streams are cancelled and
// every pending batch fails with kDeadlineExceeded), so a stuck worker can never hang the head.
// A heartbeat (StageHealth to every stage, every detect_seconds / 4, each answer due within
// detect_seconds / 2) notices a worker that froze, died, was cut off or lost its next stage
// within detect_seconds, breaks the pipeline with kUnavailable and names that worker.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "cluster/session.h"
#include "cluster/transport.h"
#include "engine/batch.h"
#include "suanli/cluster/v1/worker.pb.h"

namespace suanli::cluster {

class PipelineClient {
 public:
  struct Shape {
    int64_t n_vocab = 0;
    double batch_deadline_seconds = 60;  // plus 0.5 s per token of the batch
    double detect_seconds = 2;           // a lost worker is noticed within this; 0: no heartbeat
    // The head's credentials: a stage whose worker's certificate the pool revoked since (pool
    // revoke while the head runs) is lost at the next heartbeat. Null: not checked.
    std::shared_ptr<Credentials> credentials;
    // Heartbeats, detection times and batch deadlines (closing is bounded in real time).
    const Clock* clock = &Clock::Real();
  };
  // One stage's worker: its name in messages ("worker HOST:PORT"), its channel and session.
  struct StageLink {
    std::string name;
    std::shared_ptr<Channel> channel;
    std::shared_ptr<ClientSession> session;
  };
  // stages: first to last (at least one).
  PipelineClient(PipelineKey key, std::vector<StageLink> stages, Shape shape);
  ~PipelineClient();

  // Opens Results on the last stage, then Forward on the first.
  Status Start();
  // Sends a batch; `done` is called exactly once with its output (from the results thread, or
  // at once when the pipeline is already broken).
  void Send(const StepBatch& batch, std::function<void(StepOutput)> done);
  // Ends both streams; pending batches fail.
  void Close();
  // Breaks the pipeline on purpose (a re-placement): pending and later batches fail with `why`.
  void Interrupt(const Status& why) { Break(why); }

  const std::string& id() const { return key_.id; }
  const PipelineKey& key() const { return key_; }
  // Why the pipeline broke (empty while it works).
  std::string broken() const;
  // When the heartbeat noticed a lost worker: seconds from its last good answer to the break
  // (0 while the pipeline works or when something else broke it).
  double detect_seconds() const;
  // The stage (0-based) whose worker was found lost, or -1.
  int lost_stage() const;

 private:
  struct Pending {
    StepBatch batch;  // what was asked (to check the answer against)
    std::function<void(StepOutput)> done;
    std::chrono::steady_clock::time_point deadline;
  };
  void ReadResults();
  void Watchdog();
  void Heartbeat();
  // OK, or why the first lost stage is lost (records lost_stage_).
  Status FirstLost(double seconds);
  // OK, or why stage i is lost (one StageHealth call within `seconds`).
  Status CheckStage(size_t i, double seconds);  // records lost_stage_
  Status CheckOneStage(size_t i, double seconds);
  // A stream broke with `seen` (which names the stage at that end): the first lost stage's
  // reason when the heartbeat finds one, so a dead middle worker is not blamed on its neighbour.
  Status Diagnose(const Status& seen);
  void FailAll(const Status& why);
  void Break(const Status& why);  // FailAll and cancel both streams

  PipelineKey key_;
  std::vector<StageLink> stages_;
  Shape shape_;
  std::string first_name_, last_name_;
  std::thread heartbeat_;
  double detected_after_ = 0;  // under pending_mu_
  int lost_stage_ = -1;        // under pending_mu_

  std::mutex write_mu_;
  std::unique_ptr<ClientStream> forward_;  // Batch messages; a ForwardSummary back at the end
  bool sent_first_ = false;
  bool closed_ = false;
  std::atomic<bool> closing_{false};  // Close() began: streams end on purpose

  std::unique_ptr<ClientStream> results_;  // a ResultsRequest; BatchResult messages back
  std::thread reader_, watchdog_;

  mutable std::mutex pending_mu_;
  std::condition_variable pending_cv_;
  std::map<uint64_t, Pending> pending_;
  Status broken_;  // not OK once the pipeline broke
  bool stop_watchdog_ = false;
};

}  // namespace suanli::cluster
