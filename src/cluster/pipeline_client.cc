#include "cluster/pipeline_client.h"

#include "base/check.h"
#include "base/progress.h"
#include "cluster/batch_codec.h"

namespace suanli::cluster {

PipelineClient::PipelineClient(PipelineKey key, std::vector<StageLink> stages, Shape shape)
    : key_(std::move(key)), stages_(std::move(stages)), shape_(shape) {
  SL_CHECK(!stages_.empty());
  for (const StageLink& l : stages_) SL_CHECK(l.session != nullptr);
  for (const StageLink& l : stages_) SL_CHECK(l.channel != nullptr);
  first_name_ = stages_.front().name;
  last_name_ = stages_.back().name;
}

PipelineClient::~PipelineClient() { Close(); }

Status PipelineClient::Start() {
  v1::ResultsRequest rr;
  rr.set_pipeline_id(key_.id);
  rr.set_capability(key_.capability);
  results_ = stages_.back().channel->Open("Results", stages_.back().session->Sign("Results"));
  (void)results_->Write(rr);
  (void)results_->WritesDone();
  // The last stage sends its headers once it listens for this pipeline's results; wait for them
  // so a batch cannot reach the last stage before the head listens.
  (void)results_->WaitForHeaders();
  forward_ = stages_.front().channel->Open("Forward", stages_.front().session->Sign("Forward"));
  {
    // Attach: a message with nothing to compute names the pipeline, so every stage knows at once
    // that a Forward feeds it (an idle stage is not freed as abandoned after the worker's
    // --stage-timeout) and a graceful Close reaches the last stage even if nothing was sent.
    v1::Batch attach;
    attach.set_attach(true);
    attach.set_pipeline_id(key_.id);
    attach.set_capability(key_.capability);
    std::lock_guard<std::mutex> wlock(write_mu_);
    (void)forward_->Write(attach);  // a dead stream shows on the first Send or heartbeat
    sent_first_ = true;
  }
  reader_ = std::thread([this] { ReadResults(); });
  watchdog_ = std::thread([this] { Watchdog(); });
  if (shape_.detect_seconds > 0) heartbeat_ = std::thread([this] { Heartbeat(); });
  return Status::Ok();
}

double PipelineClient::detect_seconds() const {
  std::lock_guard<std::mutex> lock(pending_mu_);
  return detected_after_;
}

int PipelineClient::lost_stage() const {
  std::lock_guard<std::mutex> lock(pending_mu_);
  return lost_stage_;
}

Status PipelineClient::FirstLost(double seconds) {
  for (size_t i = 0; i < stages_.size(); ++i) {
    Status s = CheckOneStage(i, seconds);
    if (s.ok()) continue;
    // The stages after a break wind down once it happened, and one may be seen gone before the
    // break's own end answers: look upstream again for the cause.
    size_t at = i;
    for (size_t j = 0; j < i; ++j)
      if (Status t = CheckOneStage(j, seconds); !t.ok()) {
        s = t;
        at = j;
        break;
      }
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (lost_stage_ < 0) lost_stage_ = static_cast<int>(at);
    return s;
  }
  return Status::Ok();
}

Status PipelineClient::CheckStage(size_t i, double seconds) {
  Status s = CheckOneStage(i, seconds);
  if (!s.ok()) {
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (lost_stage_ < 0) lost_stage_ = static_cast<int>(i);
  }
  return s;
}

Status PipelineClient::CheckOneStage(size_t i, double seconds) {
  const std::string who = stages_[i].name + " (stage " + std::to_string(i + 1) + " of " +
                          std::to_string(stages_.size()) + ")";
  if (const auto& c = shape_.credentials) {
    c->Refresh();  // a stat at most once a second
    const std::string& serial = stages_[i].session->peer_serial();
    if (!serial.empty() && c->Revoked(serial))
      return Unavailable(who + ": its certificate was revoked (pool revoke)");
  }
  v1::StageHealthRequest req;
  req.set_pipeline_id(key_.id);
  req.set_capability(key_.capability);
  v1::StageHealthReply reply;
  const Status s = stages_[i].channel->Call(
      "StageHealth", stages_[i].session->Sign("StageHealth", seconds), req, &reply);
  if (!s.ok()) {
    if (s.code() == StatusCode::kDeadlineExceeded)
      return Unavailable(who + " did not answer its heartbeat within " + HumanDuration(seconds) +
                         ": it froze or is cut off");
    return s.WithContext(who).WithContext("heartbeat");
  }
  switch (reply.state()) {
    case v1::StageHealthReply::OK:
      return Status::Ok();
    case v1::StageHealthReply::NO_STAGE:
      if (!reply.message().empty() && i > 0)  // its input stopped: the link, not the worker
        return Unavailable("the link from " + stages_[i - 1].name + " (stage " + std::to_string(i) +
                           ") to " + who + " broke: " + reply.message().substr(0, 200));
      return Unavailable(who + " no longer holds its stage (it restarted or unloaded it)");
    case v1::StageHealthReply::DOWNSTREAM_FAILED: {
      // Lost its next stage: that worker itself, or the link between the two?
      if (i + 1 < stages_.size()) {
        Status next = CheckStage(i + 1, seconds);
        if (!next.ok()) return next;
      }
      return Unavailable(who + " lost its link to the next stage: " + reply.message());
    }
    case v1::StageHealthReply::DRAINING:
      return Unavailable(who + " is leaving (" + reply.message() + ")");
    default:
      return Unavailable(who + " answered its heartbeat with an unknown state");
  }
}

void PipelineClient::Heartbeat() {
  const double interval = shape_.detect_seconds / 4, deadline = shape_.detect_seconds / 2;
  const Clock& clock = *shape_.clock;
  auto last_good = clock.Now();
  std::unique_lock<std::mutex> lock(pending_mu_);
  while (!stop_watchdog_ && broken_.ok()) {
    clock.Await(pending_cv_, lock, clock.After(interval),
                [&] { return stop_watchdog_ || !broken_.ok(); });
    if (stop_watchdog_ || !broken_.ok()) break;
    lock.unlock();
    Status s = FirstLost(deadline);
    const auto now = clock.Now();
    if (closing_) {  // stages wind down on purpose
      lock.lock();
      break;
    }
    if (!s.ok()) {
      const double after = std::chrono::duration<double>(now - last_good).count();
      lock.lock();
      if (broken_.ok()) detected_after_ = after;
      lock.unlock();
      Break(Status(s.code(), s.message() + " (noticed " + HumanDuration(after) +
                                 " after its last good heartbeat)"));
      lock.lock();
      break;
    }
    last_good = now;
    lock.lock();
  }
}

Status PipelineClient::Diagnose(const Status& seen) {
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (!broken_.ok()) return seen;  // already explained
  }
  const double deadline = shape_.detect_seconds > 0 ? shape_.detect_seconds / 2 : 1.0;
  Status s = FirstLost(deadline);
  return s.ok() ? seen : s;
}

void PipelineClient::Break(const Status& why) {
  FailAll(why);
  if (results_) results_->Cancel();  // unblock the reader and the writer
  if (forward_) forward_->Cancel();
}

std::string PipelineClient::broken() const {
  std::lock_guard<std::mutex> lock(pending_mu_);
  return broken_.ok() ? "" : broken_.message();
}

void PipelineClient::ReadResults() {
  v1::BatchResult r;
  while (results_->Read(&r)) {
    Pending p;
    {
      std::lock_guard<std::mutex> lock(pending_mu_);
      auto it = pending_.find(r.batch_id());
      if (it == pending_.end()) continue;  // a batch nobody waits for (ignored)
      p = std::move(it->second);
      pending_.erase(it);
    }
    StepOutput out = OutputFromProto(std::move(r), p.batch, shape_.n_vocab);
    if (out.status.code() == StatusCode::kInternal)  // nonsense: name who said it
      out.status = out.status.WithContext(last_name_);
    p.done(std::move(out));
  }
  const Status s = results_->Finish();
  const Status seen = s.ok() ? Unavailable(last_name_ + " closed the results stream")
                             : s.WithContext("results from " + last_name_);
  FailAll(closing_ ? seen : Diagnose(seen));
}

void PipelineClient::Watchdog() {
  const Clock& clock = *shape_.clock;
  std::unique_lock<std::mutex> lock(pending_mu_);
  while (!stop_watchdog_) {
    clock.Await(pending_cv_, lock, clock.After(0.25), [&] { return stop_watchdog_; });
    const auto now = clock.Now();
    bool late = false;
    for (const auto& [id, p] : pending_) late = late || now > p.deadline;
    if (late && broken_.ok()) {
      lock.unlock();
      Break(DeadlineExceeded("no answer within the batch deadline (a worker is stuck or gone)"));
      lock.lock();
    }
  }
}

void PipelineClient::FailAll(const Status& why) {
  std::map<uint64_t, Pending> pending;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (broken_.ok()) broken_ = why.WithContext("pipeline " + key_.id);
    pending.swap(pending_);
  }
  for (auto& [id, p] : pending) {
    StepOutput out;
    out.id = id;
    out.status = broken_;
    p.done(std::move(out));
  }
}

void PipelineClient::Send(const StepBatch& batch, std::function<void(StepOutput)> done) {
  v1::Batch msg;
  BatchToProto(batch, &msg);
  int64_t tokens = 0;
  for (const SeqStep& s : batch.steps) tokens += static_cast<int64_t>(s.tokens.size());
  std::lock_guard<std::mutex> wlock(write_mu_);
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (!broken_.ok() || closed_) {
      StepOutput out;
      out.id = batch.id;
      out.status = !broken_.ok() ? broken_ : Unavailable("pipeline " + key_.id + ": closed");
      done(std::move(out));
      return;
    }
    Pending p;
    p.batch = batch;
    p.done = std::move(done);
    p.deadline =
        shape_.clock->After(shape_.batch_deadline_seconds + 0.5 * static_cast<double>(tokens));
    pending_.emplace(batch.id, std::move(p));
  }
  if (!sent_first_) {
    msg.set_pipeline_id(key_.id);
    msg.set_capability(key_.capability);
  }
  sent_first_ = true;
  if (!forward_->Write(msg))
    FailAll(Diagnose(Unavailable(first_name_ + " stopped accepting batches")));
}

void PipelineClient::Close() {
  closing_ = true;
  bool broken;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    broken = !broken_.ok();
  }
  {
    std::lock_guard<std::mutex> wlock(write_mu_);
    if (closed_ || !forward_) {
      closed_ = true;
    } else if (broken) {
      // Given up on (lost, revoked, or re-placed for speed): nothing to wait for, and a stage that
      // froze meanwhile would hold a graceful end for kCloseSeconds (the head's re-placement
      // with it). The stages end when their streams do.
      closed_ = true;
      forward_->Cancel();
      if (results_) results_->Cancel();
    } else {
      closed_ = true;
      v1::ForwardSummary summary;  // a frozen first stage: bounded
      (void)FinishWithin(*forward_, kCloseSeconds, /*writes_done=*/true, &summary);
    }
  }
  if (reader_.joinable()) {
    // The stages wind down once their upstream ends; the last one then ends the results stream.
    // Do not wait long for a stuck worker.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(pending_mu_);
        if (!broken_.ok()) break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        results_->Cancel();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    reader_.join();
  }
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    stop_watchdog_ = true;
  }
  pending_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (heartbeat_.joinable()) heartbeat_.join();
}

}  // namespace suanli::cluster
