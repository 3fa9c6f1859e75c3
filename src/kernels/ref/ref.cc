// Scalar reference: row conversions, activation quantizers and dot products for every supported
// type. SIMD variants are tested against these; they define the numerics.
//
// Rounding rules (chosen to match ggml):
//   * weight quantizers Q4_0/Q5_0 truncate x/d + 8.5 (resp. 16.5) like quantize_row_q4_0_ref,
//     Q8_0 uses roundf like quantize_row_q8_0_ref;
//   * activation quantizers (Q8_0, Q8_K) round half to even with id = 127 / amax, as ggml's
//     AVX quantize_row_q8_0 does, so SIMD variants reproduce them bit for bit (a block with
//     amax < 2^-120, whose id would overflow, quantizes to zeros: ActInvStep).
//
// Dot products follow the canonical reduction order of kernels.h, which every variant reproduces
// bit for bit (only the float operations are ordered; integer sums are exact in any order):
//   * Q4_0, Q5_0, Q8_0 (Q8_0 activations), block b of 32:
//       S_b = Σ_i wl_i·xq_i (int; wl = q - 8, q - 16, q),  D_b = f32(w.d_b) × f32(x.d_b) (exact),
//       A[b mod 16] = fma((float)S_b, D_b, A[b mod 16]);
//   * IQ4_NL: as Q8_0 with wl = kIq4nlValues[q];
//   * Q4_1, Q5_1: S_b = Σ_i q_i·xq_i, T_b = Σ_i xq_i (int); A[b mod 16] = fma((float)S_b,
//       f32(w.d)·f32(x.d), A[b mod 16]), then A[b mod 16] = fma((float)T_b, f32(w.m)·f32(x.d),
//       ...);
//   * Q4_K, Q5_K (Q8_K activations), super-block s of 256:
//       SI_s = Σ_j sc_j·Σ_{i in j} q_i·xq_i,  SM_s = Σ_j m_j·(bsum_2j + bsum_2j+1)   (int),
//       v_s = f32(d)·(float)SI_s − f32(dmin)·(float)SM_s   (two products and a difference, each
//       rounded), A[s mod 16] = fma(x.d_s, v_s, A[s mod 16]);
//   * Q6_K: SI_s = Σ_j sc_j·Σ_{i in j} (q_i − 32)·xq_i (int, 16 groups of 16),
//       v_s = f32(d)·(float)SI_s, A[s mod 16] = fma(x.d_s, v_s, A[s mod 16]);
//   * Q2_K: SI_s = Σ_g sc_g·Σ_{i in g} q_i·xq_i, SM_s = Σ_g m_g·bsum_g (int, 16 groups of 16),
//       v_s = f32(d)·(float)SI_s − f32(dmin)·(float)SM_s, A[s mod 16] = fma(x.d_s, v_s, ...);
//   * Q3_K: SI_s = Σ_g (sc_g − 32)·Σ_{i in g} (q_i − 4)·xq_i (int, 16 groups of 16),
//       v_s = f32(d)·(float)SI_s, A[s mod 16] = fma(x.d_s, v_s, A[s mod 16]);
//   * IQ4_XS: SI_s = Σ_j (ls_j − 32)·Σ_{i in j} kIq4nlValues[q_i]·xq_i (int, 8 sub-blocks of 32),
//       v_s = f32(d)·(float)SI_s, A[s mod 16] = fma(x.d_s, v_s, A[s mod 16]);
//   * F32, F16, BF16 (f32 activations): A[i mod 16] = fma(f32(w_i), x_i, A[i mod 16]);
//   * A[0..15] start at +0 and are visited in ascending b / s / i; then for h = 8, 4, 2, 1:
//     A[i] = A[i] + A[i + h] (i < h), and the result is A[0].
// The build passes -ffp-contract=off, so the products and sums below round exactly as written.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/fp16.h"
#include "kernels/kernels_internal.h"
#include "kernels/quant_blocks.h"

namespace suanli::kernels::ref {
namespace {

// Round half to even for |v| < 2^22 (the float adder does the rounding).
inline int NearestInt(float v) {
  float t = v + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &t, 4);
  return (i & 0x007fffff) - 0x00400000;
}

inline float H(uint16_t h) { return Fp16ToFp32(h); }

// ---- activation quantizers ------------------------------------------------------------------

void QuantQ8_0(const float* x, block_q8_0* y, int64_t k) {
  for (int64_t b = 0; b < k / kQK; ++b, x += kQK) {
    float amax = 0;
    for (int i = 0; i < kQK; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = ActInvStep(amax);
    y[b].d = Fp32ToFp16(d);
    for (int i = 0; i < kQK; ++i) y[b].qs[i] = static_cast<int8_t>(NearestInt(x[i] * id));
  }
}

void QuantQ8_K(const float* x, block_q8_K* y, int64_t k) {
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K) {
    float amax = 0;
    for (int i = 0; i < kQK_K; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float id = ActInvStep(amax);
    y[b].d = amax / 127.0f;
    for (int i = 0; i < kQK_K; ++i)
      y[b].qs[i] = static_cast<int8_t>(std::clamp(NearestInt(x[i] * id), -127, 127));
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += y[b].qs[16 * j + i];
      y[b].bsums[j] = static_cast<int16_t>(s);
    }
  }
}

// ---- weight quantizers ----------------------------------------------------------------------

// The element of largest magnitude, with its sign (the first one on ties), as ggml's reference
// quantizers pick it.
float SignedAbsMax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i)
    if (amax < std::fabs(x[i])) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  return max;
}

void QuantQ4_0(const float* x, block_q4_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float max = SignedAbsMax(x, kQK);
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = Fp32ToFp16(d);
    for (int i = 0; i < 16; ++i) {
      const uint8_t a = static_cast<uint8_t>(
          std::min(15, static_cast<int>(static_cast<int8_t>(x[i] * id + 8.5f))));
      const uint8_t c = static_cast<uint8_t>(
          std::min(15, static_cast<int>(static_cast<int8_t>(x[i + 16] * id + 8.5f))));
      y[b].qs[i] = static_cast<uint8_t>(a | (c << 4));
    }
  }
}

void QuantQ5_0(const float* x, block_q5_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float max = SignedAbsMax(x, kQK);
    const float d = max / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = Fp32ToFp16(d);
    uint32_t qh = 0;
    for (int i = 0; i < 16; ++i) {
      const int a = std::min(31, static_cast<int>(static_cast<int8_t>(x[i] * id + 16.5f)));
      const int c = std::min(31, static_cast<int>(static_cast<int8_t>(x[i + 16] * id + 16.5f)));
      y[b].qs[i] = static_cast<uint8_t>((a & 0xF) | ((c & 0xF) << 4));
      qh |= static_cast<uint32_t>((a >> 4) & 1) << i;
      qh |= static_cast<uint32_t>((c >> 4) & 1) << (i + 16);
    }
    std::memcpy(y[b].qh, &qh, 4);
  }
}

void QuantQ8_0W(const float* x, block_q8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0;
    for (int i = 0; i < kQK; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = Fp32ToFp16(d);
    for (int i = 0; i < kQK; ++i) y[b].qs[i] = static_cast<int8_t>(std::roundf(x[i] * id));
  }
}

// Q4_1 / Q5_1: the block's range in 2^bits - 1 steps from its minimum, rounded to nearest.
template <int kMaxQ>
void QuantMinMaxBlock(const float* x, uint16_t* dh, uint16_t* mh, int* q) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < kQK; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const float d = (hi - lo) / kMaxQ;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  *dh = Fp32ToFp16(d);
  *mh = Fp32ToFp16(lo);
  for (int i = 0; i < kQK; ++i)
    q[i] = std::clamp(static_cast<int>((x[i] - lo) * id + 0.5f), 0, kMaxQ);
}

void QuantQ4_1(const float* x, block_q4_1* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    int q[kQK];
    QuantMinMaxBlock<15>(x, &y[b].d, &y[b].m, q);
    for (int i = 0; i < 16; ++i) y[b].qs[i] = static_cast<uint8_t>(q[i] | (q[i + 16] << 4));
  }
}

void QuantQ5_1(const float* x, block_q5_1* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    int q[kQK];
    QuantMinMaxBlock<31>(x, &y[b].d, &y[b].m, q);
    uint32_t qh = 0;
    for (int i = 0; i < 16; ++i) {
      y[b].qs[i] = static_cast<uint8_t>((q[i] & 15) | ((q[i + 16] & 15) << 4));
      qh |= static_cast<uint32_t>(q[i] >> 4) << i;
      qh |= static_cast<uint32_t>(q[i + 16] >> 4) << (i + 16);
    }
    std::memcpy(y[b].qh, &qh, 4);
  }
}

// Index of the kIq4nlValues level nearest to v (a value in level units).
int NearestIq4nl(float v) {
  int best = 0;
  float be = std::fabs(v - kIq4nlValues[0]);
  for (int l = 1; l < 16; ++l) {
    const float e = std::fabs(v - kIq4nlValues[l]);
    if (e < be) {
      be = e;
      best = l;
    }
  }
  return best;
}

// Fits x ≈ s * level(x / s) for n elements, level(v) being the representable level nearest v
// (in level units): candidate steps put the largest-magnitude element on one of the outer levels
// lo, hi (either way round), times 1 ± 2% steps up to 12%, each refined once by least squares for
// its levels; returns the step with the smallest squared error (0 for an all-zero input).
template <typename Level>
float FitScale(const float* x, int n, float lo, float hi, Level level) {
  const float max = SignedAbsMax(x, n);
  if (max == 0.0f) return 0.0f;
  float best_s = max / lo, best_err = INFINITY;
  for (int c = -6; c <= 6; ++c)
    for (const float top : {lo, hi}) {
      const float s0 = max / (top * (1.0f + 0.02f * c));
      if (!(std::fabs(s0) > 0.0f)) continue;
      float sxv = 0, svv = 0;
      for (int i = 0; i < n; ++i) {
        const float v = level(x[i] / s0);
        sxv += x[i] * v;
        svv += v * v;
      }
      const float sc = svv > 0 && sxv != 0 ? sxv / svv : s0;
      float err = 0;
      for (int i = 0; i < n; ++i) {
        const float e = x[i] - sc * level(x[i] / sc);
        err += e * e;
      }
      if (err < best_err) {
        best_err = err;
        best_s = sc;
      }
    }
  return best_s;
}

float FitIq4nl(const float* x, int n) {
  return FitScale(x, n, kIq4nlValues[0], kIq4nlValues[15],
                  [](float v) { return static_cast<float>(kIq4nlValues[NearestIq4nl(v)]); });
}

void QuantIq4nl(const float* x, block_iq4_nl* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    y[b].d = Fp32ToFp16(FitIq4nl(x, kQK));
    const float d = H(y[b].d);
    int q[kQK];
    for (int i = 0; i < kQK; ++i) q[i] = d != 0.0f ? NearestIq4nl(x[i] / d) : 8;
    for (int i = 0; i < 16; ++i) y[b].qs[i] = static_cast<uint8_t>(q[i] | (q[i + 16] << 4));
  }
}

void QuantIq4xs(const float* x, block_iq4_xs* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float s[8];
    for (int j = 0; j < 8; ++j) s[j] = FitIq4nl(x + 32 * j, 32);
    const float max = SignedAbsMax(s, 8);
    // Sub-block scales are d * (ls - 32) with ls - 32 in [-32, 31]: the largest one maps to -32.
    const uint16_t dh = Fp32ToFp16(max / -32);
    const float d = H(dh);
    y[b].d = dh;
    y[b].scales_h = 0;
    std::memset(y[b].scales_l, 0, 4);
    for (int j = 0; j < 8; ++j) {
      const int l = d != 0.0f ? std::clamp(NearestInt(s[j] / d), -32, 31) : 0;
      const int ls = l + 32;
      y[b].scales_l[j / 2] |= static_cast<uint8_t>((ls & 15) << (4 * (j % 2)));
      y[b].scales_h = static_cast<uint16_t>(y[b].scales_h | ((ls >> 4) << (2 * j)));
      const float dl = d * l;
      int q[32];
      for (int i = 0; i < 32; ++i) q[i] = dl != 0.0f ? NearestIq4nl(x[32 * j + i] / dl) : 8;
      for (int i = 0; i < 16; ++i)
        y[b].qs[16 * j + i] = static_cast<uint8_t>(q[i] | (q[i + 16] << 4));
    }
  }
}

// Q3_K's levels: integers in [-4, 3].
float FitSymQ3(const float* x, int n) {
  return FitScale(x, n, -4.0f, 3.0f,
                  [](float v) { return static_cast<float>(std::clamp(NearestInt(v), -4, 3)); });
}

void QuantQ3_K(const float* x, block_q3_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float s[16];
    for (int g = 0; g < 16; ++g) s[g] = FitSymQ3(x + 16 * g, 16);
    const float max = SignedAbsMax(s, 16);
    const uint16_t dh = Fp32ToFp16(max / -32);  // the largest scale maps to -32
    const float d = H(dh);
    y[b].d = dh;
    int8_t sc[16];
    uint8_t u[256];  // level + 4, in [0, 7]
    for (int g = 0; g < 16; ++g) {
      sc[g] = static_cast<int8_t>(d != 0.0f ? std::clamp(NearestInt(s[g] / d), -32, 31) : 0);
      const float step = d * sc[g];
      for (int i = 0; i < 16; ++i) {
        const int q = step != 0.0f ? std::clamp(NearestInt(x[16 * g + i] / step), -4, 3) : 0;
        u[16 * g + i] = static_cast<uint8_t>(q + 4);
      }
    }
    PackScalesQ3K(sc, y[b].scales);
    std::memset(y[b].hmask, 0, 32);
    std::memset(y[b].qs, 0, 64);
    for (int h = 0; h < 2; ++h)
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < 32; ++l) {
          const uint8_t v = u[128 * h + 32 * j + l];
          y[b].qs[32 * h + l] = static_cast<uint8_t>(y[b].qs[32 * h + l] | ((v & 3) << (2 * j)));
          y[b].hmask[l] = static_cast<uint8_t>(y[b].hmask[l] | ((v >> 2) << (4 * h + j)));
        }
  }
}

// Fits x ≈ s * q - m (q in [0, nmax], m >= 0) for one sub-block of n elements by trying a few
// step sizes between the min-max step and 80% of it, refining each by least squares.
void FitScaleMin(const float* x, int n, int nmax, float* s_out, float* m_out) {
  float lo = 0, hi = 0;
  lo = *std::min_element(x, x + n);
  hi = *std::max_element(x, x + n);
  lo = std::min(lo, 0.0f);
  if (hi <= lo) {
    *s_out = 0;
    *m_out = -lo;
    return;
  }
  float best_err = INFINITY, best_s = (hi - lo) / nmax, best_m = -lo;
  for (int c = 0; c < 6; ++c) {
    const float s0 = (hi - lo) / nmax * (1.0f - 0.04f * c);
    // Quantize with (s0, lo), then least-squares (s, mn) for those levels.
    double sq = 0, sqq = 0, sx = 0, sqx = 0;
    int q[256];
    for (int i = 0; i < n; ++i) {
      q[i] = std::clamp(static_cast<int>(std::lround((x[i] - lo) / s0)), 0, nmax);
      sq += q[i];
      sqq += q[i] * q[i];
      sx += x[i];
      sqx += q[i] * x[i];
    }
    const double det = n * sqq - sq * sq;
    float s = s0, mn = lo;
    if (det > 0) {
      s = static_cast<float>((n * sqx - sq * sx) / det);
      mn = static_cast<float>((sx - s * sq) / n);
    }
    if (mn > 0 || s <= 0) {
      mn = std::min(lo, 0.0f);
      s = sqq > 0 ? static_cast<float>((sqx - mn * sq) / sqq) : s0;
      if (s <= 0) s = s0;
    }
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const int qq = std::clamp(static_cast<int>(std::lround((x[i] - mn) / s)), 0, nmax);
      const float e = x[i] - (s * qq + mn);
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best_s = s;
      best_m = -mn;
    }
  }
  *s_out = best_s;
  *m_out = best_m;
}

void QuantQ2_K(const float* x, block_q2_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float s[16], m[16];
    for (int g = 0; g < 16; ++g) FitScaleMin(x + 16 * g, 16, 3, &s[g], &m[g]);
    const float max_s = *std::max_element(s, s + 16), max_m = *std::max_element(m, m + 16);
    const uint16_t dh = Fp32ToFp16(max_s / 15), mh = Fp32ToFp16(max_m / 15);
    const float d = H(dh), dmin = H(mh);
    y[b].d = dh;
    y[b].dmin = mh;
    uint8_t q[256];
    for (int g = 0; g < 16; ++g) {
      const int sc = d > 0 ? std::clamp(NearestInt(s[g] / d), 0, 15) : 0;
      const int mi = dmin > 0 ? std::clamp(NearestInt(m[g] / dmin), 0, 15) : 0;
      y[b].scales[g] = static_cast<uint8_t>(sc | (mi << 4));
      const float step = d * sc, off = dmin * mi;
      for (int i = 0; i < 16; ++i) {
        const int v = step > 0 ? NearestInt((x[16 * g + i] + off) / step) : 0;
        q[16 * g + i] = static_cast<uint8_t>(std::clamp(v, 0, 3));
      }
    }
    std::memset(y[b].qs, 0, 64);
    for (int h = 0; h < 2; ++h)
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < 32; ++l)
          y[b].qs[32 * h + l] =
              static_cast<uint8_t>(y[b].qs[32 * h + l] | (q[128 * h + 32 * j + l] << (2 * j)));
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): 8 sub-blocks of 32 → q[256], packed scales.
void QuantKScaleMin(const float* x, int nmax, uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales,
                    uint8_t* q) {
  float s[8], m[8];
  for (int j = 0; j < 8; ++j) FitScaleMin(x + 32 * j, 32, nmax, &s[j], &m[j]);
  const float max_s = *std::max_element(s, s + 8), max_m = *std::max_element(m, m + 8);
  const uint16_t dh = Fp32ToFp16(max_s / 63), mh = Fp32ToFp16(max_m / 63);
  const float d = H(dh), dmin = H(mh);
  uint8_t sc[8], mi[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = d > 0 ? static_cast<uint8_t>(std::clamp(NearestInt(s[j] / d), 0, 63)) : 0;
    mi[j] = dmin > 0 ? static_cast<uint8_t>(std::clamp(NearestInt(m[j] / dmin), 0, 63)) : 0;
  }
  PackScalesMinsK4(sc, mi, scales);
  *d_out = dh;
  *dmin_out = mh;
  for (int j = 0; j < 8; ++j) {
    const float step = d * sc[j], off = dmin * mi[j];
    for (int i = 0; i < 32; ++i) {
      const int v = step > 0 ? NearestInt((x[32 * j + i] + off) / step) : 0;
      q[32 * j + i] = static_cast<uint8_t>(std::clamp(v, 0, nmax));
    }
  }
}

void QuantQ4_K(const float* x, block_q4_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    uint8_t q[256];
    QuantKScaleMin(x, 15, &y[b].d, &y[b].dmin, y[b].scales, q);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        y[b].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

void QuantQ5_K(const float* x, block_q5_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    uint8_t q[256];
    QuantKScaleMin(x, 31, &y[b].d, &y[b].dmin, y[b].scales, q);
    std::memset(y[b].qh, 0, 32);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const uint8_t a = q[64 * c + l], h = q[64 * c + 32 + l];
        y[b].qs[32 * c + l] = static_cast<uint8_t>((a & 15) | ((h & 15) << 4));
        y[b].qh[l] |= static_cast<uint8_t>(((a >> 4) << (2 * c)) | ((h >> 4) << (2 * c + 1)));
      }
  }
}

void QuantQ6_K(const float* x, block_q6_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float s[16];
    for (int j = 0; j < 16; ++j) {
      float amax = 0, max = 0;
      for (int i = 0; i < 16; ++i)
        if (amax < std::fabs(x[16 * j + i])) {
          amax = std::fabs(x[16 * j + i]);
          max = x[16 * j + i];
        }
      s[j] = max / -32;
    }
    float amax = 0;
    for (int j = 0; j < 16; ++j) amax = std::max(amax, std::fabs(s[j]));
    const uint16_t dh = Fp32ToFp16(amax / 127);
    const float d = H(dh);
    y[b].d = dh;
    uint8_t q[256];
    for (int j = 0; j < 16; ++j) {
      const int sc = d > 0 ? std::clamp(NearestInt(s[j] / d), -128, 127) : 0;
      y[b].scales[j] = static_cast<int8_t>(sc);
      const float step = d * sc;
      for (int i = 0; i < 16; ++i) {
        const int v = step != 0 ? NearestInt(x[16 * j + i] / step) + 32 : 32;
        q[16 * j + i] = static_cast<uint8_t>(std::clamp(v, 0, 63));
      }
    }
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 32; ++l) {
        const uint8_t* qq = q + 128 * h;
        y[b].ql[64 * h + l] = static_cast<uint8_t>((qq[l] & 15) | ((qq[64 + l] & 15) << 4));
        y[b].ql[64 * h + 32 + l] =
            static_cast<uint8_t>((qq[32 + l] & 15) | ((qq[96 + l] & 15) << 4));
        y[b].qh[32 * h + l] =
            static_cast<uint8_t>((qq[l] >> 4) | ((qq[32 + l] >> 4) << 2) |
                                 ((qq[64 + l] >> 4) << 4) | ((qq[96 + l] >> 4) << 6));
      }
  }
}

// ---- dequantizers ---------------------------------------------------------------------------

// Unpacks the 256 integer levels of K-quant blocks (no scales).
void LevelsQ4_K(const block_q4_K& b, uint8_t* q) {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = b.qs[32 * c + l] & 15;
      q[64 * c + 32 + l] = b.qs[32 * c + l] >> 4;
    }
}
void LevelsQ5_K(const block_q5_K& b, uint8_t* q) {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] =
          static_cast<uint8_t>((b.qs[32 * c + l] & 15) | (((b.qh[l] >> (2 * c)) & 1) << 4));
      q[64 * c + 32 + l] =
          static_cast<uint8_t>((b.qs[32 * c + l] >> 4) | (((b.qh[l] >> (2 * c + 1)) & 1) << 4));
    }
}
void LevelsQ6_K(const block_q6_K& b, int8_t* q) {  // q - 32
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* ql = b.ql + 64 * h;
      const uint8_t qh = b.qh[32 * h + l];
      int8_t* o = q + 128 * h;
      o[l] = static_cast<int8_t>(((ql[l] & 15) | ((qh & 3) << 4)) - 32);
      o[32 + l] = static_cast<int8_t>(((ql[32 + l] & 15) | (((qh >> 2) & 3) << 4)) - 32);
      o[64 + l] = static_cast<int8_t>(((ql[l] >> 4) | (((qh >> 4) & 3) << 4)) - 32);
      o[96 + l] = static_cast<int8_t>(((ql[32 + l] >> 4) | (((qh >> 6) & 3) << 4)) - 32);
    }
}
void LevelsQ2_K(const block_q2_K& b, uint8_t* q) {
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) q[128 * h + 32 * j + l] = (b.qs[32 * h + l] >> (2 * j)) & 3;
}
void LevelsQ3_K(const block_q3_K& b, int8_t* q) {  // signed, in [-4, 3]
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) {
        const int low = (b.qs[32 * h + l] >> (2 * j)) & 3;
        const int hi = (b.hmask[l] >> (4 * h + j)) & 1;
        q[128 * h + 32 * j + l] = static_cast<int8_t>((low | (hi << 2)) - 4);
      }
}
int Q5_0Level(const block_q5_0& b, int i) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  const int lo = i < 16 ? (b.qs[i] & 15) : (b.qs[i - 16] >> 4);
  return lo | static_cast<int>(((qh >> i) & 1) << 4);
}

int Q5_1Level(const block_q5_1& b, int i) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  const int lo = i < 16 ? (b.qs[i] & 15) : (b.qs[i - 16] >> 4);
  return lo | static_cast<int>(((qh >> i) & 1) << 4);
}
int Nibble(const uint8_t* qs, int i) { return i < 16 ? (qs[i] & 15) : (qs[i - 16] >> 4); }

// ---- dots -----------------------------------------------------------------------------------

float DotQ4_0(const block_q4_0* w, const block_q8_0* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    int s = 0;
    for (int i = 0; i < 16; ++i)
      s += ((w[b].qs[i] & 15) - 8) * x[b].qs[i] + ((w[b].qs[i] >> 4) - 8) * x[b].qs[i + 16];
    CanonFma(&acc, b, static_cast<float>(s), H(w[b].d) * H(x[b].d));
  }
  return CanonReduce(&acc);
}
float DotQ5_0(const block_q5_0* w, const block_q8_0* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    int s = 0;
    for (int i = 0; i < 32; ++i) s += (Q5_0Level(w[b], i) - 16) * x[b].qs[i];
    CanonFma(&acc, b, static_cast<float>(s), H(w[b].d) * H(x[b].d));
  }
  return CanonReduce(&acc);
}
float DotQ8_0(const block_q8_0* w, const block_q8_0* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    int s = 0;
    for (int i = 0; i < 32; ++i) s += w[b].qs[i] * x[b].qs[i];
    CanonFma(&acc, b, static_cast<float>(s), H(w[b].d) * H(x[b].d));
  }
  return CanonReduce(&acc);
}
// Q4_1 / Q5_1: S_b = Σ q·xq and T_b = Σ xq exactly; A[b mod 16] += S_b·(d·x.d), then
// += T_b·(m·x.d), two fmas.
template <typename Block, int (*Level)(const Block&, int)>
float DotMin(const Block* w, const block_q8_0* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    int s = 0, t = 0;
    for (int i = 0; i < 32; ++i) {
      s += Level(w[b], i) * x[b].qs[i];
      t += x[b].qs[i];
    }
    const float xd = H(x[b].d);
    CanonFma(&acc, b, static_cast<float>(s), H(w[b].d) * xd);
    CanonFma(&acc, b, static_cast<float>(t), H(w[b].m) * xd);
  }
  return CanonReduce(&acc);
}
int Q4_1Level(const block_q4_1& b, int i) { return Nibble(b.qs, i); }

float DotIq4nl(const block_iq4_nl* w, const block_q8_0* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    int s = 0;
    for (int i = 0; i < 32; ++i) s += kIq4nlValues[Nibble(w[b].qs, i)] * x[b].qs[i];
    CanonFma(&acc, b, static_cast<float>(s), H(w[b].d) * H(x[b].d));
  }
  return CanonReduce(&acc);
}

float DotQ2_K(const block_q2_K* w, const block_q8_K* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t q[256];
    LevelsQ2_K(w[b], q);
    int si = 0, sm = 0;
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += q[16 * g + i] * x[b].qs[16 * g + i];
      si += (w[b].scales[g] & 15) * s;
      sm += (w[b].scales[g] >> 4) * x[b].bsums[g];
    }
    const float v = H(w[b].d) * static_cast<float>(si) - H(w[b].dmin) * static_cast<float>(sm);
    CanonFma(&acc, b, x[b].d, v);
  }
  return CanonReduce(&acc);
}

float DotQ3_K(const block_q3_K* w, const block_q8_K* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    int8_t q[256], sc[16];
    LevelsQ3_K(w[b], q);
    UnpackScalesQ3K(w[b].scales, sc);
    int si = 0;
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += q[16 * g + i] * x[b].qs[16 * g + i];
      si += sc[g] * s;
    }
    CanonFma(&acc, b, x[b].d, H(w[b].d) * static_cast<float>(si));
  }
  return CanonReduce(&acc);
}

float DotIq4xs(const block_iq4_xs* w, const block_q8_K* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    int si = 0;
    for (int j = 0; j < 8; ++j) {
      int s = 0;
      for (int i = 0; i < 32; ++i)
        s += kIq4nlValues[Nibble(w[b].qs + 16 * j, i)] * x[b].qs[32 * j + i];
      si += (ScaleIq4Xs(w[b], j) - 32) * s;
    }
    CanonFma(&acc, b, x[b].d, H(w[b].d) * static_cast<float>(si));
  }
  return CanonReduce(&acc);
}

template <typename Block, void (*Levels)(const Block&, uint8_t*)>
float DotKScaleMin(const Block* w, const block_q8_K* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t q[256], sc[8], m[8];
    Levels(w[b], q);
    UnpackScalesMinsK4(w[b].scales, sc, m);
    int si = 0, sm = 0;
    for (int j = 0; j < 8; ++j) {
      int s = 0;
      for (int i = 0; i < 32; ++i) s += q[32 * j + i] * x[b].qs[32 * j + i];
      si += sc[j] * s;
      sm += m[j] * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
    }
    const float v = H(w[b].d) * static_cast<float>(si) - H(w[b].dmin) * static_cast<float>(sm);
    CanonFma(&acc, b, x[b].d, v);
  }
  return CanonReduce(&acc);
}
float DotQ6_K(const block_q6_K* w, const block_q8_K* x, int64_t nb) {
  CanonAcc acc;
  CanonInit(&acc);
  for (int64_t b = 0; b < nb; ++b) {
    int8_t q[256];
    LevelsQ6_K(w[b], q);
    int si = 0;
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += q[16 * j + i] * x[b].qs[16 * j + i];
      si += w[b].scales[j] * s;
    }
    CanonFma(&acc, b, x[b].d, H(w[b].d) * static_cast<float>(si));
  }
  return CanonReduce(&acc);
}

void GemmRef(TensorType t, const void* w, size_t w_row_bytes, int64_t k, const void* xq,
             int64_t n_tok, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  size_t xb = 0;
  switch (t) {
    case TensorType::kF32:
    case TensorType::kF16:
    case TensorType::kBF16:
      xb = static_cast<size_t>(k) * 4;
      break;
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K:
    case TensorType::kIQ4_XS:
    case TensorType::kQ3_K:
    case TensorType::kQ2_K:
      xb = static_cast<size_t>(k / kQK_K) * sizeof(block_q8_K);
      break;
    default:
      xb = static_cast<size_t>(k / kQK) * sizeof(block_q8_0);
  }
  for (int64_t t_i = 0; t_i < n_tok; ++t_i)
    for (int64_t r = r0; r < r1; ++r)
      y[t_i * ldy + r] = DotRow(t, static_cast<const uint8_t*>(w) + r * w_row_bytes,
                                static_cast<const uint8_t*>(xq) + t_i * xb, k);
}

template <TensorType T>
void GemmT(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok, float* y,
           int64_t ldy, int64_t r0, int64_t r1) {
  GemmRef(T, w, w_row_bytes, k, xq, n_tok, y, ldy, r0, r1);
}

}  // namespace

void QuantizeQ8_0(const float* x, void* dst, int64_t k) {
  QuantQ8_0(x, static_cast<block_q8_0*>(dst), k);
}
void QuantizeQ8_K(const float* x, void* dst, int64_t k) {
  QuantQ8_K(x, static_cast<block_q8_K*>(dst), k);
}

void DequantizeRow(TensorType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case TensorType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case TensorType::kF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Fp16ToFp32(s[i]);
      return;
    }
    case TensorType::kBF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFp32(s[i]);
      return;
    }
    case TensorType::kQ4_0: {
      const block_q4_0* b = static_cast<const block_q4_0*>(src);
      for (int64_t j = 0; j < n / kQK; ++j, dst += kQK) {
        const float d = H(b[j].d);
        for (int i = 0; i < 16; ++i) {
          dst[i] = d * ((b[j].qs[i] & 15) - 8);
          dst[i + 16] = d * ((b[j].qs[i] >> 4) - 8);
        }
      }
      return;
    }
    case TensorType::kQ5_0: {
      const block_q5_0* b = static_cast<const block_q5_0*>(src);
      for (int64_t j = 0; j < n / kQK; ++j, dst += kQK) {
        const float d = H(b[j].d);
        for (int i = 0; i < 32; ++i) dst[i] = d * (Q5_0Level(b[j], i) - 16);
      }
      return;
    }
    case TensorType::kQ8_0: {
      const block_q8_0* b = static_cast<const block_q8_0*>(src);
      for (int64_t j = 0; j < n / kQK; ++j, dst += kQK) {
        const float d = H(b[j].d);
        for (int i = 0; i < 32; ++i) dst[i] = d * b[j].qs[i];
      }
      return;
    }
    case TensorType::kQ4_1: {
      const block_q4_1* b = static_cast<const block_q4_1*>(src);
      for (int64_t j = 0; j < n / kQK; ++j, dst += kQK) {
        const float d = H(b[j].d), m = H(b[j].m);
        for (int i = 0; i < 32; ++i) dst[i] = d * Q4_1Level(b[j], i) + m;
      }
      return;
    }
    case TensorType::kQ5_1: {
      const block_q5_1* b = static_cast<const block_q5_1*>(src);
      for (int64_t j = 0; j < n / kQK; ++j, dst += kQK) {
        const float d = H(b[j].d), m = H(b[j].m);
        for (int i = 0; i < 32; ++i) dst[i] = d * Q5_1Level(b[j], i) + m;
      }
      return;
    }
    case TensorType::kIQ4_NL: {
      const block_iq4_nl* b = static_cast<const block_iq4_nl*>(src);
      for (int64_t j = 0; j < n / kQK; ++j, dst += kQK) {
        const float d = H(b[j].d);
        for (int i = 0; i < 32; ++i) dst[i] = d * kIq4nlValues[Nibble(b[j].qs, i)];
      }
      return;
    }
    case TensorType::kQ2_K: {
      const block_q2_K* b = static_cast<const block_q2_K*>(src);
      for (int64_t j = 0; j < n / kQK_K; ++j, dst += kQK_K) {
        uint8_t q[256];
        LevelsQ2_K(b[j], q);
        const float d = H(b[j].d), dmin = H(b[j].dmin);
        for (int g = 0; g < 16; ++g) {
          const float dl = d * (b[j].scales[g] & 15), ml = dmin * (b[j].scales[g] >> 4);
          for (int i = 0; i < 16; ++i) dst[16 * g + i] = dl * q[16 * g + i] - ml;
        }
      }
      return;
    }
    case TensorType::kQ3_K: {
      const block_q3_K* b = static_cast<const block_q3_K*>(src);
      for (int64_t j = 0; j < n / kQK_K; ++j, dst += kQK_K) {
        int8_t q[256], sc[16];
        LevelsQ3_K(b[j], q);
        UnpackScalesQ3K(b[j].scales, sc);
        const float d = H(b[j].d);
        for (int g = 0; g < 16; ++g) {
          const float dl = d * sc[g];
          for (int i = 0; i < 16; ++i) dst[16 * g + i] = dl * q[16 * g + i];
        }
      }
      return;
    }
    case TensorType::kIQ4_XS: {
      const block_iq4_xs* b = static_cast<const block_iq4_xs*>(src);
      for (int64_t j = 0; j < n / kQK_K; ++j, dst += kQK_K) {
        const float d = H(b[j].d);
        for (int s = 0; s < 8; ++s) {
          const float dl = d * (ScaleIq4Xs(b[j], s) - 32);
          for (int i = 0; i < 32; ++i)
            dst[32 * s + i] = dl * kIq4nlValues[Nibble(b[j].qs + 16 * s, i)];
        }
      }
      return;
    }
    case TensorType::kQ4_K:
    case TensorType::kQ5_K: {
      for (int64_t j = 0; j < n / kQK_K; ++j, dst += kQK_K) {
        uint8_t q[256], sc[8], m[8];
        float d, dmin;
        if (t == TensorType::kQ4_K) {
          const block_q4_K& b = static_cast<const block_q4_K*>(src)[j];
          LevelsQ4_K(b, q);
          UnpackScalesMinsK4(b.scales, sc, m);
          d = H(b.d);
          dmin = H(b.dmin);
        } else {
          const block_q5_K& b = static_cast<const block_q5_K*>(src)[j];
          LevelsQ5_K(b, q);
          UnpackScalesMinsK4(b.scales, sc, m);
          d = H(b.d);
          dmin = H(b.dmin);
        }
        for (int s = 0; s < 8; ++s) {
          const float ds = d * sc[s], ms = dmin * m[s];
          for (int i = 0; i < 32; ++i) dst[32 * s + i] = ds * q[32 * s + i] - ms;
        }
      }
      return;
    }
    case TensorType::kQ6_K: {
      const block_q6_K* b = static_cast<const block_q6_K*>(src);
      for (int64_t j = 0; j < n / kQK_K; ++j, dst += kQK_K) {
        int8_t q[256];
        LevelsQ6_K(b[j], q);
        const float d = H(b[j].d);
        for (int i = 0; i < 256; ++i) dst[i] = d * b[j].scales[i / 16] * q[i];
      }
      return;
    }
    default:
      SL_CHECK_MSG(false, "DequantizeRow: unsupported type");
  }
}

void QuantizeRow(TensorType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case TensorType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case TensorType::kF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = Fp32ToFp16(src[i]);
      return;
    }
    case TensorType::kBF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = Fp32ToBf16(src[i]);
      return;
    }
    case TensorType::kQ4_0:
      return QuantQ4_0(src, static_cast<block_q4_0*>(dst), n);
    case TensorType::kQ5_0:
      return QuantQ5_0(src, static_cast<block_q5_0*>(dst), n);
    case TensorType::kQ8_0:
      return QuantQ8_0W(src, static_cast<block_q8_0*>(dst), n);
    case TensorType::kQ4_1:
      return QuantQ4_1(src, static_cast<block_q4_1*>(dst), n);
    case TensorType::kQ5_1:
      return QuantQ5_1(src, static_cast<block_q5_1*>(dst), n);
    case TensorType::kIQ4_NL:
      return QuantIq4nl(src, static_cast<block_iq4_nl*>(dst), n);
    case TensorType::kIQ4_XS:
      return QuantIq4xs(src, static_cast<block_iq4_xs*>(dst), n);
    case TensorType::kQ3_K:
      return QuantQ3_K(src, static_cast<block_q3_K*>(dst), n);
    case TensorType::kQ2_K:
      return QuantQ2_K(src, static_cast<block_q2_K*>(dst), n);
    case TensorType::kQ4_K:
      return QuantQ4_K(src, static_cast<block_q4_K*>(dst), n);
    case TensorType::kQ5_K:
      return QuantQ5_K(src, static_cast<block_q5_K*>(dst), n);
    case TensorType::kQ6_K:
      return QuantQ6_K(src, static_cast<block_q6_K*>(dst), n);
    default:
      SL_CHECK_MSG(false, "QuantizeRow: unsupported type");
  }
}

float DotRow(TensorType t, const void* w, const void* x, int64_t k) {
  switch (t) {
    case TensorType::kF32:
    case TensorType::kF16:
    case TensorType::kBF16: {
      const float* xf = static_cast<const float*>(x);
      CanonAcc acc;
      CanonInit(&acc);
      if (t == TensorType::kF32) {
        const float* wf = static_cast<const float*>(w);
        for (int64_t i = 0; i < k; ++i) CanonFma(&acc, i, wf[i], xf[i]);
      } else {
        const uint16_t* wh = static_cast<const uint16_t*>(w);
        for (int64_t i = 0; i < k; ++i)
          CanonFma(&acc, i, t == TensorType::kF16 ? Fp16ToFp32(wh[i]) : Bf16ToFp32(wh[i]), xf[i]);
      }
      return CanonReduce(&acc);
    }
    case TensorType::kQ4_0:
      return DotQ4_0(static_cast<const block_q4_0*>(w), static_cast<const block_q8_0*>(x), k / kQK);
    case TensorType::kQ5_0:
      return DotQ5_0(static_cast<const block_q5_0*>(w), static_cast<const block_q8_0*>(x), k / kQK);
    case TensorType::kQ8_0:
      return DotQ8_0(static_cast<const block_q8_0*>(w), static_cast<const block_q8_0*>(x), k / kQK);
    case TensorType::kQ4_1:
      return DotMin<block_q4_1, Q4_1Level>(static_cast<const block_q4_1*>(w),
                                           static_cast<const block_q8_0*>(x), k / kQK);
    case TensorType::kQ5_1:
      return DotMin<block_q5_1, Q5_1Level>(static_cast<const block_q5_1*>(w),
                                           static_cast<const block_q8_0*>(x), k / kQK);
    case TensorType::kIQ4_NL:
      return DotIq4nl(static_cast<const block_iq4_nl*>(w), static_cast<const block_q8_0*>(x),
                      k / kQK);
    case TensorType::kQ2_K:
      return DotQ2_K(static_cast<const block_q2_K*>(w), static_cast<const block_q8_K*>(x),
                     k / kQK_K);
    case TensorType::kQ3_K:
      return DotQ3_K(static_cast<const block_q3_K*>(w), static_cast<const block_q8_K*>(x),
                     k / kQK_K);
    case TensorType::kIQ4_XS:
      return DotIq4xs(static_cast<const block_iq4_xs*>(w), static_cast<const block_q8_K*>(x),
                      k / kQK_K);
    case TensorType::kQ4_K:
      return DotKScaleMin<block_q4_K, LevelsQ4_K>(static_cast<const block_q4_K*>(w),
                                                  static_cast<const block_q8_K*>(x), k / kQK_K);
    case TensorType::kQ5_K:
      return DotKScaleMin<block_q5_K, LevelsQ5_K>(static_cast<const block_q5_K*>(w),
                                                  static_cast<const block_q8_K*>(x), k / kQK_K);
    case TensorType::kQ6_K:
      return DotQ6_K(static_cast<const block_q6_K*>(w), static_cast<const block_q8_K*>(x),
                     k / kQK_K);
    default:
      SL_CHECK_MSG(false, "DotRow: unsupported type");
  }
  return 0;
}

const Variant& GetVariant() {
  static const Variant v = {
      "scalar",
      QuantizeQ8_0,
      QuantizeQ8_K,
      {GemmT<TensorType::kF32>, GemmT<TensorType::kF16>, GemmT<TensorType::kBF16>,
       GemmT<TensorType::kQ4_0>, GemmT<TensorType::kQ5_0>, GemmT<TensorType::kQ8_0>,
       GemmT<TensorType::kQ4_K>, GemmT<TensorType::kQ5_K>, GemmT<TensorType::kQ6_K>,
       GemmT<TensorType::kQ4_1>, GemmT<TensorType::kQ5_1>, GemmT<TensorType::kIQ4_NL>,
       GemmT<TensorType::kIQ4_XS>, GemmT<TensorType::kQ3_K>, GemmT<TensorType::kQ2_K>},
      1,
  };
  return v;
}

}  // namespace suanli::kernels::ref
