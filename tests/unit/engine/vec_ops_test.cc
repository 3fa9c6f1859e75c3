// The forward pass's vector operations against plain double-precision references.
#include "engine/vec_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace suanli::vec {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

TEST(VecOps, RmsNorm) {
  for (int64_t n : {1, 15, 16, 17, 64, 2048 + 3}) {
    auto x = Random(n, 1), w = Random(n, 2);
    std::vector<float> y(n);
    RmsNorm(x.data(), w.data(), y.data(), n, 1e-5f);
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double scale = 1.0 / std::sqrt(ss / n + 1e-5);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(y[i], x[i] * scale * w[i], 1e-5 * (1 + std::fabs(y[i])));
  }
}

TEST(VecOps, SiluMulIncludingExtremes) {
  auto g = Random(1000, 3, 10.0f), u = Random(1000, 4);
  g[0] = -200.0f, g[1] = 200.0f, g[2] = 0.0f, g[3] = -87.5f, g[4] = 88.5f;
  auto out = g;
  SiluMul(out.data(), u.data(), static_cast<int64_t>(out.size()));
  for (size_t i = 0; i < g.size(); ++i) {
    const double want = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
    EXPECT_NEAR(out[i], want, 1e-6 * (1 + std::fabs(want))) << "g=" << g[i];
  }
}

TEST(VecOps, GeluMulMatchesTanhFormIncludingExtremes) {
  auto g = Random(1000, 13, 6.0f), u = Random(1000, 14);
  g[0] = -200.0f, g[1] = 200.0f, g[2] = 0.0f, g[3] = -1e20f, g[4] = 1e20f, g[5] = -3.0f;
  auto out = g;
  GeluMul(out.data(), u.data(), static_cast<int64_t>(out.size()));
  for (size_t i = 0; i < g.size(); ++i) {
    const double x = g[i];
    const double want =
        0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))) * u[i];
    EXPECT_NEAR(out[i], want, 1e-6 * (1 + std::fabs(want))) << "g=" << g[i];
  }
  // The vector body and the scalar tail compute the same bits.
  std::vector<float> one(17, 1.0f), tail(g.begin(), g.begin() + 17), body = tail;
  GeluMul(body.data(), one.data(), 16);
  for (int i = 0; i < 16; ++i) {
    float t = tail[i];
    GeluMul(&t, one.data(), 1);
    EXPECT_EQ(body[i], t) << i;
  }
}

TEST(VecOps, SoftCapMatchesTanh) {
  auto x = Random(1000, 15, 100.0f);
  x[0] = 0.0f, x[1] = 1e30f, x[2] = -1e30f, x[3] = 1e-3f;
  for (float c : {50.0f, 30.0f, 2.5f}) {
    auto out = x;
    SoftCap(out.data(), c, static_cast<int64_t>(out.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = c * std::tanh(double(x[i]) / c);
      EXPECT_NEAR(out[i], want, 6e-7 * (1e-2 * c + std::fabs(want))) << "x=" << x[i] << " c=" << c;
      EXPECT_LE(std::fabs(out[i]), c);
    }
    // The vector body and the scalar tail compute the same bits.
    std::vector<float> body(x.begin(), x.begin() + 16);
    SoftCap(body.data(), c, 16);
    for (int i = 0; i < 16; ++i) {
      float t = x[i];
      SoftCap(&t, c, 1);
      EXPECT_EQ(body[i], t) << i;
    }
  }
}

TEST(VecOps, AttendHeadMatchesSoftmaxAttention) {
  const int64_t hd = 64, stride = 3 * hd, n_keys = 37, n_blocks = 3;
  auto q = Random(hd, 5), k = Random(n_keys * stride, 6), v = Random(n_keys * stride, 7);
  // Keys as the cache holds them: blocks of kBlockKeys positions, transposed; head 1 of 3.
  std::vector<float> kt(n_blocks * hd * kBlockKeys, 1e30f);  // unfilled positions: ignored
  for (int64_t p = 0; p < n_keys; ++p)
    for (int64_t d = 0; d < hd; ++d)
      kt[(p / kBlockKeys) * hd * kBlockKeys + d * kBlockKeys + p % kBlockKeys] =
          k[p * stride + hd + d];
  std::vector<float> scores(n_blocks * kBlockKeys), out(hd, 0.0f);
  const float scale = 0.125f;
  for (int64_t b = 0; b < n_blocks; ++b)
    BlockScores(q.data(), 1, kt.data() + b * hd * kBlockKeys, hd, scale,
                scores.data() + b * kBlockKeys, 0);
  // A block's score does not depend on the block's other positions.
  std::vector<float> alone(kBlockKeys);
  std::vector<float> kt1(hd * kBlockKeys, -3.0f);
  for (int64_t d = 0; d < hd; ++d) kt1[d * kBlockKeys + 5] = kt[d * kBlockKeys + 5];
  BlockScores(q.data(), 1, kt1.data(), hd, scale, alone.data(), 0);
  EXPECT_EQ(alone[5], scores[5]);
  SoftmaxInPlace(scores.data(), n_keys);
  // Values in two pieces, as over two KV blocks: the result does not depend on the split.
  const int64_t cut = 16;
  AccumulateRows(scores.data(), 0, 1, v.data() + hd, stride, cut, hd, out.data());
  AccumulateRows(scores.data() + cut, 0, 1, v.data() + cut * stride + hd, stride, n_keys - cut, hd,
                 out.data());
  std::vector<float> whole(hd, 0.0f);
  AccumulateRows(scores.data(), 0, 1, v.data() + hd, stride, n_keys, hd, whole.data());
  EXPECT_EQ(out, whole);
  std::vector<double> s(n_keys);
  double mx = -1e300, sum = 0;
  for (int64_t p = 0; p < n_keys; ++p) {
    double d = 0;
    for (int64_t i = 0; i < hd; ++i) d += double(q[i]) * k[p * stride + hd + i];
    s[p] = d * scale;
    mx = std::max(mx, s[p]);
  }
  for (double& x : s) sum += x = std::exp(x - mx);
  for (int64_t i = 0; i < hd; ++i) {
    double want = 0;
    for (int64_t p = 0; p < n_keys; ++p) want += s[p] / sum * v[p * stride + hd + i];
    EXPECT_NEAR(out[i], want, 1e-5);
  }
}

// Query heads sharing a KV head (GQA) are computed side by side; each head's sums keep their
// order, so n heads at once give the bytes of one at a time (for head sizes that use every path:
// 4 vectors, 1 vector and scalar dimensions; groups of 4, 2 and 1).
TEST(VecOps, GroupedHeadsEqualOneAtATime) {
  for (int64_t hd : {64, 80, 72, 7}) {
    for (int64_t n_q : {1, 2, 3, 4, 7}) {
      const int64_t n = 13, stride = hd + 5, w_stride = 19;
      auto q = Random(n_q * hd, 10), kt = Random(hd * kBlockKeys, 11);
      auto w = Random(n_q * w_stride, 12), v = Random(n * stride, 13);
      std::vector<float> grouped(n_q * 20), single(n_q * 20);
      BlockScores(q.data(), n_q, kt.data(), hd, 0.3f, grouped.data(), 20);
      for (int64_t g = 0; g < n_q; ++g)
        BlockScores(q.data() + g * hd, 1, kt.data(), hd, 0.3f, single.data() + g * 20, 0);
      EXPECT_EQ(grouped, single) << "hd " << hd << " n_q " << n_q;
      const auto init = Random(n_q * hd, 14);
      auto out_g = init, out_s = init;
      AccumulateRows(w.data(), w_stride, n_q, v.data(), stride, n, hd, out_g.data());
      for (int64_t g = 0; g < n_q; ++g)
        AccumulateRows(w.data() + g * w_stride, 0, 1, v.data(), stride, n, hd,
                       out_s.data() + g * hd);
      EXPECT_EQ(out_g, out_s) << "hd " << hd << " n_q " << n_q;
      for (int64_t g = 0; g < n_q; ++g)  // and the plain sum, rows ascending
        for (int64_t d = 0; d < hd; ++d) {
          float want = init[g * hd + d];
          for (int64_t p = 0; p < n; ++p) want += w[g * w_stride + p] * v[p * stride + d];
          EXPECT_EQ(out_g[g * hd + d], want);
        }
    }
  }
}

// Non-finite scores (a hostile peer, an overflowing model) stay defined behaviour: no NaN reaches
// an integer conversion (UBSan checks this in the sanitizer build).
TEST(VecOps, NonFiniteInputsAreDefined) {
  std::vector<float> s = {NAN, 1.0f, INFINITY, -INFINITY};
  SoftmaxInPlace(s.data(), 4);
  std::vector<float> g = {NAN, INFINITY, -INFINITY, 1.0f}, u(4, 1.0f);
  SiluMul(g.data(), u.data(), 4);
  EXPECT_TRUE(std::isnan(LogSumExp(s.data(), 4)) || std::isfinite(LogSumExp(s.data(), 4)));
}

TEST(VecOps, Add) {
  auto x = Random(33, 8), y = Random(33, 9);
  auto z = y;
  Add(x.data(), z.data(), 33);
  for (int i = 0; i < 33; ++i) EXPECT_EQ(z[i], y[i] + x[i]);
}

}  // namespace
}  // namespace suanli::vec
