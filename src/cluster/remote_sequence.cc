#include "cluster/remote_sequence.h"

#include <algorithm>
#include <chrono>

#include "cluster/stage_runner.h"

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
  // server's initial metadata so a step cannot reach the last stage before the head listens.
  results_->WaitForInitialMetadata();
  PrepareContext(&forward_ctx_, sec_, 0);
  forward_ = first_->Forward(&forward_ctx_, &forward_summary_);
  reader_ = std::thread([this] { ReadResults(); });
  return Status::Ok();
}

void PipelineClient::ReadResults() {
  v1::StepResult r;
  while (results_->Read(&r)) {
    std::promise<StatusOr<v1::StepResult>> p;
    {
      std::lock_guard<std::mutex> lock(pending_mu_);
      auto it = pending_.find(r.step_id());
      if (it == pending_.end()) continue;  // a step nobody waits for (ignored)
      p = std::move(it->second);
      pending_.erase(it);
    }
    p.set_value(std::move(r));
  }
  grpc::Status s = results_->Finish();
  FailAll(s.ok() ? last_name_ + " closed the results stream"
                 : FromGrpc(s, "results from " + last_name_).message());
}

void PipelineClient::FailAll(const std::string& why) {
  std::map<uint64_t, std::promise<StatusOr<v1::StepResult>>> pending;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (broken_.empty()) broken_ = why;
    pending.swap(pending_);
  }
  for (auto& [id, p] : pending) p.set_value(IoError("pipeline " + id_ + ": " + why));
}

std::future<StatusOr<v1::StepResult>> PipelineClient::Send(v1::StepRequest req, bool want_result) {
  std::promise<StatusOr<v1::StepResult>> p;
  auto f = p.get_future();
  std::lock_guard<std::mutex> wlock(write_mu_);
  uint64_t step = 0;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (!broken_.empty() || closed_) {
      p.set_value(IoError("pipeline " + id_ + ": " + (broken_.empty() ? "closed" : broken_)));
      return f;
    }
    step = next_step_++;
    if (want_result) pending_.emplace(step, std::move(p));
  }
  req.set_step_id(step);
  if (!sent_first_) req.set_pipeline_id(id_);
  sent_first_ = true;
  if (!forward_->Write(req)) FailAll(first_name_ + " stopped accepting steps");
  return f;
}

void PipelineClient::Close() {
  {
    std::lock_guard<std::mutex> wlock(write_mu_);
    if (closed_ || !forward_) {
      closed_ = true;
      return;
    }
    closed_ = true;
    forward_->WritesDone();
    (void)forward_->Finish();
  }
  // The stages wind down once their upstream ends; the last one then ends the results stream.
  // Do not wait forever for a stuck worker.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(pending_mu_);
      if (!broken_.empty()) break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      results_ctx_.TryCancel();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (reader_.joinable()) reader_.join();
}

RemoteSequence::RemoteSequence(std::shared_ptr<PipelineClient> pipeline)
    : pipeline_(std::move(pipeline)), seq_id_(pipeline_->NewSeqId()) {}

RemoteSequence::~RemoteSequence() {
  v1::StepRequest req;
  req.set_seq_id(seq_id_);
  req.set_end_sequence(true);
  (void)pipeline_->Send(req, false);  // frees the stages' KV caches; no answer to wait for
}

Status RemoteSequence::Run(std::span<const int32_t> tokens, v1::Want last_want, bool all_logits,
                           const SamplerParams* p, std::vector<v1::StepResult>* out) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const PipelineClient::Shape& sh = pipeline_->shape();
  if (n == 0) return InvalidArgument("no tokens to feed");
  for (int32_t t : tokens)
    if (t < 0 || t >= sh.n_vocab)
      return InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                             std::to_string(sh.n_vocab) + ")");
  if (n_past_ + n > sh.n_ctx)
    return OutOfRange(std::to_string(n_past_ + n) + " tokens do not fit the context of " +
                      std::to_string(sh.n_ctx) + " (raise it with -c/--ctx-size)");
  // Chunks small enough for one message: activations (f32 at most) and logits rows ≤ 32 MiB.
  const int64_t cap = 32 << 20;
  int64_t chunk = std::min<int64_t>(sh.max_batch, std::max<int64_t>(1, cap / (4 * sh.dim)));
  if (all_logits) chunk = std::min<int64_t>(chunk, std::max<int64_t>(1, cap / (4 * sh.n_vocab)));
  std::vector<std::future<StatusOr<v1::StepResult>>> futures;
  for (int64_t done = 0; done < n;) {
    const int64_t m = std::min(chunk, n - done);
    v1::StepRequest req;
    req.set_seq_id(seq_id_);
    req.set_pos(n_past_ + done);
    req.mutable_tokens()->Add(tokens.begin() + done, tokens.begin() + done + m);
    const bool last = done + m == n;
    req.set_want(all_logits ? v1::WANT_ALL_LOGITS : last ? last_want : v1::WANT_NONE);
    if (last && p) SamplerToProto(*p, req.mutable_sampler());
    futures.push_back(pipeline_->Send(std::move(req)));
    done += m;
  }
  // Every step has a deadline: generous for slow devices, finite for dead ones.
  const double seconds = 60.0 + 0.5 * static_cast<double>(std::min<int64_t>(n, chunk));
  Status st = Status::Ok();
  for (auto& f : futures) {
    if (f.wait_for(std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000))) !=
        std::future_status::ready) {
      st = IoError("pipeline " + pipeline_->id() + ": no result within " +
                   std::to_string(static_cast<int>(seconds)) + " s (a worker is stuck or gone)");
      break;
    }
    StatusOr<v1::StepResult> r = f.get();
    if (!r.ok()) {
      st = r.status();
      break;
    }
    if (!r->error().empty()) {
      st = Status(StatusCode::kIoError, r->error());
      break;
    }
    out->push_back(std::move(*r));
  }
  if (!st.ok()) {
    n_past_ = 0;  // the stages' state is unknown: the sequence starts again at its next use
    return st;
  }
  n_past_ += n;
  return Status::Ok();
}

Status RemoteSequence::Feed(std::span<const int32_t> tokens, bool all_logits,
                            std::vector<float>* logits) {
  std::vector<v1::StepResult> res;
  const bool want_any = logits != nullptr;
  SL_RETURN_IF_ERROR(Run(tokens, want_any ? v1::WANT_LAST_LOGITS : v1::WANT_NONE,
                         want_any && all_logits, nullptr, &res));
  if (!logits) return Status::Ok();
  const size_t vocab = static_cast<size_t>(n_vocab());
  logits->clear();
  for (const v1::StepResult& r : res) {
    if (r.logits_size() == 0) continue;
    logits->insert(logits->end(), r.logits().begin(), r.logits().end());
  }
  const size_t expect = (all_logits ? tokens.size() : 1) * vocab;
  if (logits->size() != expect)
    return Internal("pipeline " + pipeline_->id() + ": " + std::to_string(logits->size()) +
                    " logits returned, expected " + std::to_string(expect));
  return Status::Ok();
}

StatusOr<int32_t> RemoteSequence::FeedAndSample(std::span<const int32_t> tokens,
                                                const SamplerParams& p) {
  std::vector<v1::StepResult> res;
  SL_RETURN_IF_ERROR(Run(tokens, v1::WANT_SAMPLE, false, &p, &res));
  const int32_t t = res.back().token();
  if (t < 0 || t >= n_vocab())
    return Internal("pipeline " + pipeline_->id() + ": sampled token " + std::to_string(t) +
                    " is outside the vocabulary");
  return t;
}

}  // namespace suanli::cluster
