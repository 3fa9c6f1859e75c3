#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

namespace suanli {
namespace {

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  SamplerParams p;
  p.temperature = 0;
  Sampler s(p);
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.Sample(l.data(), 4, 0).token, 1);
}

TEST(Sampler, SameSeedSameDraws) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  p.seed = 42;
  std::vector<float> base(50);
  for (size_t i = 0; i < base.size(); ++i) base[i] = static_cast<float>(i % 7) * 0.3f;
  Sampler a(p), b(p);
  for (int i = 0; i < 100; ++i) {
    auto la = base, lb = base;
    EXPECT_EQ(a.Sample(la.data(), 50, i).token, b.Sample(lb.data(), 50, i).token);
  }
}

TEST(Sampler, TopKRestrictsToKBest) {
  SamplerParams p;
  p.temperature = 5.0f;  // flat, so without top-k every token would appear
  p.top_k = 2;
  p.top_p = 1.0f;
  p.min_p = 0;
  Sampler s(p);
  std::vector<float> base = {1.0f, 5.0f, 2.0f, 4.9f, 0.0f};
  std::map<int32_t, int> seen;
  for (int i = 0; i < 500; ++i) {
    auto l = base;
    seen[s.Sample(l.data(), 5, i).token]++;
  }
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_GT(seen[1], 0);
  EXPECT_GT(seen[3], 0);
}

TEST(Sampler, TopPKeepsTheNucleus) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 0.5f;
  p.min_p = 0;
  Sampler s(p);
  // Token 0 alone holds > 50% of the mass: it is the whole nucleus.
  std::vector<float> base = {3.0f, 1.0f, 1.0f, 1.0f};
  for (int i = 0; i < 200; ++i) {
    auto l = base;
    EXPECT_EQ(s.Sample(l.data(), 4, i).token, 0);
  }
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.5f;
  Sampler s(p);
  // p(1)/p(0) = e^-0.1 > 0.5 stays; p(2)/p(0) = e^-3 < 0.5 goes.
  std::vector<float> base = {2.0f, 1.9f, -1.0f};
  std::map<int32_t, int> seen;
  for (int i = 0; i < 300; ++i) {
    auto l = base;
    seen[s.Sample(l.data(), 3, i).token]++;
  }
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[1], 0);
}

TEST(Sampler, RepetitionPenaltyDiscouragesRecentTokens) {
  SamplerParams p;
  p.temperature = 0;
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  s.Accept(0);
  std::vector<float> l = {2.0f, 1.5f, -1.0f};
  EXPECT_EQ(s.Sample(l.data(), 3, 1).token, 1);  // 2.0 / 2 = 1.0 < 1.5
  EXPECT_FLOAT_EQ(l[0], 1.0f);
}

TEST(Sampler, DrawDependsOnlyOnSeedAndPosition) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  p.seed = 7;
  std::vector<float> base(300);
  for (size_t i = 0; i < base.size(); ++i) base[i] = static_cast<float>((i * 37) % 11) * 0.2f;
  // A replay from scratch (a fresh sampler, the same accepted tokens) draws the same tokens at
  // the same positions, whatever was drawn in between.
  Sampler a(p), b(p);
  std::vector<int32_t> drawn;
  for (int pos = 10; pos < 60; ++pos) {
    auto l = base;
    drawn.push_back(a.Sample(l.data(), 300, pos).token);
  }
  for (int pos = 59; pos >= 10; --pos) {
    auto l = base;
    EXPECT_EQ(b.Sample(l.data(), 300, pos).token, drawn[static_cast<size_t>(pos - 10)]);
  }
  std::map<int32_t, int> distinct;
  for (int32_t t : drawn) distinct[t]++;
  EXPECT_GT(distinct.size(), 5u);  // and the positions really vary the draw
  EXPECT_NE(Sampler::Uniform(7, 3), Sampler::Uniform(8, 3));
  EXPECT_NE(Sampler::Uniform(7, 3), Sampler::Uniform(7, 4));
}

TEST(Sampler, FrequencyMatchesLogits) {
  // Temperature 1, no filters: the empirical distribution follows softmax(logits).
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  Sampler s(p);
  const std::vector<float> base = {0.0f, 1.0f, 2.0f};
  int counts[3] = {};
  const int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    auto l = base;
    counts[s.Sample(l.data(), 3, i).token]++;
  }
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  for (int t = 0; t < 3; ++t) EXPECT_NEAR(counts[t] / double(kDraws), std::exp(t) / z, 0.015);
}

TEST(Sampler, PresenceFrequencyAndBias) {
  SamplerParams p;
  p.temperature = 0;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  p.logit_bias = {{2, -100.0f}, {3, 1.0f}};
  Sampler s(p);
  s.Accept(0);
  s.Accept(0);
  s.Accept(1);
  std::vector<float> l = {2.0f, 1.9f, 5.0f, 0.5f};
  EXPECT_EQ(s.Sample(l.data(), 4, 3).token, 3);
  EXPECT_FLOAT_EQ(l[0], 2.0f - 0.5f - 2 * 0.25f);
  EXPECT_FLOAT_EQ(l[1], 1.9f - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[2], -95.0f);
  EXPECT_FLOAT_EQ(l[3], 1.5f);
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  SamplerParams p;
  p.temperature = 0;
  p.frequency_penalty = 1.0f;
  p.repeat_last_n = 2;
  Sampler s(p);
  for (int32_t t : {0, 0, 1, 2}) s.Accept(t);  // the window holds {1, 2}
  std::vector<float> l = {1.0f, 1.0f, 1.0f};
  (void)s.Sample(l.data(), 3, 4);
  EXPECT_FLOAT_EQ(l[0], 1.0f);
  EXPECT_FLOAT_EQ(l[1], 0.0f);
  EXPECT_FLOAT_EQ(l[2], 0.0f);
}

TEST(Sampler, LogprobsOfTheModelDistribution) {
  SamplerParams p;
  p.temperature = 0;
  p.n_probs = 2;
  Sampler s(p);
  std::vector<float> l = {0.0f, 2.0f, 1.0f};
  SampleResult r = s.Sample(l.data(), 3, 0);
  const double lse = std::log(1 + std::exp(1.0) + std::exp(2.0));
  EXPECT_EQ(r.token, 1);
  EXPECT_NEAR(r.logprob, 2 - lse, 1e-5);
  ASSERT_EQ(r.top.size(), 2u);
  EXPECT_EQ(r.top[0].token, 1);
  EXPECT_EQ(r.top[1].token, 2);
  EXPECT_NEAR(r.top[1].logprob, 1 - lse, 1e-5);
  // Sampled (not greedy): the chosen token's own log-probability.
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1;
  p.min_p = 0;
  Sampler t(p);
  for (int pos = 0; pos < 50; ++pos) {
    auto ll = l;
    SampleResult q = t.Sample(ll.data(), 3, pos);
    EXPECT_NEAR(q.logprob, l[q.token] - lse, 1e-5);
  }
}

TEST(Sampler, LargeVocabularyWithoutTopKMatchesFullSort) {
  // Without top-k the sampler sorts only as far as top-p and min-p look; the kept set must be
  // what a full sort keeps: check that every drawn token passes the min-p cut.
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 0.9f;
  p.min_p = 0.01f;
  Sampler s(p);
  std::vector<float> base(150000);
  for (size_t i = 0; i < base.size(); ++i)
    base[i] = static_cast<float>(static_cast<int>((i * 2654435761u) % 1000)) / 100.0f;
  const float mx = *std::max_element(base.begin(), base.end());
  for (int pos = 0; pos < 20; ++pos) {
    auto l = base;
    const int32_t t = s.Sample(l.data(), static_cast<int64_t>(l.size()), pos).token;
    EXPECT_GE(std::exp(base[static_cast<size_t>(t)] - mx), 0.01 * 0.999);
  }
}

}  // namespace
}  // namespace suanli
