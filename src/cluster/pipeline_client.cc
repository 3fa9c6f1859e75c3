#include "cluster/pipeline_client.h"

#include "cluster/batch_codec.h"

namespace suanli::cluster {

PipelineClient::PipelineClient(std::string id, std::shared_ptr<grpc::Channel> first,
                               std::shared_ptr<grpc::Channel> last, SecurityOptions sec,
                               Shape shape, std::string first_name, std::string last_name)
    : id_(std::move(id)),
      first_(v1::Worker::NewStub(first)),
      last_(v1::Worker::NewStub(last)),
      sec_(std::move(sec)),
      shape_(shape),
      first_name_(std::move(first_name)),
      last_name_(std::move(last_name)) {}

PipelineClient::~PipelineClient() { Close(); }

Status PipelineClient::Start() {
  PrepareContext(&results_ctx_, sec_, 0);
  v1::ResultsRequest rr;
  rr.set_pipeline_id(id_);
  results_ = last_->Results(&results_ctx_, rr);
  // The results stream is set up when its first message (or metadata) arrives; wait for the
  // server's initial metadata so a batch cannot reach the last stage before the head listens.
  results_->WaitForInitialMetadata();
  PrepareContext(&forward_ctx_, sec_, 0);
  forward_ = first_->Forward(&forward_ctx_, &forward_summary_);
  reader_ = std::thread([this] { ReadResults(); });
  watchdog_ = std::thread([this] { Watchdog(); });
  return Status::Ok();
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
    p.done(OutputFromProto(std::move(r), p.batch, shape_.n_vocab));
  }
  grpc::Status s = results_->Finish();
  FailAll(s.ok() ? Unavailable(last_name_ + " closed the results stream")
                 : FromGrpc(s, "results from " + last_name_));
}

void PipelineClient::Watchdog() {
  std::unique_lock<std::mutex> lock(pending_mu_);
  while (!stop_watchdog_) {
    pending_cv_.wait_for(lock, std::chrono::milliseconds(250));
    const auto now = std::chrono::steady_clock::now();
    bool late = false;
    for (const auto& [id, p] : pending_) late = late || now > p.deadline;
    if (late && broken_.ok()) {
      lock.unlock();
      FailAll(DeadlineExceeded("pipeline " + id_ +
                               ": no answer within the deadline (a worker is "
                               "stuck or gone)"));
      // Unblock the reader and the writer.
      results_ctx_.TryCancel();
      forward_ctx_.TryCancel();
      lock.lock();
    }
  }
}

void PipelineClient::FailAll(const Status& why) {
  std::map<uint64_t, Pending> pending;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (broken_.ok()) broken_ = why.WithContext("pipeline " + id_);
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
      out.status = !broken_.ok() ? broken_ : Unavailable("pipeline " + id_ + ": closed");
      done(std::move(out));
      return;
    }
    Pending p;
    p.batch = batch;
    p.done = std::move(done);
    p.deadline = std::chrono::steady_clock::now() +
                 std::chrono::milliseconds(static_cast<int64_t>(
                     1000 * (shape_.batch_deadline_seconds + 0.5 * static_cast<double>(tokens))));
    pending_.emplace(batch.id, std::move(p));
  }
  if (!sent_first_) msg.set_pipeline_id(id_);
  sent_first_ = true;
  if (!forward_->Write(msg)) FailAll(Unavailable(first_name_ + " stopped accepting batches"));
}

void PipelineClient::Close() {
  {
    std::lock_guard<std::mutex> wlock(write_mu_);
    if (closed_ || !forward_) {
      closed_ = true;
    } else {
      closed_ = true;
      forward_->WritesDone();
      (void)forward_->Finish();
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
        results_ctx_.TryCancel();
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
}

}  // namespace suanli::cluster
