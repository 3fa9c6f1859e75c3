// The head's side of the data path: a pipeline's two streams, and sequences that run through them.
//
// PipelineClient holds the Forward stream into the first stage (token ids in) and the Results
// stream from the last stage (tokens or logits out). Any number of RemoteSequences share it: each
// step gets an id, its result is matched by that id, so steps of many sequences are in flight at
// once and every stage stays busy. A prompt is sent as chunks without waiting between them, so
// stage 2 runs chunk 1 while stage 1 runs chunk 2.
#pragma once

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/transport.h"
#include "engine/sequence.h"
#include "suanli/cluster/v1/worker.grpc.pb.h"
#include "suanli/placement.h"

namespace suanli::cluster {

class PipelineClient {
 public:
  struct Shape {
    int64_t n_vocab = 0;
    int64_t dim = 0;
    int64_t n_ctx = 0;
    int64_t max_batch = 512;  // tokens per step
  };
  // first_name, last_name: the stages' workers, for messages.
  PipelineClient(std::string id, std::shared_ptr<grpc::Channel> first,
                 std::shared_ptr<grpc::Channel> last, SecurityOptions sec, Shape shape,
                 std::string first_name = "the first stage",
                 std::string last_name = "the last stage");
  ~PipelineClient();

  // Opens Results on the last stage, then Forward on the first.
  Status Start();
  // Sends a step; the future yields its result (or why there is none). Without want_result the
  // stages answer nothing (a step that only ends a sequence).
  std::future<StatusOr<v1::StepResult>> Send(v1::StepRequest req, bool want_result = true);
  // Ends both streams; pending steps fail.
  void Close();

  const std::string& id() const { return id_; }
  const Shape& shape() const { return shape_; }
  uint64_t NewSeqId() { return next_seq_++; }

 private:
  void ReadResults();
  void FailAll(const std::string& why);

  std::string id_;
  std::unique_ptr<v1::Worker::Stub> first_, last_;
  SecurityOptions sec_;
  Shape shape_;
  std::string first_name_, last_name_;

  std::mutex write_mu_;
  grpc::ClientContext forward_ctx_;
  v1::ForwardSummary forward_summary_;
  std::unique_ptr<grpc::ClientWriter<v1::StepRequest>> forward_;
  bool sent_first_ = false;
  bool closed_ = false;

  grpc::ClientContext results_ctx_;
  std::unique_ptr<grpc::ClientReader<v1::StepResult>> results_;
  std::thread reader_;

  std::mutex pending_mu_;
  std::map<uint64_t, std::promise<StatusOr<v1::StepResult>>> pending_;
  std::string broken_;  // non-empty once the results stream ended
  uint64_t next_step_ = 1;
  std::atomic<uint64_t> next_seq_{1};
};

// One sequence through a pipeline (see engine/sequence.h).
class RemoteSequence : public Sequence {
 public:
  explicit RemoteSequence(std::shared_ptr<PipelineClient> pipeline);
  ~RemoteSequence() override;

  Status Feed(std::span<const int32_t> tokens, bool all_logits,
              std::vector<float>* logits) override;
  StatusOr<int32_t> FeedAndSample(std::span<const int32_t> tokens, const SamplerParams& p) override;
  Status Reset() override {
    n_past_ = 0;
    return Status::Ok();
  }
  int64_t n_past() const override { return n_past_; }
  int64_t n_ctx() const override { return pipeline_->shape().n_ctx; }
  int64_t n_vocab() const override { return pipeline_->shape().n_vocab; }

 private:
  // Sends tokens in chunks; the last chunk asks for `last_want`, earlier ones for nothing unless
  // all_logits. Results arrive in order in `out`.
  Status Run(std::span<const int32_t> tokens, v1::Want last_want, bool all_logits,
             const SamplerParams* p, std::vector<v1::StepResult>* out);

  std::shared_ptr<PipelineClient> pipeline_;
  uint64_t seq_id_;
  int64_t n_past_ = 0;
};

}  // namespace suanli::cluster
