// BatchRunner: runs StepBatches (engine/batch.h) over layers [first, last) of a model — the whole
// model on this device, or one pipeline stage on a worker. The same code runs both, so a pool
// computes exactly what one device computes.
//
// Per batch: every step is checked against the runner's own view (hostile input never touches
// the model): token ids in the vocabulary, positions within the context, a block table of the
// right length naming blocks that exist, positions before pos already written (so a sequence can
// never attend over memory nobody wrote), distinct sequences, at most max_batch rows and
// max_seqs sequences with state. A failed step gets its own error; the others still run, as one
// batch (Forward::RunLayersBatch: the weights are read once for all rows). The first stage embeds
// the tokens; the others take the previous stage's rows. The last stage computes the logits every
// step asks for in one product and draws with each sequence's sampler.
//
// Residual-stream rows travel compactly: x_in holds the rows of the steps that arrived without
// an error, in batch order; after Run, rows() holds the rows of the steps still without one.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "engine/batch.h"
#include "engine/forward.h"
#include "engine/sampler.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace suanli {

struct BatchRunnerConfig {
  int64_t first_layer = 0;
  int64_t last_layer = 0;  // exclusive
  bool with_embedding = true;
  bool with_output = true;
  int64_t n_ctx = 0;      // the most positions one sequence reaches
  int64_t n_blocks = 0;   // the KV pool
  int64_t max_seqs = 1;   // steps per batch, and sequences with sampler state
  int64_t max_batch = 1;  // rows (tokens) per batch
  // Sliding-window layers keep each sequence's positions in a ring of its own when that is
  // smaller (model/footprint.h KvLayoutFor); the runner gives each sequence a ring on its first
  // step and takes it back when the sequence ends. A ring sequence can only start at position 0:
  // the window before a later start is in nobody's ring.
  bool kv_ring = true;
  std::string label;  // names this runner in errors ("host:port (layers 0-7)")
};

class BatchRunner {
 public:
  BatchRunner(const Model& model, const BatchRunnerConfig& cfg, ThreadPool& pool);

  // `upstream[i]`: step i already failed upstream (not OK: it is skipped and keeps the error).
  // Empty: none failed. Fills out->outputs (one per step) and leaves this stage's output rows in
  // rows(). x_in must hold Σ n_i × dim floats for the steps that arrive OK (checked: a size
  // mismatch fails the whole batch).
  void Run(const StepBatch& batch, std::span<const Status> upstream, std::span<const float> x_in,
           StepOutput* out);

  // [rows_out × dim] after Run.
  std::span<const float> rows() const { return {x_.data(), static_cast<size_t>(rows_out_ * dim_)}; }
  const BatchRunnerConfig& config() const { return cfg_; }
  KvCache& cache() { return cache_; }
  int64_t live_samplers() const { return static_cast<int64_t>(samplers_.size()); }

  struct Stats {
    uint64_t steps = 0, batches = 0, rows = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  Status Check(const SeqStep& s) const;
  // The sliding layers' view of a step: every position its rows attend before pos is in the
  // sequence's ring (slot < 0: the sequence has none yet).
  Status CheckRing(const SeqStep& s, int slot) const;
  void FreeRing(uint64_t seq);

  const Model& model_;
  BatchRunnerConfig cfg_;
  int64_t dim_;
  Forward fwd_;
  KvCache cache_;
  std::vector<uint8_t> filled_;  // [n_blocks] positions written from the block's first row
  // Rings: slot s owns ring blocks [s·R, (s+1)·R), R·kKvBlockTokens rows; ring_pos_[s][i] is the
  // position ring row i holds (-1: none).
  std::map<uint64_t, int> ring_slot_;
  std::vector<int> free_slots_;
  std::vector<std::vector<int32_t>> ring_tables_;
  std::vector<std::vector<int64_t>> ring_pos_;
  std::map<uint64_t, Sampler> samplers_;
  Stats stats_;
  std::vector<float> x_;          // [max_batch × dim] residual stream
  std::vector<float> last_rows_;  // [max_seqs × dim] last rows of the steps that want them
  std::vector<float> logits_;     // [max_seqs × n_vocab]
  int64_t rows_out_ = 0;
};

}  // namespace suanli
