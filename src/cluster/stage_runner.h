// StageRunner: one pipeline stage's compute for batches from the wire (worker.proto Batch), apart
// from the network, so the worker's RPC code stays small and hostile batches can be fuzzed without
// sockets (tests/fuzz/stage_fuzz.cc).
//
// The compute itself is engine/batch_runner.h — the same code this device runs — over layers
// [first, last): the first stage embeds the tokens, the others decode the activations that came
// with the batch. Every batch ends in exactly one message: on the last stage a BatchResult
// (per step: a sampled token, logits, or an error naming the stage), on the others the batch
// itself carrying this stage's activations and any step's error for the next stage.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/thread_pool.h"
#include "engine/batch_runner.h"
#include "model/model.h"
#include "suanli/cluster/v1/worker.pb.h"
#include "suanli/placement.h"

namespace suanli::cluster {

struct StageConfig {
  int64_t first_layer = 0;
  int64_t last_layer = 0;  // exclusive
  bool with_embedding = false;
  bool with_output = false;
  int64_t n_ctx = 0;
  int64_t max_seqs = 1;
  int64_t max_batch = 1;  // rows (tokens) per batch
  int64_t kv_blocks = 0;  // the pipeline's KV pool
  placement::ActFormat act = placement::ActFormat::kF16;
  std::string label;  // names this stage in errors: "host:port (layers 0-7)"
};

class StageRunner {
 public:
  StageRunner(std::unique_ptr<Model> model, const StageConfig& cfg, ThreadPool& pool);

  // Runs `in`. Inner stages fill *next (the batch for the next stage; `in` may be moved from),
  // the last stage fills *result.
  void Run(v1::Batch& in, v1::Batch* next, v1::BatchResult* result);

  const StageConfig& config() const { return cfg_; }
  const Model& model() const { return *model_; }
  const BatchRunner::Stats& stats() const { return runner_->stats(); }

 private:
  std::unique_ptr<Model> model_;
  StageConfig cfg_;
  std::unique_ptr<BatchRunner> runner_;
  std::vector<float> x_in_;
};

}  // namespace suanli::cluster
