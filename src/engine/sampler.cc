#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "base/det_math.h"
#include "engine/vec_ops.h"

namespace suanli {

namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool ByLogit(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

}  // namespace

Sampler::Sampler(SamplerParams p) : p_(std::move(p)) {}

double Sampler::Uniform(uint64_t seed, int64_t position) {
  const uint64_t h = SplitMix64(SplitMix64(seed) ^ static_cast<uint64_t>(position));
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // 53 bits / 2^53
}

int32_t Sampler::Argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

void Sampler::Accept(int32_t token) {
  if (p_.repeat_last_n <= 0) return;
  recent_.push_back(token);
  ++counts_[token];
  while (recent_.size() > static_cast<size_t>(p_.repeat_last_n)) {
    auto it = counts_.find(recent_.front());
    if (--it->second == 0) counts_.erase(it);
    recent_.pop_front();
  }
}

void Sampler::ApplyBiasAndPenalties(float* logits, int64_t n) const {
  for (const auto& [t, b] : p_.logit_bias)
    if (t >= 0 && t < n) logits[t] += b;
  const bool rep = p_.repeat_penalty != 1.0f;
  if (!rep && p_.presence_penalty == 0 && p_.frequency_penalty == 0) return;
  for (const auto& [t, count] : counts_) {
    if (t < 0 || t >= n) continue;
    float& l = logits[t];
    if (rep) l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    l -= static_cast<float>(count) * p_.frequency_penalty + p_.presence_penalty;
  }
}

SampleResult Sampler::Sample(float* logits, int64_t n, int64_t position) {
  ApplyBiasAndPenalties(logits, n);
  SampleResult res;
  float lse = 0;
  if (p_.n_probs > 0) {
    // Log-probabilities of the model's distribution (after bias and penalties, before the
    // filters and the temperature), as OpenAI reports them.
    lse = vec::LogSumExp(logits, n);
    // The k best in one pass (k <= 20): a small sorted array, no copy of the vocabulary.
    const int64_t k = std::min<int64_t>(std::min(p_.n_probs, kMaxProbs), n);
    std::pair<float, int32_t> best[kMaxProbs];
    int64_t have = 0;
    for (int64_t i = 0; i < n; ++i) {
      const std::pair<float, int32_t> c(logits[i], static_cast<int32_t>(i));
      if (have == k && !ByLogit(c, best[k - 1])) continue;
      int64_t j = have < k ? have++ : k - 1;
      while (j > 0 && ByLogit(c, best[j - 1])) {
        best[j] = best[j - 1];
        --j;
      }
      best[j] = c;
    }
    for (int64_t i = 0; i < have; ++i) res.top.push_back({best[i].second, best[i].first - lse});
  }
  auto done = [&](int32_t t) {
    res.token = t;
    if (p_.n_probs > 0) res.logprob = logits[t] - lse;
    return res;
  };
  if (p_.temperature <= 0) return done(Argmax(logits, n));
  cand_.clear();
  cand_.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(logits[i])) cand_.emplace_back(logits[i], static_cast<int32_t>(i));
  if (cand_.empty()) return done(Argmax(logits, n));
  size_t keep = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) keep = static_cast<size_t>(p_.top_k);
  // Sorted best first only as far as the filters look (the top-k set, or growing prefixes until
  // the nucleus and the min-p cut are inside), so a 150k vocabulary is not sorted every token.
  const float mx = std::max_element(cand_.begin(), cand_.end(), ByLogit)->first;
  // Probabilities at temperature 1 over the kept set, for the nucleus and min-p filters.
  double total = 0;
  if (keep < cand_.size()) {
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(keep), cand_.end(),
                      ByLogit);
    cand_.resize(keep);
    for (const auto& c : cand_) total += det::Exp(static_cast<double>(c.first - mx));
  } else {
    std::vector<float> shifted(cand_.size());
    for (size_t i = 0; i < cand_.size(); ++i) shifted[i] = cand_[i].first;
    total =
        static_cast<double>(vec::ExpSum(shifted.data(), static_cast<int64_t>(shifted.size()), mx));
  }
  // The sorted prefix that can matter: min-p keeps p >= min_p · p_max, i.e. l >= mx + ln(min_p).
  size_t sorted = keep < cand_.size() ? keep : 0;
  auto ensure_sorted = [&](size_t m) {
    m = std::min(m, cand_.size());
    if (m <= sorted) return;
    std::partial_sort(cand_.begin() + static_cast<std::ptrdiff_t>(sorted),
                      cand_.begin() + static_cast<std::ptrdiff_t>(m), cand_.end(), ByLogit);
    sorted = m;
  };
  if (p_.min_p > 0) {
    // Min-p keeps p >= min_p · p_max, i.e. l >= mx + ln(min_p), and the kept set is always a
    // prefix of the sorted order, so tokens below the cut can go before any sorting.
    const float floor = mx + static_cast<float>(det::Log(p_.min_p));
    auto mid = std::partition(cand_.begin() + static_cast<std::ptrdiff_t>(sorted), cand_.end(),
                              [&](const auto& c) { return c.first >= floor; });
    cand_.erase(mid, cand_.end());
    while (sorted > 0 && cand_[sorted - 1].first < floor) --sorted;  // the top-k part
    if (sorted > cand_.size()) sorted = cand_.size();
  }
  ensure_sorted(std::min<size_t>(cand_.size(), 64));
  size_t n_keep = cand_.size();
  prob_.clear();
  auto prob_at = [&](size_t i) {
    while (prob_.size() <= i) {
      ensure_sorted(std::max<size_t>(2 * sorted, prob_.size() + 1));
      prob_.push_back(det::Exp(static_cast<double>(cand_[prob_.size()].first - mx)) / total);
    }
    return prob_[i];
  };
  if (p_.top_p < 1.0f) {
    double cum = 0;
    size_t i = 0;
    for (; i < n_keep; ++i) {
      cum += prob_at(i);
      if (cum >= p_.top_p) {
        ++i;
        break;
      }
    }
    n_keep = std::max<size_t>(1, std::min(i, n_keep));
  }
  if (p_.min_p > 0) {
    const double floor = prob_at(0) * p_.min_p;
    size_t i = 1;
    while (i < n_keep && prob_at(i) >= floor) ++i;
    n_keep = i;
  }
  ensure_sorted(n_keep);
  // Temperature, then a draw from the renormalized distribution of the kept tokens.
  prob_.resize(n_keep);
  double sum = 0;
  for (size_t i = 0; i < n_keep; ++i)
    sum += prob_[i] = det::Exp(static_cast<double>(cand_[i].first - mx) / p_.temperature);
  const double r = Uniform(p_.seed, position) * sum;
  double acc = 0;
  for (size_t i = 0; i < n_keep; ++i) {
    acc += prob_[i];
    if (r < acc) return done(cand_[i].second);
  }
  return done(cand_[n_keep - 1].second);
}

}  // namespace suanli
