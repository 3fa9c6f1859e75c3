// The head's side of a pipeline's data path: the Forward stream into the first stage (batches of
// token ids in) and the Results stream from the last stage (one BatchResult per batch out).
//
// Any number of batches may be in flight; they are answered in order, matched by id. Every batch
// has a deadline: one without an answer in time breaks the pipeline (the streams are cancelled and
// every pending batch fails with kDeadlineExceeded), so a stuck worker can never hang the head.
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

#include "cluster/transport.h"
#include "engine/batch.h"
#include "suanli/cluster/v1/worker.grpc.pb.h"

namespace suanli::cluster {

class PipelineClient {
 public:
  struct Shape {
    int64_t n_vocab = 0;
    double batch_deadline_seconds = 60;  // plus 0.5 s per token of the batch
  };
  // first_name, last_name: the stages' workers, for messages.
  PipelineClient(std::string id, std::shared_ptr<grpc::Channel> first,
                 std::shared_ptr<grpc::Channel> last, SecurityOptions sec, Shape shape,
                 std::string first_name = "the first stage",
                 std::string last_name = "the last stage");
  ~PipelineClient();

  // Opens Results on the last stage, then Forward on the first.
  Status Start();
  // Sends a batch; `done` is called exactly once with its output (from the results thread, or
  // at once when the pipeline is already broken).
  void Send(const StepBatch& batch, std::function<void(StepOutput)> done);
  // Ends both streams; pending batches fail.
  void Close();

  const std::string& id() const { return id_; }
  // Why the pipeline broke (empty while it works).
  std::string broken() const;

 private:
  struct Pending {
    StepBatch batch;  // what was asked (to check the answer against)
    std::function<void(StepOutput)> done;
    std::chrono::steady_clock::time_point deadline;
  };
  void ReadResults();
  void Watchdog();
  void FailAll(const Status& why);

  std::string id_;
  std::unique_ptr<v1::Worker::Stub> first_, last_;
  SecurityOptions sec_;
  Shape shape_;
  std::string first_name_, last_name_;

  std::mutex write_mu_;
  grpc::ClientContext forward_ctx_;
  v1::ForwardSummary forward_summary_;
  std::unique_ptr<grpc::ClientWriter<v1::Batch>> forward_;
  bool sent_first_ = false;
  bool closed_ = false;

  grpc::ClientContext results_ctx_;
  std::unique_ptr<grpc::ClientReader<v1::BatchResult>> results_;
  std::thread reader_, watchdog_;

  mutable std::mutex pending_mu_;
  std::condition_variable pending_cv_;
  std::map<uint64_t, Pending> pending_;
  Status broken_;  // not OK once the pipeline broke
  bool stop_watchdog_ = false;
};

}  // namespace suanli::cluster
