// StepBatch: one step of the continuous-batching scheduler — the tokens every live sequence feeds
// next — in a plain form shared by this device's executor and a pool's workers (cluster/ turns it
// into protobuf on the wire and back; nothing here knows about the wire).
//
// A step of a sequence feeds `tokens` at positions pos..pos+n-1. Its KV lives in the blocks its
// block table names (model/kv_cache.h): `blocks` covers positions [0, pos + n) — exactly
// KvBlocksFor(pos + n) entries. Positions before pos must already be in those blocks (written
// by this sequence's earlier steps, or by another sequence that shares the prefix). The scheduler
// decides which blocks a sequence owns; executors only read and write them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "suanli/status.h"

namespace suanli {

enum class LogitsWant : uint8_t {
  kNone = 0,  // no logits back
  kLast = 1,  // the last token's row [n_vocab]
  kAll = 2,   // every token's row [n × n_vocab]
};

struct SeqStep {
  uint64_t seq = 0;
  int64_t pos = 0;
  std::vector<int32_t> tokens;  // n >= 1
  std::vector<int32_t> blocks;  // KvBlocksFor(pos + n) block ids
  LogitsWant logits = LogitsWant::kNone;
  bool sample = false;  // draw the next token after the last one (the sequence's sampler)
  // The sequence's first step on this executor: its sampler's parameters, and the tokens before
  // pos it must have seen (the penalty window; positions reused from a shared prefix were never
  // fed here). A later step with `sampler` set starts the sequence's sampler again.
  std::optional<SamplerParams> sampler;
  std::vector<int32_t> history;
};

struct StepBatch {
  uint64_t id = 0;
  std::vector<SeqStep> steps;  // distinct sequences
  // Sequences whose executor-side state (samplers) can go; dropped before the steps run, so a
  // new sequence of this batch may take the room.
  std::vector<uint64_t> ended;
};

struct SeqOutput {
  uint64_t seq = 0;
  Status status;              // this step failed (the others of the batch may have run)
  SampleResult sampled;       // with sample
  std::vector<float> logits;  // with logits: [1 or n] × n_vocab
};

struct StepOutput {
  uint64_t id = 0;
  Status status;  // the whole batch failed (e.g. a pipeline broke); outputs may be empty
  std::vector<SeqOutput> outputs;  // one per step, in the batch's order
  double compute_seconds = 0;
  std::vector<double> stage_seconds;  // through a pipeline: each stage's share, in order
};

// Every id in [0, n_vocab): the check each path makes before tokens reach the model. `what`
// names them in the error ("token id", "forced token id").
inline Status CheckTokenIds(std::span<const int32_t> ids, int64_t n_vocab,
                            const char* what = "token id") {
  for (int32_t t : ids)
    if (t < 0 || t >= n_vocab)
      return InvalidArgument(std::string(what) + " " + std::to_string(t) +
                             " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
  return Status::Ok();
}

}  // namespace suanli
