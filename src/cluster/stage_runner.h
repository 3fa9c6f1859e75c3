// StageRunner: the compute of one pipeline stage, apart from the network, so the worker's RPC code
// stays small and hostile steps can be fuzzed without sockets (tests/fuzz/stage_fuzz.cc).
//
// A stage runs layers [first, last) of a model. Each step names a sequence, a position and its
// tokens; the first stage embeds the tokens, the others decode the activations that came with the
// step. Steps of distinct sequences run as one batch (Forward::RunLayersBatch). Every step then
// ends in exactly one output: on the last stage a StepResult (a sampled token, logits, or an
// error naming this stage), on the others the step itself carrying activations (or the error)
// for the next stage. Invalid steps never touch the model: ids outside the vocabulary, positions
// that do not continue the sequence, too many tokens or sequences, malformed activations.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "engine/forward.h"
#include "engine/sampler.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "suanli/cluster/v1/worker.pb.h"
#include "suanli/placement.h"

namespace suanli::cluster {

std::optional<placement::ActFormat> ActFromProto(v1::ActFormat f);
v1::ActFormat ActToProto(placement::ActFormat f);
SamplerParams SamplerFromProto(const v1::SamplerParams& p);
void SamplerToProto(const SamplerParams& s, v1::SamplerParams* p);

struct StageConfig {
  int64_t first_layer = 0;
  int64_t last_layer = 0;  // exclusive
  bool with_embedding = false;
  bool with_output = false;
  int64_t n_ctx = 0;
  int64_t max_seqs = 1;
  int64_t max_batch = 1;  // rows (tokens) per batch
  placement::ActFormat act = placement::ActFormat::kF16;
  std::string label;  // names this stage in errors: "host:port (layers 0-7)"
};

class StageRunner {
 public:
  StageRunner(std::unique_ptr<Model> model, const StageConfig& cfg, ThreadPool& pool);

  using Answer = std::function<void(v1::StepResult&&)>;
  using PassOn = std::function<void(v1::StepRequest&)>;
  // Runs `batch` (distinct sequences, see TakeBatch) and hands every step to answer (last stage)
  // or pass_on (others). A step with only end_sequence frees its sequence and outputs nothing on
  // the last stage.
  void Run(std::vector<v1::StepRequest>& batch, const Answer& answer, const PassOn& pass_on);

  const StageConfig& config() const { return cfg_; }
  const Model& model() const { return *model_; }
  struct Stats {
    uint64_t steps = 0, batches = 0, rows = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Seq {
    int64_t slot = -1;           // its blocks in cache_: [slot·per, (slot+1)·per)
    std::vector<int32_t> table;  // block table
    int64_t n_past = 0;
    std::unique_ptr<Sampler> sampler;
  };
  // Checks a step and puts its input rows (embedded tokens or decoded activations) at x.
  Status Prepare(const v1::StepRequest& r, float* x, Seq** seq_out);
  void EraseSeq(uint64_t id);

  std::unique_ptr<Model> model_;
  StageConfig cfg_;
  Forward fwd_;
  KvCache cache_;  // max_seqs slots of KvBlocksFor(n_ctx) blocks
  std::map<uint64_t, Seq> seqs_;
  std::set<int64_t> used_slots_;
  Stats stats_;
  std::vector<float> x_;          // [max_batch × dim]
  std::vector<float> last_rows_;  // [max_batch × dim] last rows of the steps that want logits
  std::vector<float> logits_;     // [steps × n_vocab]
};

// Moves steps from the front of `queue` into `batch` (cleared first): distinct sequences, at most
// max_batch rows in all (a longer single step is taken alone; the runner rejects it).
void TakeBatch(std::deque<v1::StepRequest>& queue, int64_t max_batch,
               std::vector<v1::StepRequest>* batch);

}  // namespace suanli::cluster
