// Sequence: one stream of tokens through a model, wherever the model runs — a local Session or a
// pool of workers (cluster/remote_sequence). Commands talk to this interface so a pool prints
// exactly what one device prints.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampler.h"
#include "suanli/status.h"

namespace suanli {

class Sequence {
 public:
  virtual ~Sequence() = default;

  // Feeds `tokens` at the current position. With all_logits, `logits` receives one row per
  // token ([n × n_vocab]); otherwise only the last token's row ([n_vocab]); nullptr: none.
  virtual Status Feed(std::span<const int32_t> tokens, bool all_logits,
                      std::vector<float>* logits) = 0;
  // Feeds `tokens`, then draws the next token. The sampler state (random stream, recent tokens
  // for the repetition penalty) lives with the sequence: every fed token is accepted into it,
  // and `p` applies from the first call after the start or a Reset.
  virtual StatusOr<int32_t> FeedAndSample(std::span<const int32_t> tokens,
                                          const SamplerParams& p) = 0;
  // Back to position 0 (the KV cache is reused; the sampler starts again).
  virtual Status Reset() = 0;

  virtual int64_t n_past() const = 0;
  virtual int64_t n_ctx() const = 0;
  virtual int64_t n_vocab() const = 0;
};

}  // namespace suanli
