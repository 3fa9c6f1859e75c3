// AVX2 + FMA + F16C variant (compiled with -mavx2 -mfma -mf16c; used only when the CPU has them).
//
// One output at a time, lanes over k, in the canonical order of kernels.h:
// * Q4_0/Q5_0/Q8_0: 8 blocks per step. Each block's 32 products leave 8 int32 lanes (vpmaddubsw
//   + vpmaddwd); a vphaddd tree turns the 8 blocks' vectors into one vector of their exact sums
//   (block j in lane j), and one convert + FMA with D_b (the gathered f16 weight scales times the
//   activation scales, prepared once per call) updates A[0..7] or A[8..15] (two accumulators).
//   Q4_0/Q5_0 multiply the unsigned levels and subtract 8 (16) * Σx per block, also prepared.
//   Q4_1/Q5_1 multiply the unsigned levels and add a second FMA of T_b = Σx with m × x.d;
//   IQ4_NL looks its levels up with vpshufb and multiplies them signed, like Q8_0.
// * K-quants and IQ4_XS: 8 super-blocks per step, exact integer SI (and SM) of each, then the
//   canonical update on 8 lanes.
// * float weights: two 8-lane accumulators are A[0..7] and A[8..15]; the tail touches only its own
//   lanes.
// Every Y[t][r] is thus computed identically whatever rows or tokens a call covers. Rows are walked
// in panels so a panel of weights stays in cache while all tokens read it.
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "base/fp16.h"
#include "kernels/kernels_internal.h"
#include "kernels/quant_blocks.h"

namespace suanli::kernels::avx2 {
namespace {

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

// ---- canonical accumulation -------------------------------------------------------------------

// The final tree of the canonical order over A[0..7] = lo, A[8..15] = hi.
inline float Reduce16(__m256 lo, __m256 hi) {
  const __m256 s8 = _mm256_add_ps(lo, hi);                                          // h = 8
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));  // h = 4
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                           // h = 2
  s = _mm_add_ss(s, _mm_movehdup_ps(s));                                            // h = 1
  return _mm_cvtss_f32(s);
}

// The canonical walk over n units (blocks or super-blocks), 8 per step: units b .. b + 7 go to
// A[b mod 16 ..] (lo for b mod 16 < 8, hi otherwise), a partial last step masked. step(full, b,
// count, acc) adds units b .. b + count - 1 to acc; full is std::true_type when count is 8.
template <typename Step>
inline float Canonical16(int64_t n, Step&& step) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 16 <= n; b += 16) {
    a0 = step(std::true_type{}, b, 8, a0);
    a1 = step(std::true_type{}, b + 8, 8, a1);
  }
  if (b + 8 <= n) {
    a0 = step(std::true_type{}, b, 8, a0);
    b += 8;
    if (b < n) a1 = step(std::false_type{}, b, static_cast<int>(n - b), a1);
  } else if (b < n) {
    a0 = step(std::false_type{}, b, static_cast<int>(n - b), a0);
  }
  return Reduce16(a0, a1);
}

// v[j] holds 8 int32 partial sums of block j; returns the 8 block sums, block j in lane j.
inline __m256i BlockSums8(const __m256i* v) {
  // a = [Σ low half of v0, v1, v2, v3 | Σ high half of v0 .. v3], b likewise for v4 .. v7.
  const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
                          _mm256_permute2x128_si256(a, b, 0x31));
}

// The low 16 bits of 8 int32 lanes (values < 2^16), packed into 8 halves.
inline __m128i Low16(__m256i v) {
  const __m256i lo16 = _mm256_shuffle_epi8(
      v, _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8,
                          9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1));
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(lo16, 0x08));
}

// The f16 field at byte kOff (the scale d at 0; Q4_1/Q5_1's m at 2) of the n <= 8 blocks of kBs
// bytes at p, as floats; lanes past n are 0. Scalar loads: a vpgatherdd was 25-50% slower on
// Zen 4.
template <int kBs, int kOff = 0>
inline __m256 WeightScales8(const uint8_t* p, int n) {
  uint16_t h[8] = {};
  for (int j = 0; j < n; ++j) std::memcpy(&h[j], p + j * kBs + kOff, 2);
  return _mm256_cvtph_ps(_mm_setr_epi16(static_cast<int16_t>(h[0]), static_cast<int16_t>(h[1]),
                                        static_cast<int16_t>(h[2]), static_cast<int16_t>(h[3]),
                                        static_cast<int16_t>(h[4]), static_cast<int16_t>(h[5]),
                                        static_cast<int16_t>(h[6]), static_cast<int16_t>(h[7])));
}

// Per activation row: f32(x.d_b) and Σ_i xq_i of every block, padded with zeros to a multiple of 8.
struct ActPrep {
  std::vector<float> d;
  std::vector<int32_t> sum;
};

void PrepAct(const block_q8_0* x, int64_t nb, int64_t n_tok, bool sums, ActPrep* out) {
  const int64_t np = (nb + 7) / 8 * 8;
  out->d.assign(static_cast<size_t>(np * n_tok), 0.0f);
  if (sums) out->sum.assign(static_cast<size_t>(np * n_tok), 0);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t b = 0; b < nb; ++b) {
      const block_q8_0& xb = x[t * nb + b];
      out->d[t * np + b] = H(xb.d);
      if (sums) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
        out->sum[t * np + b] = HsumI(
            _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v), _mm256_set1_epi16(1)));
      }
    }
}

// ---- dots -----------------------------------------------------------------------------------

// Q4_0 / Q5_0: unsigned levels minus a constant (taken out through Σx).
template <TensorType T>
constexpr int LevelOffset() {
  return T == TensorType::kQ4_0 ? 8 : T == TensorType::kQ5_0 ? 16 : 0;
}
// kIq4nlValues in both 128-bit lanes (vpshufb table).
inline __m256i Iq4nlTable() {
  return _mm256_broadcastsi128_si256(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
}

// 8 int32 partial sums of one block's products: Q8_0 signed levels; Q4_0/Q5_0 the unsigned
// levels q (the offset is removed per block by the caller).
template <TensorType T>
inline __m256i BlockDot(const uint8_t* p, const int8_t* xq) {
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
  if constexpr (T == TensorType::kQ8_0) {
    return DotI8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)), xv);
  } else if constexpr (T == TensorType::kIQ4_NL) {
    return DotI8(_mm256_shuffle_epi8(Iq4nlTable(), Nibbles(p + 2)), xv);
  } else {
    __m256i q;
    if constexpr (T == TensorType::kQ4_0 || T == TensorType::kQ4_1) {
      q = Nibbles(p + (T == TensorType::kQ4_0 ? 2 : 4));
    } else {
      constexpr int kQh = T == TensorType::kQ5_0 ? 2 : 4;  // Q5_1: after d and m
      uint32_t qh;
      std::memcpy(&qh, p + kQh, 4);
      q = _mm256_or_si256(Nibbles(p + kQh + 4),
                          _mm256_and_si256(BitsToBytes(qh), _mm256_set1_epi8(0x10)));
    }
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), _mm256_set1_epi16(1));
  }
}

// Blocks b0 .. b0 + n - 1 (n <= 8) of one row: A[b0 mod 16 ..] += S_b * D_b in the canonical way.
template <TensorType T, bool kFull>
inline __m256 Step8(const uint8_t* w, const block_q8_0* x, const float* xd, const int32_t* xs,
                    int64_t b0, int n, __m256 acc) {
  constexpr int kBs = Q8BlockBytes<T>();
  __m256i v[8];
  for (int j = 0; j < 8; ++j)
    v[j] = kFull || j < n ? BlockDot<T>(w + (b0 + j) * kBs, x[b0 + j].qs) : _mm256_setzero_si256();
  __m256i si = BlockSums8(v);
  if constexpr (LevelOffset<T>() != 0) {  // S_b = Σ q x - offset * Σ x
    constexpr int kShift = T == TensorType::kQ4_0 ? 3 : 4;
    si = _mm256_sub_epi32(
        si,
        _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs + b0)), kShift));
  }
  const __m256 xdv = _mm256_loadu_ps(xd + b0);
  const __m256 d = _mm256_mul_ps(WeightScales8<kBs>(w + b0 * kBs, kFull ? 8 : n), xdv);
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si), d, acc);
  if constexpr (HasMin<T>()) {  // then T_b · (m × x.d)
    const __m256 m = _mm256_mul_ps(WeightScales8<kBs, 2>(w + b0 * kBs, kFull ? 8 : n), xdv);
    acc = _mm256_fmadd_ps(
        _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs + b0))), m, acc);
  }
  return acc;
}

template <TensorType T>
float DotQ8Act(const uint8_t* w, const block_q8_0* x, const float* xd, const int32_t* xs,
               int64_t nb) {
  return Canonical16(nb, [&](auto full, int64_t b, int n, __m256 acc) {
    return Step8<T, decltype(full)::value>(w, x, xd, xs, b, n, acc);
  });
}

// Rows in panels small enough to stay in L2 while every token passes over them.
inline int64_t PanelRows(size_t w_row_bytes) {
  const int64_t panel = static_cast<int64_t>((256 << 10) / (w_row_bytes + 1));
  return panel < 1 ? 1 : panel;
}

// ---- K-quants: 8 super-blocks per step ---------------------------------------------------------
//
// Each super-block leaves 8 int32 lanes whose total is SI (levels u8 x activations s8 via
// vpmaddubsw, sub-block scales via vpmaddwd; Q6_K takes its -32 offset out through the bsums) and
// 4 lanes whose total is SM (Q4_K/Q5_K mins x bsum pairs); vphaddd trees give 8 exact SI and SM,
// then v = d*SI - dmin*SM and one FMA with x.d per 8 super-blocks.

// Sub-block scales and mins of a Q4_K/Q5_K block (UnpackScalesMinsK4 on 32-bit words): bytes
// sc0..sc7 then m0..m7.
inline __m128i ScalesMinsK4(const uint8_t* s) {
  uint32_t u[3];
  std::memcpy(u, s, 12);
  const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
  const uint32_t sc_hi = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
  return _mm_setr_epi32(static_cast<int>(u[0] & k1), static_cast<int>(sc_hi),
                        static_cast<int>(u[1] & k1), static_cast<int>(m_hi));
}

// int16 lane pattern that broadcasts int16 lane j of a 128-bit lane (vpshufb control).
inline __m256i Bcast16(int j) {
  return _mm256_set1_epi16(static_cast<int16_t>(0x0101 * (2 * j) + 0x0100));
}

// Per activation row and super-block: x.d, and the 8 bsum pairs (int16) for the mins.
struct ActPrepK {
  std::vector<float> d;
  std::vector<int16_t> bpair;
};

void PrepActK(const block_q8_K* x, int64_t nsb, int64_t n_tok, ActPrepK* out) {
  const int64_t np = (nsb + 7) / 8 * 8;
  out->d.assign(static_cast<size_t>(np * n_tok), 0.0f);
  out->bpair.assign(static_cast<size_t>(8 * nsb * n_tok), 0);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t b = 0; b < nsb; ++b) {
      const block_q8_K& xb = x[t * nsb + b];
      out->d[t * np + b] = xb.d;
      for (int j = 0; j < 8; ++j)
        out->bpair[(t * nsb + b) * 8 + j] =
            static_cast<int16_t>(xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
    }
}

// One Q4_K/Q5_K super-block: SI as 8 lanes, SM as 4 lanes.
template <bool kQ5>
inline void SuperBlockQ45(const uint8_t* blk, const block_q8_K& x, const int16_t* bpair,
                          __m256i* si, __m128i* sm) {
  constexpr int kScales = 4, kQh = 16, kQs = kQ5 ? 48 : 16;  // field offsets
  const __m128i scm = ScalesMinsK4(blk + kScales);
  const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));  // sc0..7 per lane
  *sm = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(scm, 8)),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(bpair)));
  __m256i qh = _mm256_setzero_si256();
  if constexpr (kQ5) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQh));
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256i sumi = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * c));
    __m256i lo = _mm256_and_si256(q, m4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    if constexpr (kQ5) {
      const __m256i one = _mm256_set1_epi8(1);
      lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
      hi = _mm256_or_si256(hi,
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4));
      qh = _mm256_srli_epi16(qh, 2);
    }
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * c));
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * c + 32));
    const __m256i p0 =
        _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x0), _mm256_shuffle_epi8(sc16, Bcast16(2 * c)));
    const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x1),
                                         _mm256_shuffle_epi8(sc16, Bcast16(2 * c + 1)));
    sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
  }
  *si = sumi;
}

// int16 scales of groups 2g (low 128-bit lane) and 2g + 1 (high lane), from sc holding 8 int16
// scales in each lane: the vpmaddwd operand of 32 elements spanning two 16-groups.
inline __m256i GroupPairScales(__m256i sc, int g) {
  const char a = static_cast<char>(4 * g), b = static_cast<char>(4 * g + 2);
  return _mm256_shuffle_epi8(
      sc, _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a,
                           a + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b,
                           b + 1, b, b + 1));
}

// One Q2_K super-block: SI as 8 lanes, SM (16 mins x bsums) as 4 lanes.
inline void SuperBlockQ2(const uint8_t* blk, const block_q8_K& x, __m256i* si, __m128i* sm) {
  const block_q2_K& wb = *reinterpret_cast<const block_q2_K*>(blk);
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.scales));
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, m4));
  const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), m4));
  const __m256i mins =
      _mm256_madd_epi16(m16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums)));
  *sm = _mm_add_epi32(_mm256_castsi256_si128(mins), _mm256_extracti128_si256(mins, 1));
  const __m256i sclo = _mm256_permute2x128_si256(sc16, sc16, 0x00);
  const __m256i schi = _mm256_permute2x128_si256(sc16, sc16, 0x11);
  const __m256i m3 = _mm256_set1_epi8(3);
  __m256i sumi = _mm256_setzero_si256();
  for (int h = 0; h < 2; ++h) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qs + 32 * h));
    const __m256i& sc = h == 0 ? sclo : schi;
    for (int j = 0; j < 4; ++j) {
      const __m256i xv =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 128 * h + 32 * j));
      const __m256i lv = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
      sumi = _mm256_add_epi32(
          sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(lv, xv), GroupPairScales(sc, j)));
    }
  }
  *si = sumi;
}

// One Q3_K super-block: SI as 8 lanes (levels q + 4 in 0..7, the -4 through the bsums).
inline __m256i SuperBlockQ3(const uint8_t* blk, const block_q8_K& x) {
  const block_q3_K& wb = *reinterpret_cast<const block_q3_K*>(blk);
  const __m256i sc16 = _mm256_cvtepi8_epi16(UnpackScalesQ3KSse(wb.scales));
  const __m256i sclo = _mm256_permute2x128_si256(sc16, sc16, 0x00);
  const __m256i schi = _mm256_permute2x128_si256(sc16, sc16, 0x11);
  // -4 Σ sc_g bsum_g
  __m256i sumi = _mm256_sub_epi32(
      _mm256_setzero_si256(),
      _mm256_slli_epi32(
          _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums))),
          2));
  const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
  const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.hmask));
  for (int h = 0; h < 2; ++h) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qs + 32 * h));
    const __m256i& sc = h == 0 ? sclo : schi;
    for (int j = 0; j < 4; ++j) {
      const __m256i low = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
      const __m256i hb =
          _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hm, 4 * h + j), 2), m4);
      const __m256i xv =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 128 * h + 32 * j));
      sumi = _mm256_add_epi32(sumi,
                              _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_or_si256(low, hb), xv),
                                                GroupPairScales(sc, j)));
    }
  }
  return sumi;
}

// One Q6_K super-block: SI as 8 lanes (levels 0..63, the -32 through the bsums).
inline __m256i SuperBlockQ6(const uint8_t* blk, const block_q8_K& x) {
  const block_q6_K& wb = *reinterpret_cast<const block_q6_K*>(blk);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x30);
  const __m256i sc16 =
      _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.scales)));
  const __m256i sclo = _mm256_permute2x128_si256(sc16, sc16, 0x00);  // scales 0..7 per lane
  const __m256i schi = _mm256_permute2x128_si256(sc16, sc16, 0x11);  // scales 8..15
  // -32 Σ sc_j bsum_j
  __m256i sumi = _mm256_sub_epi32(
      _mm256_setzero_si256(),
      _mm256_slli_epi32(
          _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums))),
          5));
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = wb.ql + 64 * h;
    const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
    const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qh + 32 * h));
    __m256i q[4];
    q[0] =
        _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m3));
    q[1] =
        _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m3));
    q[2] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m3));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3));
    const __m256i& sc = h == 0 ? sclo : schi;
    for (int g = 0; g < 4; ++g) {
      // 32 elements = groups 2g, 2g + 1 of this half: one scale per 128-bit lane.
      const __m256i xv =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 128 * h + 32 * g));
      const __m256i s16 = GroupPairScales(sc, g);
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], xv), s16));
    }
  }
  return sumi;
}

// One IQ4_XS super-block: SI as 8 lanes. 32 index bytes hold sub-blocks 2c and 2c + 1: their low
// nibbles are elements 0..15 of each (one per 128-bit lane), the high nibbles 16..31, looked up
// in kIq4nlValues; the activations are regrouped to match. Signed products go through
// vpmaddubsw, the scales ls − 32 (computed for all 8 sub-blocks with vpsrlvd) through vpmaddwd.
inline __m256i SuperBlockIq4xs(const uint8_t* blk, const block_q8_K& x) {
  const block_iq4_xs& wb = *reinterpret_cast<const block_iq4_xs*>(blk);
  const __m256i tab = Iq4nlTable(), m4 = _mm256_set1_epi8(0x0F);
  uint32_t sl;
  std::memcpy(&sl, wb.scales_l, 4);
  const __m256i j = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i ls = _mm256_or_si256(
      _mm256_and_si256(
          _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(sl)), _mm256_slli_epi32(j, 2)),
          _mm256_set1_epi32(15)),
      _mm256_slli_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(wb.scales_h),
                                                           _mm256_slli_epi32(j, 1)),
                                         _mm256_set1_epi32(3)),
                        4));
  // int16 scales 0..7 in both 128-bit lanes.
  const __m256i p16 = _mm256_permute4x64_epi64(
      _mm256_packs_epi32(_mm256_sub_epi32(ls, _mm256_set1_epi32(32)), _mm256_setzero_si256()),
      0x08);
  const __m256i sc16 = _mm256_permute2x128_si256(p16, p16, 0x00);
  __m256i sumi = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qs + 32 * c));
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * c));
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 64 * c + 32));
    const __m256i sc = GroupPairScales(sc16, c);
    const __m256i wl = _mm256_shuffle_epi8(tab, _mm256_and_si256(v, m4));
    const __m256i wh = _mm256_shuffle_epi8(tab, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
    const __m256i xl = _mm256_permute2x128_si256(x0, x1, 0x20);  // elements 0..15 of 2c, 2c + 1
    const __m256i xh = _mm256_permute2x128_si256(x0, x1, 0x31);  // elements 16..31
    const __m256i pl = _mm256_maddubs_epi16(_mm256_sign_epi8(wl, wl), _mm256_sign_epi8(xl, wl));
    const __m256i ph = _mm256_maddubs_epi16(_mm256_sign_epi8(wh, wh), _mm256_sign_epi8(xh, wh));
    sumi = _mm256_add_epi32(sumi,
                            _mm256_add_epi32(_mm256_madd_epi16(pl, sc), _mm256_madd_epi16(ph, sc)));
  }
  return sumi;
}

// 4-lane vectors of 8 super-blocks → their 8 totals.
inline __m256i QuadSums8(const __m128i* v) {
  const __m128i a = _mm_hadd_epi32(_mm_hadd_epi32(v[0], v[1]), _mm_hadd_epi32(v[2], v[3]));
  const __m128i b = _mm_hadd_epi32(_mm_hadd_epi32(v[4], v[5]), _mm_hadd_epi32(v[6], v[7]));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
}

// Super-blocks s0 .. s0 + n - 1 (n <= 8) of one row into acc (A[s0 mod 16 ..]).
template <TensorType T, bool kFull>
inline __m256 StepK8(const uint8_t* w, const block_q8_K* x, const float* xd, const int16_t* bpair,
                     int64_t s0, int n, __m256 acc) {
  constexpr int kBs = T == TensorType::kQ4_K     ? sizeof(block_q4_K)
                      : T == TensorType::kQ5_K   ? sizeof(block_q5_K)
                      : T == TensorType::kIQ4_XS ? sizeof(block_iq4_xs)
                      : T == TensorType::kQ3_K   ? sizeof(block_q3_K)
                      : T == TensorType::kQ2_K   ? sizeof(block_q2_K)
                                                 : sizeof(block_q6_K);
  __m256i si[8];
  __m128i sm[8];
  for (int j = 0; j < 8; ++j) {
    if (!kFull && j >= n) {
      si[j] = _mm256_setzero_si256();
      sm[j] = _mm_setzero_si128();
      continue;
    }
    const uint8_t* blk = w + (s0 + j) * kBs;
    if constexpr (T == TensorType::kQ6_K)
      si[j] = SuperBlockQ6(blk, x[s0 + j]);
    else if constexpr (T == TensorType::kIQ4_XS)
      si[j] = SuperBlockIq4xs(blk, x[s0 + j]);
    else if constexpr (T == TensorType::kQ3_K)
      si[j] = SuperBlockQ3(blk, x[s0 + j]);
    else if constexpr (T == TensorType::kQ2_K)
      SuperBlockQ2(blk, x[s0 + j], &si[j], &sm[j]);
    else
      SuperBlockQ45<T == TensorType::kQ5_K>(blk, x[s0 + j], bpair + (s0 + j) * 8, &si[j], &sm[j]);
  }
  const __m256 fsi = _mm256_cvtepi32_ps(BlockSums8(si));
  // f16 d and dmin of the 8 blocks (Q6_K: the 32 bits ending with d): here a vpgatherdd beat
  // scalar loads by 10-15% on Zen 4.
  // Q2_K: [d | dmin] at its end.
  constexpr int kOff =
      T == TensorType::kQ6_K || T == TensorType::kQ3_K || T == TensorType::kQ2_K ? kBs - 4 : 0;
  const __m256i idx =
      _mm256_setr_epi32(0, kBs, 2 * kBs, 3 * kBs, 4 * kBs, 5 * kBs, 6 * kBs, 7 * kBs);
  const int* base = reinterpret_cast<const int*>(w + s0 * kBs + kOff);
  __m256i g;
  if constexpr (kFull) {
    g = _mm256_i32gather_epi32(base, idx, 1);
  } else {
    const __m256i m =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    g = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), base, idx, m, 1);
  }
  const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(kFull ? 8 : n),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 v;
  if constexpr (T == TensorType::kQ6_K || T == TensorType::kQ3_K) {
    v = _mm256_mul_ps(_mm256_cvtph_ps(Low16(_mm256_srli_epi32(g, 16))), fsi);
  } else if constexpr (T == TensorType::kIQ4_XS) {
    v = _mm256_mul_ps(_mm256_cvtph_ps(Low16(_mm256_and_si256(g, _mm256_set1_epi32(0xFFFF)))), fsi);
  } else {
    const __m256 d = _mm256_cvtph_ps(Low16(_mm256_and_si256(g, _mm256_set1_epi32(0xFFFF))));
    const __m256 dmin = _mm256_cvtph_ps(Low16(_mm256_srli_epi32(g, 16)));
    v = _mm256_sub_ps(_mm256_mul_ps(d, fsi),
                      _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(QuadSums8(sm))));
  }
  const __m256 r = _mm256_fmadd_ps(_mm256_loadu_ps(xd + s0), v, acc);
  return kFull ? r : _mm256_blendv_ps(acc, r, _mm256_castsi256_ps(live));
}

template <TensorType T>
float DotK(const uint8_t* w, const block_q8_K* x, const float* xd, const int16_t* bpair,
           int64_t nsb) {
  return Canonical16(nsb, [&](auto full, int64_t s, int n, __m256 acc) {
    return StepK8<T, decltype(full)::value>(w, x, xd, bpair, s, n, acc);
  });
}

template <TensorType T>
void GemmK(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok, float* y,
           int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nsb = k / kQK_K, np = (nsb + 7) / 8 * 8;
  const block_q8_K* x = static_cast<const block_q8_K*>(xq);
  thread_local ActPrepK prep;
  PrepActK(x, nsb, n_tok, &prep);
  const uint8_t* wp = static_cast<const uint8_t*>(w);
  const int64_t panel = PanelRows(w_row_bytes);
  for (int64_t p0 = r0; p0 < r1; p0 += panel) {
    const int64_t p1 = p0 + panel < r1 ? p0 + panel : r1;
    for (int64_t t = 0; t < n_tok; ++t) {
      const float* xd = prep.d.data() + t * np;
      const int16_t* bp = prep.bpair.data() + t * nsb * 8;
      for (int64_t r = p0; r < p1; ++r)
        y[t * ldy + r] = DotK<T>(wp + r * w_row_bytes, x + t * nsb, xd, bp, nsb);
    }
  }
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
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();  // A[0..7], A[8..15]
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    a0 = _mm256_fmadd_ps(LoadW<kT>(w, i), _mm256_loadu_ps(xf + i), a0);
    a1 = _mm256_fmadd_ps(LoadW<kT>(w, i + 8), _mm256_loadu_ps(xf + i + 8), a1);
  }
  if (const int n = static_cast<int>(k - i); n > 0) {  // the tail updates lanes 0 .. n-1 only
    alignas(32) float wt[16] = {}, xt[16] = {};
    for (int j = 0; j < n; ++j) {
      if constexpr (kT == 0) {
        wt[j] = reinterpret_cast<const float*>(w)[i + j];
      } else {
        uint16_t h;
        std::memcpy(&h, w + 2 * (i + j), 2);
        wt[j] = kT == 1 ? Fp16ToFp32(h) : Bf16ToFp32(h);
      }
      xt[j] = xf[i + j];
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 m0 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
    const __m256 m1 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lane));
    a0 = _mm256_blendv_ps(a0, _mm256_fmadd_ps(_mm256_load_ps(wt), _mm256_load_ps(xt), a0), m0);
    a1 = _mm256_blendv_ps(a1, _mm256_fmadd_ps(_mm256_load_ps(wt + 8), _mm256_load_ps(xt + 8), a1),
                          m1);
  }
  return Reduce16(a0, a1);
}

using DotFn = float (*)(const uint8_t*, const uint8_t*, int64_t);

template <DotFn kDot>  // float weights
void Gemm(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok, float* y,
          int64_t ldy, int64_t r0, int64_t r1) {
  const size_t xb = static_cast<size_t>(k) * 4;
  const uint8_t* wp = static_cast<const uint8_t*>(w);
  const uint8_t* xp = static_cast<const uint8_t*>(xq);
  const int64_t panel = PanelRows(w_row_bytes);
  for (int64_t p0 = r0; p0 < r1; p0 += panel) {
    const int64_t p1 = p0 + panel < r1 ? p0 + panel : r1;
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t r = p0; r < p1; ++r) y[t * ldy + r] = kDot(wp + r * w_row_bytes, xp + t * xb, k);
  }
}

template <TensorType T>
void GemmQ8Act(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
               float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nb = k / kQK, np = (nb + 7) / 8 * 8;
  const block_q8_0* x = static_cast<const block_q8_0*>(xq);
  thread_local ActPrep prep;
  constexpr bool kSums = LevelOffset<T>() != 0 || HasMin<T>();
  PrepAct(x, nb, n_tok, kSums, &prep);
  const uint8_t* wp = static_cast<const uint8_t*>(w);
  const int64_t panel = PanelRows(w_row_bytes);
  for (int64_t p0 = r0; p0 < r1; p0 += panel) {
    const int64_t p1 = p0 + panel < r1 ? p0 + panel : r1;
    for (int64_t t = 0; t < n_tok; ++t) {
      const float* xd = prep.d.data() + t * np;
      const int32_t* xs = kSums ? prep.sum.data() + t * np : nullptr;
      for (int64_t r = p0; r < p1; ++r)
        y[t * ldy + r] = DotQ8Act<T>(wp + r * w_row_bytes, x + t * nb, xd, xs, nb);
    }
  }
}

}  // namespace

const Variant& GetVariant() {
  static const Variant v = {
      "avx2",
      QuantQ8_0,
      QuantQ8_K,
      {Gemm<DotFloat<0>>, Gemm<DotFloat<1>>, Gemm<DotFloat<2>>, GemmQ8Act<TensorType::kQ4_0>,
       GemmQ8Act<TensorType::kQ5_0>, GemmQ8Act<TensorType::kQ8_0>, GemmK<TensorType::kQ4_K>,
       GemmK<TensorType::kQ5_K>, GemmK<TensorType::kQ6_K>, GemmQ8Act<TensorType::kQ4_1>,
       GemmQ8Act<TensorType::kQ5_1>, GemmQ8Act<TensorType::kIQ4_NL>, GemmK<TensorType::kIQ4_XS>,
       GemmK<TensorType::kQ3_K>, GemmK<TensorType::kQ2_K>},
      1,
  };
  return v;
}

}  // namespace suanli::kernels::avx2
