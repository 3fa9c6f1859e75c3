// Sampler: picks the next token from a row of logits.
//
// Order of the steps (as in common practice): repetition penalty over the last
// `repeat_last_n` tokens → top-k → top-p → min-p → temperature → draw. temperature <= 0 means
// greedy (argmax; ties go to the lowest id), and then the filters do not matter.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace suanli {

struct SamplerParams {
  float temperature = 0.8f;
  int32_t top_k = 40;           // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int32_t repeat_last_n = 64;
  uint64_t seed = 0;  // fixed seed → reproducible draws
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // logits[n_vocab] may be modified (penalties are applied in place).
  int32_t Sample(float* logits, int64_t n_vocab);
  // Records a token that entered the context (prompt or generated) for the repetition penalty.
  void Accept(int32_t token);

  static int32_t Argmax(const float* logits, int64_t n_vocab);

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace suanli
