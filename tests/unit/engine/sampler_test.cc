#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace suanli {
namespace {

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  SamplerParams p;
  p.temperature = 0;
  Sampler s(p);
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.Sample(l.data(), 4), 1);
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
    EXPECT_EQ(a.Sample(la.data(), 50), b.Sample(lb.data(), 50));
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
    seen[s.Sample(l.data(), 5)]++;
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
    EXPECT_EQ(s.Sample(l.data(), 4), 0);
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
    seen[s.Sample(l.data(), 3)]++;
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
  EXPECT_EQ(s.Sample(l.data(), 3), 1);  // 2.0 / 2 = 1.0 < 1.5
  EXPECT_FLOAT_EQ(l[0], 1.0f);
}

}  // namespace
}  // namespace suanli
