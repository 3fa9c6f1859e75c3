// AVX2 + FMA + F16C variant (compiled with -mavx2 -mfma -mf16c; used only when the CPU has them).
//
// One output at a time: dot(weight row, activation row) with lanes over k and a fixed
// horizontal reduction, so every Y[t][r] is computed identically whatever rows a call covers.
// Rows are walked in panels so a panel of weights stays in cache while all tokens read it.
#include <immintrin.h>

#include <cstring>

#include "base/fp16.h"
#include "kernels/kernels_internal.h"
#include "kernels/quant_blocks.h"

namespace suanli::kernels::avx2 {
namespace {

inline float Hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline int HsumI(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}
inline float H(uint16_t h) { return _cvtsh_ss(h); }

// Signed 8-bit dot: 8 int32 lanes of sums of 4 products.
inline __m256i DotI8(__m256i w, __m256i x) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}
// 32 nibbles: low nibbles of q (elements 0..15) then high nibbles (16..31).
inline __m256i Nibbles(const uint8_t* q) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
  return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}
// Byte i = 0xFF if bit i of the 32-bit word is set.
inline __m256i BitsToBytes(uint32_t bits) {
  const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                          0x0202020202020202, 0x0303030303030303);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuf);
  const __m256i m = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  v = _mm256_or_si256(v, m);
  return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

// ---- activation quantizers (bit-identical to ref) --------------------------------------------

inline __m256 Abs(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
inline float HmaxPs(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
// Rounds 32 floats * id to int8 in order.
inline __m256i Quant32(const float* x, __m256 id, __m256i* s0, __m256i* s1) {
  __m256i i[4];
  for (int j = 0; j < 4; ++j)
    i[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * j), id),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if (s0) {
    *s0 = _mm256_add_epi32(i[0], i[1]);
    *s1 = _mm256_add_epi32(i[2], i[3]);
  }
  const __m256i a = _mm256_packs_epi32(i[0], i[1]);
  const __m256i b = _mm256_packs_epi32(i[2], i[3]);
  const __m256i c = _mm256_packs_epi16(a, b);
  return _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void QuantQ8_0(const float* x, void* dst, int64_t k) {
  block_q8_0* y = static_cast<block_q8_0*>(dst);
  for (int64_t b = 0; b < k / kQK; ++b, x += kQK) {
    __m256 m = Abs(_mm256_loadu_ps(x));
    for (int j = 1; j < 4; ++j) m = _mm256_max_ps(m, Abs(_mm256_loadu_ps(x + 8 * j)));
    const float amax = HmaxPs(m);
    y[b].d = Fp32ToFp16(amax / 127.0f);
    const __m256 id = _mm256_set1_ps(ActInvStep(amax));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), Quant32(x, id, nullptr, nullptr));
  }
}

void QuantQ8_K(const float* x, void* dst, int64_t k) {
  block_q8_K* y = static_cast<block_q8_K*>(dst);
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K) {
    __m256 m = Abs(_mm256_loadu_ps(x));
    for (int j = 1; j < 32; ++j) m = _mm256_max_ps(m, Abs(_mm256_loadu_ps(x + 8 * j)));
    const float amax = HmaxPs(m);
    y[b].d = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(ActInvStep(amax));
    for (int j = 0; j < 8; ++j) {
      __m256i s0, s1;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + 32 * j),
                          Quant32(x + 32 * j, id, &s0, &s1));
      y[b].bsums[2 * j] = static_cast<int16_t>(HsumI(s0));
      y[b].bsums[2 * j + 1] = static_cast<int16_t>(HsumI(s1));
    }
  }
}

// ---- dots -----------------------------------------------------------------------------------

float DotQ4_0(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q4_0* wb = reinterpret_cast<const block_q4_0*>(w);
  const block_q8_0* xb = reinterpret_cast<const block_q8_0*>(x);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK; ++b) {
    const __m256i q = _mm256_sub_epi8(Nibbles(wb[b].qs), _mm256_set1_epi8(8));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const __m256 s = _mm256_cvtepi32_ps(DotI8(q, xv));
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(H(wb[b].d) * H(xb[b].d)), acc);
  }
  return Hsum(acc);
}

float DotQ5_0(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q5_0* wb = reinterpret_cast<const block_q5_0*>(w);
  const block_q8_0* xb = reinterpret_cast<const block_q8_0*>(x);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK; ++b) {
    uint32_t qh;
    std::memcpy(&qh, wb[b].qh, 4);
    const __m256i hb = _mm256_and_si256(BitsToBytes(qh), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(Nibbles(wb[b].qs), hb), _mm256_set1_epi8(16));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const __m256 s = _mm256_cvtepi32_ps(DotI8(q, xv));
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(H(wb[b].d) * H(xb[b].d)), acc);
  }
  return Hsum(acc);
}

float DotQ8_0(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q8_0* wb = reinterpret_cast<const block_q8_0*>(w);
  const block_q8_0* xb = reinterpret_cast<const block_q8_0*>(x);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQK; ++b) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[b].qs));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const __m256 s = _mm256_cvtepi32_ps(DotI8(q, xv));
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(H(wb[b].d) * H(xb[b].d)), acc);
  }
  return Hsum(acc);
}

// Q4_K / Q5_K: levels u8 x activations s8 via maddubs, then scaled by the 6-bit sub-block scales
// in int32; the mins term uses the activation bsums.
template <bool kQ5>
float DotQ45_K(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q8_K* xb = reinterpret_cast<const block_q8_K*>(x);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    const uint8_t *qs, *scales, *qhp = nullptr;
    uint16_t dh, mh;
    if constexpr (kQ5) {
      const block_q5_K& wb = reinterpret_cast<const block_q5_K*>(w)[b];
      qs = wb.qs;
      scales = wb.scales;
      qhp = wb.qh;
      dh = wb.d;
      mh = wb.dmin;
    } else {
      const block_q4_K& wb = reinterpret_cast<const block_q4_K*>(w)[b];
      qs = wb.qs;
      scales = wb.scales;
      dh = wb.d;
      mh = wb.dmin;
    }
    uint8_t sc[8], m[8];
    UnpackScalesMinsK4(scales, sc, m);
    int summ = 0;
    for (int j = 0; j < 8; ++j) summ += m[j] * (xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1]);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kQ5) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qhp));
    __m256i sumi = _mm256_setzero_si256();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < 4; ++c) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
      __m256i lo = _mm256_and_si256(q, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if constexpr (kQ5) {
        const __m256i one = _mm256_set1_epi8(1);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
        hi = _mm256_or_si256(hi,
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4));
        qh = _mm256_srli_epi16(qh, 2);
      }
      const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs + 64 * c));
      const __m256i x1 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs + 64 * c + 32));
      const __m256i p0 =
          _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x0), _mm256_set1_epi16(sc[2 * c]));
      const __m256i p1 =
          _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x1), _mm256_set1_epi16(sc[2 * c + 1]));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    }
    const float dx = xb[b].d;
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(H(dh) * dx), acc);
    mins += H(mh) * dx * static_cast<float>(summ);
  }
  return Hsum(acc) - mins;
}

float DotQ6_K(const uint8_t* w, const uint8_t* x, int64_t k) {
  const block_q6_K* wb = reinterpret_cast<const block_q6_K*>(w);
  const block_q8_K* xb = reinterpret_cast<const block_q8_K*>(x);
  __m256 acc = _mm256_setzero_ps();
  float corr = 0;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x30);
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    int c32 = 0;
    for (int j = 0; j < 16; ++j) c32 += wb[b].scales[j] * xb[b].bsums[j];
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = wb[b].ql + 64 * h;
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[b].qh + 32 * h));
      __m256i q[4];
      q[0] =
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m3));
      q[1] =
          _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m3));
      q[2] =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m3));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3));
      for (int g = 0; g < 4; ++g) {
        const int e = 128 * h + 32 * g;
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs + e));
        const __m256i s16 = _mm256_set_m128i(_mm_set1_epi16(wb[b].scales[e / 16 + 1]),
                                             _mm_set1_epi16(wb[b].scales[e / 16]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], xv), s16));
      }
    }
    const float ds = H(wb[b].d) * xb[b].d;
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(ds), acc);
    corr += ds * static_cast<float>(32 * c32);
  }
  return Hsum(acc) - corr;
}

template <int kT>  // 0 f32, 1 f16, 2 bf16
inline __m256 LoadW(const uint8_t* w, int64_t i) {
  if constexpr (kT == 0) return _mm256_loadu_ps(reinterpret_cast<const float*>(w) + i);
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2 * i));
  if constexpr (kT == 1) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
template <int kT>
float DotFloat(const uint8_t* w, const uint8_t* x, int64_t k) {
  const float* xf = reinterpret_cast<const float*>(x);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    a0 = _mm256_fmadd_ps(LoadW<kT>(w, i), _mm256_loadu_ps(xf + i), a0);
    a1 = _mm256_fmadd_ps(LoadW<kT>(w, i + 8), _mm256_loadu_ps(xf + i + 8), a1);
  }
  float s = Hsum(_mm256_add_ps(a0, a1));
  for (; i < k; ++i) {
    float wi;
    if constexpr (kT == 0) {
      wi = reinterpret_cast<const float*>(w)[i];
    } else {
      uint16_t h;
      std::memcpy(&h, w + 2 * i, 2);
      wi = kT == 1 ? Fp16ToFp32(h) : Bf16ToFp32(h);
    }
    s += wi * xf[i];
  }
  return s;
}

using DotFn = float (*)(const uint8_t*, const uint8_t*, int64_t);

template <DotFn kDot, int kActKind>  // 0 f32, 1 q8_0, 2 q8_K
void Gemm(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok, float* y,
          int64_t ldy, int64_t r0, int64_t r1) {
  const size_t xb = kActKind == 0   ? static_cast<size_t>(k) * 4
                    : kActKind == 1 ? static_cast<size_t>(k / kQK) * sizeof(block_q8_0)
                                    : static_cast<size_t>(k / kQK_K) * sizeof(block_q8_K);
  const uint8_t* wp = static_cast<const uint8_t*>(w);
  const uint8_t* xp = static_cast<const uint8_t*>(xq);
  // Panel of rows small enough to stay in L2 while every token passes over it.
  int64_t panel = static_cast<int64_t>((256 << 10) / (w_row_bytes + 1));
  if (panel < 1) panel = 1;
  for (int64_t p0 = r0; p0 < r1; p0 += panel) {
    const int64_t p1 = p0 + panel < r1 ? p0 + panel : r1;
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t r = p0; r < p1; ++r) y[t * ldy + r] = kDot(wp + r * w_row_bytes, xp + t * xb, k);
  }
}

}  // namespace

const Variant& GetVariant() {
  static const Variant v = {
      "avx2",
      QuantQ8_0,
      QuantQ8_K,
      {Gemm<DotFloat<0>, 0>, Gemm<DotFloat<1>, 0>, Gemm<DotFloat<2>, 0>, Gemm<DotQ4_0, 1>,
       Gemm<DotQ5_0, 1>, Gemm<DotQ8_0, 1>, Gemm<DotQ45_K<false>, 2>, Gemm<DotQ45_K<true>, 2>,
       Gemm<DotQ6_K, 2>},
      1,
  };
  return v;
}

}  // namespace suanli::kernels::avx2
