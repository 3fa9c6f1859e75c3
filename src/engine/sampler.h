// Sampler: picks the next token from a row of logits.
//
// Order of the steps: logit bias → repetition, presence and frequency penalties over the last
// `repeat_last_n` tokens of the context → (log-probabilities, reported if asked) → top-k → top-p
// → min-p → temperature → draw. temperature <= 0 means greedy (argmax; ties go to the lowest id),
// and then the filters do not matter.
//
// Replayable: the random draw for the token at context position p depends only on (seed, p), and
// the penalties only on the tokens accepted, so replaying a sequence's tokens through a fresh
// sampler (on any device) reproduces every draw. Arithmetic uses base/det_math and explicit
// integer-to-double conversion only, so draws are the same bits on every CPU.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace suanli {

struct SamplerParams {
  float temperature = 0.8f;
  int32_t top_k = 40;           // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off (divides positive logits, multiplies negative ones)
  int32_t repeat_last_n = 64;   // the penalty window (prompt tokens included)
  float presence_penalty = 0;   // subtracted once from every token in the window
  float frequency_penalty = 0;  // subtracted per occurrence in the window
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logit of the token
  uint64_t seed = 0;                                  // fixed seed → reproducible draws
  int32_t n_probs = 0;  // > 0: report the log-probability of the chosen token and this many best
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
};
struct SampleResult {
  int32_t token = 0;
  float logprob = 0;              // of `token` (when n_probs > 0)
  std::vector<TokenLogprob> top;  // the n_probs most likely, best first (when n_probs > 0)
};

class Sampler {
 public:
  explicit Sampler(SamplerParams p);
  // logits[n_vocab] is modified (bias and penalties are applied in place). `position`: where the
  // drawn token will sit in the context (the number of tokens before it).
  SampleResult Sample(float* logits, int64_t n_vocab, int64_t position);
  // Records a token that entered the context (prompt or generated) for the penalties.
  void Accept(int32_t token);
  const SamplerParams& params() const { return p_; }

  static int32_t Argmax(const float* logits, int64_t n_vocab);
  // A uniform double in [0, 1) from (seed, position): the sampler's only source of randomness.
  static double Uniform(uint64_t seed, int64_t position);

 private:
  void ApplyBiasAndPenalties(float* logits, int64_t n) const;

  SamplerParams p_;
  std::deque<int32_t> recent_;                   // the last repeat_last_n accepted tokens
  std::unordered_map<int32_t, int32_t> counts_;  // occurrences of each in recent_
  std::vector<std::pair<float, int32_t>> cand_;
  std::vector<double> prob_;
};

// The largest value a server accepts for n_probs (OpenAI: top_logprobs 0..20).
inline constexpr int32_t kMaxProbs = 20;

}  // namespace suanli
