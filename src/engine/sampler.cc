#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace suanli {

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}

int32_t Sampler::Argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

void Sampler::Accept(int32_t token) {
  if (p_.repeat_last_n <= 0) return;
  recent_.push_back(token);
  while (recent_.size() > static_cast<size_t>(p_.repeat_last_n)) recent_.pop_front();
}

int32_t Sampler::Sample(float* logits, int64_t n) {
  if (p_.repeat_penalty != 1.0f) {
    // Penalize each distinct recent token once: divide positive logits, multiply negative ones.
    std::vector<int32_t> seen(recent_.begin(), recent_.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= n) continue;
      float& l = logits[t];
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }
  if (p_.temperature <= 0) return Argmax(logits, n);

  cand_.clear();
  cand_.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(logits[i])) cand_.emplace_back(logits[i], static_cast<int32_t>(i));
  if (cand_.empty()) return Argmax(logits, n);
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) {
    keep = static_cast<size_t>(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(keep), cand_.end(),
                      by_logit);
    cand_.resize(keep);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // Probabilities at temperature 1 for the nucleus and min-p filters.
  const float mx = cand_[0].first;
  std::vector<double> prob(cand_.size());
  double sum = 0;
  for (size_t i = 0; i < cand_.size(); ++i)
    sum += prob[i] = std::exp(static_cast<double>(cand_[i].first - mx));
  for (double& q : prob) q /= sum;
  if (p_.top_p < 1.0f) {
    double cum = 0;
    size_t i = 0;
    for (; i < prob.size(); ++i) {
      cum += prob[i];
      if (cum >= p_.top_p) {
        ++i;
        break;
      }
    }
    keep = std::max<size_t>(1, std::min(i, prob.size()));
    cand_.resize(keep);
    prob.resize(keep);
  }
  if (p_.min_p > 0) {
    const double floor = prob[0] * p_.min_p;
    size_t i = 1;
    while (i < prob.size() && prob[i] >= floor) ++i;
    cand_.resize(i);
    prob.resize(i);
  }
  // Temperature, then a draw from the renormalized distribution.
  sum = 0;
  for (size_t i = 0; i < cand_.size(); ++i)
    sum += prob[i] = std::exp(static_cast<double>(cand_[i].first - mx) / p_.temperature);
  std::uniform_real_distribution<double> uni(0.0, sum);
  double r = uni(rng_), acc = 0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    acc += prob[i];
    if (r < acc) return cand_[i].second;
  }
  return cand_.back().second;
}

}  // namespace suanli
