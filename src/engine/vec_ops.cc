#include "engine/vec_ops.h"

#include <cmath>
#include <cstring>

#include "base/det_math.h"

#if defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
// One clone per ISA; the dynamic loader picks the best for this CPU. GCC vectorizes each.
#define SL_MULTIVERSION __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define SL_MULTIVERSION
#endif
// Helpers with loops must be inlined into each clone: called, they would run the default ISA.
#define SL_INLINE __attribute__((always_inline)) inline

namespace suanli::vec {
namespace {

// 16 floats as one vector (GCC/clang vector extension): lane-wise IEEE arithmetic, so every
// instruction set computes the same bits, and the loops below vectorize whatever the compiler
// would decide (left to it, the exp loops stayed scalar: floor and the clamps blocked it).
// These helpers are inlined into each clone; the 64-byte vector's calling convention, which GCC
// warns differs with and without AVX-512, never crosses a call.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float VF __attribute__((vector_size(16 * sizeof(float))));
typedef int32_t VI __attribute__((vector_size(16 * sizeof(int32_t))));

inline VF LoadV(const float* p) {
  VF v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void StoreV(float* p, VF v) { std::memcpy(p, &v, sizeof v); }

// e^x to ~2 ulp: x = n·ln2 + r, |r| <= ln2/2, e^r by a degree-6 polynomial, 2^n by exponent bits.
// n = x·log2(e) rounded to nearest by adding and subtracting 1.5·2^23 (exact for |n| < 2^22).
// Clamped first, written so NaN clamps too (comparisons with NaN are false). ExpV is the same
// formula lane by lane, so a value's e^x never depends on whether it fell in a vector or a tail.
constexpr float kRound = 12582912.0f;  // 1.5 · 2^23
inline float ExpApprox(float x) {
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  const float t = x * 1.44269504f + kRound;
  const float n = t - kRound;
  const float r = x - n * 0.693145752f - n * 1.42860677e-6f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t tb;
  std::memcpy(&tb, &t, sizeof tb);
  // t's low mantissa bits hold n + 2^22 (t is in [2^23, 2^24)).
  int32_t bits = (tb - 0x4B400000 + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
inline VF ExpV(VF x) {
  const VF lo = VF{} - 87.0f, hi = VF{} + 88.0f;
  x = x > lo ? x : lo;
  x = x < hi ? x : hi;
  const VF t = x * 1.44269504f + kRound;
  const VF n = t - kRound;
  const VF r = x - n * 0.693145752f - n * 1.42860677e-6f;
  VF p = VF{} + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  VI tb;
  std::memcpy(&tb, &t, sizeof tb);
  const VI bits = (tb - 0x4B400000 + 127) << 23;
  VF scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// Σ a[i]·b[i] with 16 independent partial sums, so the compiler vectorizes it without
// -ffast-math. Inlined into each multiversioned caller.
inline float DotInline(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

}  // namespace

SL_MULTIVERSION void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps) {
  const float ss = DotInline(x, x, n);
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

SL_MULTIVERSION void SiluMul(float* g, const float* u, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const VF x = LoadV(g + i);
    StoreV(g + i, x / (1.0f + ExpV(-x)) * LoadV(u + i));
  }
  for (; i < n; ++i) g[i] = g[i] / (1.0f + ExpApprox(-g[i])) * u[i];
}

SL_MULTIVERSION void GeluMul(float* g, const float* u, int64_t n) {
  constexpr float kA = -2.0f * 0.7978845608f, kB = 0.044715f;  // -2·√(2/π)
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const VF x = LoadV(g + i);
    StoreV(g + i, x / (1.0f + ExpV(kA * (x + kB * x * x * x))) * LoadV(u + i));
  }
  for (; i < n; ++i) {
    const float x = g[i];
    g[i] = x / (1.0f + ExpApprox(kA * (x + kB * x * x * x))) * u[i];
  }
}

// tanh(y): 2 / (1 + e^(-2y)) - 1, which cancels near 0, so |y| < 1/4 takes the odd Taylor series
// to y⁹ instead (its first omitted term is below 2e-9 there).
inline float TanhApprox(float y) {
  if (y > -0.25f && y < 0.25f) {
    const float y2 = y * y;
    return y *
           (1.0f + y2 * (-1.0f / 3 + y2 * (2.0f / 15 + y2 * (-17.0f / 315 + y2 * 62.0f / 2835))));
  }
  return 2.0f / (1.0f + ExpApprox(-2.0f * y)) - 1.0f;
}
inline VF TanhV(VF y) {
  const VF y2 = y * y;
  const VF series =
      y * (1.0f + y2 * (-1.0f / 3 + y2 * (2.0f / 15 + y2 * (-17.0f / 315 + y2 * 62.0f / 2835))));
  const VF exp_form = 2.0f / (1.0f + ExpV(-2.0f * y)) - 1.0f;
  return (y > -0.25f && y < 0.25f) ? series : exp_form;
}

SL_MULTIVERSION void SoftCap(float* x, float c, int64_t n) {
  // As the reference: x · (1/c), tanh, · c.
  const float inv = 1.0f / c;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) StoreV(x + i, TanhV(LoadV(x + i) * inv) * c);
  for (; i < n; ++i) x[i] = TanhApprox(x[i] * inv) * c;
}

SL_MULTIVERSION void Add(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

SL_MULTIVERSION void Scale(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

SL_MULTIVERSION float ExpSum(const float* x, int64_t n, float shift) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += ExpApprox(x[i + j] - shift);
  for (int j = 0; i < n; ++i, ++j) acc[j] += ExpApprox(x[i] - shift);
  for (int h = 8; h >= 1; h /= 2)
    for (int j = 0; j < h; ++j) acc[j] += acc[j + h];
  return acc[0];
}

float LogSumExp(const float* x, int64_t n) {
  if (n <= 0) return -INFINITY;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  if (!std::isfinite(mx)) return mx;
  return mx + static_cast<float>(det::Log(static_cast<double>(ExpSum(x, n, mx))));
}

namespace {

// G query heads over one block of keys: each kt vector is loaded once for all of them, and the G
// heads' 2 G sums are independent chains (one head's two chains alone waited on the add latency).
template <int G>
SL_INLINE void BlockScoresN(const float* q, const float* kt, int64_t head_dim, float scale,
                            float* scores, int64_t scores_stride) {
  VF even[G], odd[G], k0, k1;
  for (int g = 0; g < G; ++g) even[g] = odd[g] = VF{};
  int64_t d = 0;
  for (; d + 2 <= head_dim; d += 2) {
    std::memcpy(&k0, kt + d * kBlockKeys, sizeof k0);
    std::memcpy(&k1, kt + (d + 1) * kBlockKeys, sizeof k1);
    for (int g = 0; g < G; ++g) {
      even[g] += q[g * head_dim + d] * k0;
      odd[g] += q[g * head_dim + d + 1] * k1;
    }
  }
  if (d < head_dim) {
    std::memcpy(&k0, kt + d * kBlockKeys, sizeof k0);
    for (int g = 0; g < G; ++g) even[g] += q[g * head_dim + d] * k0;
  }
  for (int g = 0; g < G; ++g) {
    const VF r = (even[g] + odd[g]) * scale;
    std::memcpy(scores + g * scores_stride, &r, sizeof r);
  }
}

// out[g][i .. i + 16 C) += Σ_p w[g][p] · v_p for G heads and C vectors of dimensions: G · C
// independent chains sharing each loaded value vector.
template <int G, int C>
SL_INLINE void AccumulateN(const float* w, int64_t w_stride, const float* v, int64_t stride,
                           int64_t n, int64_t head_dim, float* out) {
  VF acc[G][C], x[C];
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < C; ++c) std::memcpy(&acc[g][c], out + g * head_dim + 16 * c, sizeof(VF));
  for (int64_t p = 0; p < n; ++p) {
    for (int c = 0; c < C; ++c) std::memcpy(&x[c], v + p * stride + 16 * c, sizeof(VF));
    for (int g = 0; g < G; ++g) {
      const float wp = w[g * w_stride + p];
      for (int c = 0; c < C; ++c) acc[g][c] += wp * x[c];
    }
  }
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < C; ++c) std::memcpy(out + g * head_dim + 16 * c, &acc[g][c], sizeof(VF));
}

template <int G>
SL_INLINE void AccumulateG(const float* w, int64_t w_stride, const float* v, int64_t stride,
                           int64_t n, int64_t head_dim, float* out) {
  int64_t i = 0;
  for (; i + 64 <= head_dim; i += 64)
    AccumulateN<G, 4>(w, w_stride, v + i, stride, n, head_dim, out + i);
  for (; i + 16 <= head_dim; i += 16)
    AccumulateN<G, 1>(w, w_stride, v + i, stride, n, head_dim, out + i);
  for (; i < head_dim; ++i)
    for (int g = 0; g < G; ++g)
      for (int64_t p = 0; p < n; ++p)
        out[g * head_dim + i] += w[g * w_stride + p] * v[p * stride + i];
}

}  // namespace

SL_MULTIVERSION void BlockScores(const float* q, int64_t n_q, const float* kt, int64_t head_dim,
                                 float scale, float* scores, int64_t scores_stride) {
  // One lane per position, written as a vector type: left to the auto-vectorizer, GCC vectorized
  // over dimensions with permutes and ran 5x slower. Lane-wise arithmetic, so every instruction
  // set computes the same sums; grouping heads changes only which sums run side by side.
  static_assert(kBlockKeys == 16, "one VF per block");
  int64_t g = 0;
  for (; g + 4 <= n_q; g += 4)
    BlockScoresN<4>(q + g * head_dim, kt, head_dim, scale, scores + g * scores_stride,
                    scores_stride);
  for (; g + 2 <= n_q; g += 2)
    BlockScoresN<2>(q + g * head_dim, kt, head_dim, scale, scores + g * scores_stride,
                    scores_stride);
  for (; g < n_q; ++g)
    BlockScoresN<1>(q + g * head_dim, kt, head_dim, scale, scores + g * scores_stride,
                    scores_stride);
}

SL_MULTIVERSION void SoftmaxInPlace(float* scores, int64_t n) {
  // Max and sum in 16 lanes (lane j takes the elements i ≡ j mod 16, in order), then a fixed tree.
  VF m = VF{} - INFINITY;
  int64_t p = 0;
  for (; p + 16 <= n; p += 16) {
    const VF x = LoadV(scores + p);
    m = x > m ? x : m;
  }
  alignas(64) float lane[16];
  StoreV(lane, m);
  for (int64_t j = 0; p < n; ++p, ++j) lane[j] = scores[p] > lane[j] ? scores[p] : lane[j];
  for (int h = 8; h >= 1; h /= 2)
    for (int j = 0; j < h; ++j) lane[j] = lane[j + h] > lane[j] ? lane[j + h] : lane[j];
  const float mx = lane[0];
  VF sum = VF{};
  for (p = 0; p + 16 <= n; p += 16) {
    const VF e = ExpV(LoadV(scores + p) - mx);
    StoreV(scores + p, e);
    sum += e;
  }
  StoreV(lane, sum);
  for (int64_t j = 0; p < n; ++p, ++j) lane[j] += scores[p] = ExpApprox(scores[p] - mx);
  for (int h = 8; h >= 1; h /= 2)
    for (int j = 0; j < h; ++j) lane[j] += lane[j + h];
  const float inv = 1.0f / lane[0];
  for (p = 0; p + 16 <= n; p += 16) StoreV(scores + p, LoadV(scores + p) * inv);
  for (; p < n; ++p) scores[p] *= inv;
}

SL_MULTIVERSION void AccumulateRows(const float* w, int64_t w_stride, int64_t n_q, const float* v,
                                    int64_t stride, int64_t n, int64_t head_dim, float* out) {
  // Dimensions in registers across all rows (out may alias nothing the compiler can see, so a
  // plain loop stored and reloaded it every row); each out[i] is still the same sum, rows
  // ascending.
  int64_t g = 0;
  for (; g + 4 <= n_q; g += 4)
    AccumulateG<4>(w + g * w_stride, w_stride, v, stride, n, head_dim, out + g * head_dim);
  for (; g < n_q; ++g)
    AccumulateG<1>(w + g * w_stride, w_stride, v, stride, n, head_dim, out + g * head_dim);
}

}  // namespace suanli::vec
