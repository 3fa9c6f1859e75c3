// Session: one sequence over a loaded model, with a KV cache of its own — the plainest way to
// run the forward pass (parity tests, tools). Serving and the commands go through
// runtime/runtime.h, which batches many sequences over shared KV blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "engine/forward.h"
#include "engine/sampler.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "suanli/status.h"

namespace suanli {

class Session {
 public:
  // n_ctx: positions the KV cache holds; max_batch: tokens per forward call (prompts are split).
  // kv_ring false keeps sliding-window layers' KV for the whole context (tests compare both).
  Session(const Model& model, ThreadPool& pool, int64_t n_ctx, int64_t max_batch = 512,
          bool kv_ring = true);

  // Feeds `tokens` at the current position. With all_logits, `logits` receives one row per
  // token ([n × n_vocab]); otherwise only the last token's row ([n_vocab]). Errors: a token id
  // outside the vocabulary, or more tokens than the context has room for.
  Status Feed(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits);
  // Feeds `tokens`, then draws the next token with the session's sampler (created with `p` by
  // the first call; every fed token is accepted into it).
  StatusOr<int32_t> FeedAndSample(std::span<const int32_t> tokens, const SamplerParams& p);
  // Back to position 0 (the KV cache is reused; the sampler starts again).
  Status Reset() {
    n_past_ = 0;
    sampler_.reset();
    return Status::Ok();
  }

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_vocab() const { return model_.hparams().n_vocab; }
  uint64_t kv_bytes() const { return cache_.bytes(); }

 private:
  const Model& model_;
  // KvBlocksFor(n_ctx) blocks, all this sequence's, and a ring for sliding-window layers when it
  // is smaller (model/footprint.h KvLayoutFor).
  KvCache cache_;
  std::vector<int32_t> table_;  // identity block table
  std::vector<int32_t> ring_;   // identity ring table (empty: no ring)
  Forward fwd_;
  std::vector<float> x_;  // residual stream [max_batch × dim]
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  std::unique_ptr<Sampler> sampler_;  // created by the first FeedAndSample
  std::vector<float> last_logits_;
};

}  // namespace suanli
