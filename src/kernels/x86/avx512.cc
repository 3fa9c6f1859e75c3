// AVX-512 (F/BW/VL/DQ + VNNI) variant. Every kernel computes each output in the canonical order
// of kernels.h (exact integer block sums, 16 accumulators A[b mod 16] updated by one FMA per
// block or super-block, the fixed final tree), so the shapes below give identical bytes:
//
// * 1..7 tokens, Q4_0/Q5_0/Q8_0 (GemmLanesQ8): lanes over k, a step of 16 blocks is A[0..15];
//   4 rows x 1 token for decode, 2 rows x up to 4 tokens otherwise, sharing the activations
//   pre-arranged once per call (ActStep) and the unpacked weights; a linear software-prefetch
//   stream over the tile's rows.
// * 1..7 tokens, K-quants (GemmLanesK): 4 rows x up to 4 tokens, lanes over a super-block, exact
//   SI/SM per output, the float part on xmm vectors of 4 outputs.
// * F32/F16/BF16 (GemmFloat): 4 rows x 4 tokens, lane i mod 16 is A[i mod 16].
// * 8+ tokens (prefill; GemmOuter): an outer-product kernel. Activation rows are regrouped into
//   groups of 16 tokens, s8 bytes laid out [block][4-byte k group][token], with −offset · Σx per
//   scale group; weight rows are unpacked into their unsigned stored levels per 32-block (+
//   scales, K-quant mins), so no per-row sums are needed. One vpdpbusd multiplies 4 k-values of
//   one weight row (broadcast, u8) with 16 tokens (s8), so the 16 lanes are 16 outputs; blocks
//   are visited pass by pass (A[j] for all blocks b = j mod 16).
//
// Tails (rows, blocks, k) run the same code on repeated rows, zero-padded copies or masks, so an
// output never depends on the tile, the row range or the token count.
#include <immintrin.h>

#include <type_traits>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/fp16.h"
#include "kernels/kernels_internal.h"
#include "kernels/quant_blocks.h"

namespace suanli::kernels::avx512 {
namespace {

constexpr int64_t kOuterMinTok = 8;

inline float H(uint16_t h) { return _cvtsh_ss(h); }
template <typename T>
inline const T* As(const void* p) {
  return static_cast<const T*>(p);
}
inline __m512i Cat(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i Load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline int16_t LoadH(const uint8_t* p) {
  int16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The final tree of the canonical order: for h = 8, 4, 2, 1, A[i] += A[i + h]; returns A[0].
inline float Tree16(__m512 a) {
  const __m256 h8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
  const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
  return _mm_cvtss_f32(_mm_add_ss(h2, _mm_movehdup_ps(h2)));
}

// Calls f(std::integral_constant<int, n>) for n in 1..4, so a row kernel can be instantiated for
// the number of tokens sharing its weight loads.
template <typename F>
inline void WithTokenCount(int n, F&& f) {
  switch (n) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    default:
      return f(std::integral_constant<int, 4>{});
  }
}

// ================================================================================================
// Q4_0 / Q5_0 / Q8_0 with lanes over k (decode GEMV and few tokens).
// ================================================================================================
//
// A step covers blocks 16s .. 16s + 15 of a row, which are exactly A[0..15] of the canonical order
// (kernels.h): one zmm accumulator per output. The step's weights unpack into 4 "quads" (block
// 4q + j in 128-bit lane j): Q4_0/Q5_0 low nibbles meet x[0..15] (xlo) and high nibbles x[16..31]
// (xhi); Q8_0 loads its blocks in pairs and regroups the halves the same way (levels as u8,
// q ^ 0x80 = q + 128). vpdpbusd starting at corr = -offset * Σx (offset 8, 16, 128; activations
// only) leaves 4 int32 lanes per block; a transpose-and-add of the 4 quads (integer, exact) puts
// block 4q + j's sum S_b in lane 4j + q. D_b is built in the same lane order (the step's f16
// weight scales picked out of its bytes with vpermt2d, times the activation scales prepared once
// per call), one convert + FMA updates A, and the accumulator is put back in block order before
// the final tree. R rows x N tokens share the unpacked weights and the prepared activations.
//
// Every row and token runs the same instruction sequence (a ragged tail of rows repeats the last
// row and drops the copies; a partial step works on a zero-padded copy, which adds exact zeros),
// so outputs never depend on the row range, the tile or the token count.

// Lane e of a step vector holds block StepBlock(e) of the step (a 4 x 4 transpose, its own
// inverse: the same map takes a block to its lane).
constexpr int StepBlock(int e) { return 4 * (e % 4) + e / 4; }

// What the u8 level fed to vpdpbusd exceeds the signed level by (Q8_0 and IQ4_NL: x + 128).
template <TensorType T>
constexpr int LanesOffset() {
  return T == TensorType::kQ4_0 ? 8 : T == TensorType::kQ5_0 ? 16 : HasMin<T>() ? 0 : 128;
}
// kIq4nlValues + 128 (u8) in every 128-bit lane: the vpshufb table of IQ4_NL / IQ4_XS levels.
inline __m512i Iq4nlTableU8() {
  alignas(16) uint8_t t[16];
  for (int i = 0; i < 16; ++i) t[i] = static_cast<uint8_t>(kIq4nlValues[i] + 128);
  return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// One token's activations for one step.
struct ActStep {
  __m512i xlo[4], xhi[4];  // quad q: lane j = x[0..15] (xhi: x[16..31]) of block 4q + j
  __m512i corr[4];         // -offset * Σ x over each int32 lane's 4 bytes of xlo and xhi
  __m512 dx;               // f32(x.d) of block StepBlock(e) in lane e
  __m512 sx;               // Q4_1/Q5_1: (float)T_b = Σ x of block StepBlock(e) in lane e
};

template <TensorType T>
void PrepSteps(const block_q8_0* xb, int64_t nb, ActStep* out) {
  constexpr int kOff = LanesOffset<T>();
  const __m512i off = _mm512_set1_epi8(static_cast<char>(kOff == 128 ? 1 : kOff));
  for (int64_t s = 0; s < (nb + 15) / 16; ++s) {
    ActStep& o = out[s];
    alignas(64) float dx[16] = {}, sx[16] = {};
    for (int q = 0; q < 4; ++q) {
      alignas(64) int8_t lo[64] = {}, hi[64] = {};
      for (int j = 0; j < 4; ++j) {
        const int64_t b = 16 * s + 4 * q + j;
        if (b >= nb) break;
        std::memcpy(lo + 16 * j, xb[b].qs, 16);
        std::memcpy(hi + 16 * j, xb[b].qs + 16, 16);
        dx[4 * j + q] = H(xb[b].d);
        if constexpr (HasMin<T>()) {
          int t = 0;
          for (int i = 0; i < 32; ++i) t += xb[b].qs[i];
          sx[4 * j + q] = static_cast<float>(t);
        }
      }
      o.xlo[q] = _mm512_load_si512(lo);
      o.xhi[q] = _mm512_load_si512(hi);
      __m512i c = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), off, o.xlo[q]),
                                      off, o.xhi[q]);
      if constexpr (kOff == 128) c = _mm512_slli_epi32(c, 7);
      o.corr[q] = _mm512_sub_epi32(_mm512_setzero_si512(), c);
    }
    o.dx = _mm512_load_ps(dx);
    o.sx = _mm512_load_ps(sx);
  }
}

// The step's weights at p as 4 quads of u8 levels (lo: elements 0..15 of each block, hi: 16..31).
template <TensorType T>
inline void UnpackStep(const uint8_t* p, __m512i* lo, __m512i* hi) {
  constexpr int kBs = Q8BlockBytes<T>();
  if constexpr (T == TensorType::kQ8_0) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int q = 0; q < 4; ++q) {
      const uint8_t* b = p + 4 * q * kBs + 2;
      // [b0 0..15, b0 16..31, b1 0..15, b1 16..31], likewise b2, b3.
      const __m512i p01 = _mm512_xor_si512(Cat(Load256(b), Load256(b + kBs)), flip);
      const __m512i p23 = _mm512_xor_si512(Cat(Load256(b + 2 * kBs), Load256(b + 3 * kBs)), flip);
      lo[q] = _mm512_shuffle_i64x2(p01, p23, _MM_SHUFFLE(2, 0, 2, 0));
      hi[q] = _mm512_shuffle_i64x2(p01, p23, _MM_SHUFFLE(3, 1, 3, 1));
    }
  } else {
    // Offset of qs (and of qh) in the block.
    constexpr int kQs = T == TensorType::kQ4_1   ? 4
                        : T == TensorType::kQ5_0 ? 6
                        : T == TensorType::kQ5_1 ? 8
                                                 : 2;  // Q4_0, IQ4_NL
    constexpr int kQh = T == TensorType::kQ5_0 ? 2 : 4;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int q = 0; q < 4; ++q) {
      const uint8_t* b = p + 4 * q * kBs;
      __m512i v = _mm512_castsi128_si512(Load128(b + kQs));
      v = _mm512_inserti32x4(v, Load128(b + kBs + kQs), 1);
      v = _mm512_inserti32x4(v, Load128(b + 2 * kBs + kQs), 2);
      v = _mm512_inserti32x4(v, Load128(b + 3 * kBs + kQs), 3);
      lo[q] = _mm512_and_si512(v, m4);
      hi[q] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      if constexpr (T == TensorType::kIQ4_NL) {
        const __m512i tab = Iq4nlTableU8();
        lo[q] = _mm512_shuffle_epi8(tab, lo[q]);
        hi[q] = _mm512_shuffle_epi8(tab, hi[q]);
      }
      if constexpr (T == TensorType::kQ5_0 || T == TensorType::kQ5_1) {
        uint64_t mlo = 0, mhi = 0;
        for (int j = 0; j < 4; ++j) {
          const uint32_t qh = LoadU32(b + j * kBs + kQh);
          mlo |= uint64_t{qh & 0xFFFFu} << (16 * j);
          mhi |= uint64_t{qh >> 16} << (16 * j);
        }
        const __m512i b4 = _mm512_set1_epi8(0x10);
        lo[q] = _mm512_mask_add_epi8(lo[q], _cvtu64_mask64(mlo), lo[q], b4);
        hi[q] = _mm512_mask_add_epi8(hi[q], _cvtu64_mask64(mhi), hi[q], b4);
      }
    }
  }
}

// vpermt2d tables that pick the f16 scale of every block of a step out of its bytes: window w
// is 128 bytes from kStart[w] and holds the scales of blocks kFirst[w] .. kFirst[w + 1] - 1. Block
// sizes are 2 mod 4, so an odd block's scale is the high half of its dword.
template <TensorType T>
struct ScaleTables {
  static constexpr int kBs = Q8BlockBytes<T>();
  static constexpr int kWindows = kBs == 18 ? 2 : kBs == 22 ? 3 : 4;
  // Each window ends inside the step, so the last step of a row reads nothing past it.
  static constexpr int kFirst[5] = {0,
                                    kBs == 18   ? 8
                                    : kBs == 22 ? 6
                                                : 4,
                                    kBs == 18   ? 16
                                    : kBs == 22 ? 12
                                                : 8,
                                    kBs == 22 ? 16 : 12, 16};
  static constexpr int kStart[4] = {0,
                                    kBs == 18   ? 144
                                    : kBs == 22 ? 132
                                                : 136,
                                    kBs == 22 ? 224 : 272, 408};
  struct Tab {
    alignas(64) int32_t idx[4][16];
    alignas(64) int32_t shift[16];
    uint16_t mask[4];
  };
  static constexpr Tab Make() {
    Tab t{};
    for (int e = 0; e < 16; ++e) {
      const int b = StepBlock(e);
      t.shift[e] = 16 * (b & 1);
      for (int w = 0; w < kWindows; ++w)
        if (b >= kFirst[w] && b < kFirst[w + 1]) {
          t.idx[w][e] = (kBs * b - kStart[w]) / 4;
          t.mask[w] = static_cast<uint16_t>(t.mask[w] | (1u << e));
        }
    }
    return t;
  }
  static constexpr Tab kTab = Make();
};

// f32(w.d) of block StepBlock(e) of the step at p, in lane e.
template <TensorType T>
inline __m512 WeightScales16(const uint8_t* p) {
  using S = ScaleTables<T>;
  __m512i d = _mm512_setzero_si512();
  for (int w = 0; w < S::kWindows; ++w) {
    const uint8_t* q = p + S::kStart[w];
    const __m512i v = _mm512_maskz_permutex2var_epi32(S::kTab.mask[w], _mm512_loadu_si512(q),
                                                      _mm512_load_si512(S::kTab.idx[w]),
                                                      _mm512_loadu_si512(q + 64));
    d = _mm512_or_si512(d, v);
  }
  d = _mm512_srlv_epi32(d, _mm512_load_si512(S::kTab.shift));
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d));
}

// Q4_1 / Q5_1 (block sizes 0 mod 4): the dword [d | m] of block StepBlock(e) of the step at p, as
// f32(d) and f32(m) in lane e.
template <TensorType T>
inline void WeightScalesMin16(const uint8_t* p, __m512* d, __m512* m) {
  constexpr int kW = Q8BlockBytes<T>() / 4;  // block size in dwords
  const __m512i idx = _mm512_setr_epi32(
      StepBlock(0) * kW, StepBlock(1) * kW, StepBlock(2) * kW, StepBlock(3) * kW, StepBlock(4) * kW,
      StepBlock(5) * kW, StepBlock(6) * kW, StepBlock(7) * kW, StepBlock(8) * kW, StepBlock(9) * kW,
      StepBlock(10) * kW, StepBlock(11) * kW, StepBlock(12) * kW, StepBlock(13) * kW,
      StepBlock(14) * kW, StepBlock(15) * kW);
  const __m512i v = _mm512_i32gather_epi32(idx, p, 4);
  *d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
  *m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
}

// The 4 quads' int32 lanes → S_b of block StepBlock(e) in lane e (exact).
inline __m512i Transpose4Sum(const __m512i* s) {
  const __m512i s01 =
      _mm512_add_epi32(_mm512_unpacklo_epi32(s[0], s[1]), _mm512_unpackhi_epi32(s[0], s[1]));
  const __m512i s23 =
      _mm512_add_epi32(_mm512_unpacklo_epi32(s[2], s[3]), _mm512_unpackhi_epi32(s[2], s[3]));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}

// Software prefetch distance in bytes (see PrefetchRows). 64 KiB beat 16 KiB on mapped (4 KiB
// page) weights: Q8_0 1B decode 57-67% vs 52-56% of the roofline, Q4_K_M 53-58% vs 50%.
constexpr int kGemvPrefetch = 65536;
// The R rows of a tile are one contiguous region (the next tile follows it), so software
// prefetch treats them as one linear stream kGemvPrefetch bytes ahead, issued as fast as it is
// consumed (R rows x one step per step). Measured on Zen 5, one thread, cold weights: per-row
// prefetch 0.5-2 KiB ahead or none at all lose 25-50% against this (hardware prefetchers ramp up
// slowly on 4 short interleaved streams); the distance still gains up to 8-16 KiB.
template <int kBytes>
inline void PrefetchRows(const uint8_t* first_row, int64_t s) {
  const char* pf = reinterpret_cast<const char*>(first_row) + kGemvPrefetch + s * kBytes;
  for (int l = 0; l < kBytes; l += 64) _mm_prefetch(pf + l, _MM_HINT_T0);
}

// Block order for the final tree: lane b ← lane StepBlock(b).
inline __m512 ToBlockOrder(__m512 a) {
  return _mm512_permutexvar_ps(
      _mm512_setr_epi32(StepBlock(0), StepBlock(1), StepBlock(2), StepBlock(3), StepBlock(4),
                        StepBlock(5), StepBlock(6), StepBlock(7), StepBlock(8), StepBlock(9),
                        StepBlock(10), StepBlock(11), StepBlock(12), StepBlock(13), StepBlock(14),
                        StepBlock(15)),
      a);
}

// One step of R rows (weights at p[r]) x N tokens; pf: where this step's share of the prefetch
// stream starts (R steps' bytes, issued a row's share at a time), or null.
template <TensorType T, int R, int N>
inline void LanesStep(const uint8_t* const* p, const ActStep* const* a, __m512 (*acc)[N],
                      const char* pf) {
  constexpr int kStep = 16 * Q8BlockBytes<T>();
  for (int r = 0; r < R; ++r) {
    if (pf != nullptr)
      for (int l = 0; l < kStep; l += 64) _mm_prefetch(pf + r * kStep + l, _MM_HINT_T0);
    __m512i lo[4], hi[4];
    UnpackStep<T>(p[r], lo, hi);
    __m512 dw, mw = _mm512_setzero_ps();
    if constexpr (HasMin<T>())
      WeightScalesMin16<T>(p[r], &dw, &mw);
    else
      dw = WeightScales16<T>(p[r]);
    for (int t = 0; t < N; ++t) {
      const ActStep& x = *a[t];
      __m512i s[4];
      for (int q = 0; q < 4; ++q)
        s[q] =
            _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(x.corr[q], lo[q], x.xlo[q]), hi[q], x.xhi[q]);
      acc[r][t] =
          _mm512_fmadd_ps(_mm512_cvtepi32_ps(Transpose4Sum(s)), _mm512_mul_ps(dw, x.dx), acc[r][t]);
      if constexpr (HasMin<T>())
        acc[r][t] = _mm512_fmadd_ps(x.sx, _mm512_mul_ps(mw, x.dx), acc[r][t]);
    }
  }
}

// R rows x N tokens over all nb blocks; out[r * N + t].
template <TensorType T, int R, int N>
void LanesTile(const uint8_t* const* rows, int64_t nb, const ActStep* const* act, float* out) {
  constexpr int kStep = 16 * Q8BlockBytes<T>();
  __m512 acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < N; ++t) acc[r][t] = _mm512_setzero_ps();
  const int64_t full = nb / 16;
  for (int64_t s = 0; s < full; ++s) {
    const uint8_t* p[R];
    for (int r = 0; r < R; ++r) p[r] = rows[r] + s * kStep;
    const ActStep* a[N];
    for (int t = 0; t < N; ++t) a[t] = act[t] + s;
    LanesStep<T, R, N>(p, a, acc,
                       reinterpret_cast<const char*>(rows[0]) + kGemvPrefetch + s * R * kStep);
  }
  if (const int64_t n = nb - full * 16; n > 0) {
    alignas(64) uint8_t buf[R][kStep];
    const uint8_t* p[R];
    for (int r = 0; r < R; ++r) {
      std::memset(buf[r], 0, kStep);
      std::memcpy(buf[r], rows[r] + full * kStep, n * Q8BlockBytes<T>());
      p[r] = buf[r];
    }
    const ActStep* a[N];
    for (int t = 0; t < N; ++t) a[t] = act[t] + full;
    LanesStep<T, R, N>(p, a, acc, nullptr);
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < N; ++t) out[r * N + t] = Tree16(ToBlockOrder(acc[r][t]));
}

// Rows [r0, r1) in tiles of R rows (a ragged last tile repeats row r1 - 1 and drops the copies)
// against N prepared tokens; Y[t][r] at y + t * ldy + r.
template <TensorType T, int R, int N>
void LanesRows(const uint8_t* wp, size_t w_row_bytes, int64_t nb, const ActStep* const* act,
               float* y, int64_t ldy, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r += R) {
    const uint8_t* rows[R];
    for (int i = 0; i < R; ++i) rows[i] = wp + std::min(r + i, r1 - 1) * w_row_bytes;
    float out[R * N];
    LanesTile<T, R, N>(rows, nb, act, out);
    for (int i = 0; i < R && r + i < r1; ++i)
      for (int j = 0; j < N; ++j) y[j * ldy + r + i] = out[i * N + j];
  }
}

// One token (decode): tiles of 4 rows. 2..7 tokens: up to 4 at a time share kFewRows rows.
constexpr int kFewRows = 2;

template <TensorType T>
void GemmLanesQ8(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
                 float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nb = k / kQK, ns = (nb + 15) / 16;
  thread_local std::vector<ActStep> prep;
  if (prep.size() < static_cast<size_t>(ns * n_tok)) prep.resize(ns * n_tok);
  for (int64_t t = 0; t < n_tok; ++t)
    PrepSteps<T>(As<block_q8_0>(xq) + t * nb, nb, prep.data() + t * ns);
  const uint8_t* wp = static_cast<const uint8_t*>(w);
  const ActStep* act[4];
  if (n_tok == 1) {
    act[0] = prep.data();
    return LanesRows<T, 4, 1>(wp, w_row_bytes, nb, act, y, ldy, r0, r1);
  }
  for (int64_t t0 = 0; t0 < n_tok; t0 += 4) {
    const int n = static_cast<int>(std::min<int64_t>(4, n_tok - t0));
    for (int i = 0; i < n; ++i) act[i] = prep.data() + (t0 + i) * ns;
    WithTokenCount(n, [&](auto N) {
      LanesRows<T, kFewRows, N()>(wp, w_row_bytes, nb, act, y + t0 * ldy, ldy, r0, r1);
    });
  }
}

// ================================================================================================
// K-quants with lanes over k (decode GEMV and few tokens).
// ================================================================================================

// Up to 4 outputs at once, one per xmm lane: each super-block gives exact SI (and SM) per output,
// v = d·SI − dmin·SM, and A[s mod 16] = fma(x.d, v, A[s mod 16]) with A[j] an xmm of the 4
// outputs' accumulators j; the final tree then runs on the xmm vectors.
struct KAcc4 {
  __m128 a[16];
};
inline void KInit(KAcc4* c) {
  for (__m128& v : c->a) v = _mm_setzero_ps();
}
// The totals of the 16 int32 lanes of v[0..3], in lanes 0..3 (integer adds: exact).
inline __m128i Totals4(const __m512i* v) {
  const __m512i s01 =
      _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
  const __m512i s23 =
      _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
  const __m512i u =
      _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
  const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(u), _mm512_extracti64x4_epi64(u, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}
inline void KUpdate(KAcc4* c, int64_t s, __m128i si, __m128i sm, __m128 d, __m128 dmin, __m128 xd) {
  const __m128 v =
      _mm_sub_ps(_mm_mul_ps(d, _mm_cvtepi32_ps(si)), _mm_mul_ps(dmin, _mm_cvtepi32_ps(sm)));
  __m128& a = c->a[s & 15];
  a = _mm_fmadd_ps(xd, v, a);
}
inline void KUpdate6(KAcc4* c, int64_t s, __m128i si, __m128 d, __m128 xd) {  // Q6_K: no mins
  __m128& a = c->a[s & 15];
  a = _mm_fmadd_ps(xd, _mm_mul_ps(d, _mm_cvtepi32_ps(si)), a);
}
inline __m128 KReduce(KAcc4* c) {
  for (int h = 8; h >= 1; h /= 2)
    for (int i = 0; i < h; ++i) c->a[i] = _mm_add_ps(c->a[i], c->a[i + h]);
  return c->a[0];
}

// ---- Q4_K / Q5_K / Q6_K: 4 rows x N <= 4 tokens ----------------------------------------------
//
// Q4_K/Q5_K: per super-block the 128 packed bytes are two 512-bit loads: low/high nibbles of the
// first give sub-blocks [0|2] and [1|3], of the second [4|6] and [5|7] (Q5_K adds the 5th bits
// with vptestmb on the broadcast qh); the activations are pre-arranged in the same order
// (GemvKAct). Products go through vpmaddubsw (u8 levels x s8 activations) and vpdpwssd with the
// sub-block scales; the mins term Σ m_j (bsum_2j + bsum_2j+1) is one vpmaddwd. The 6-bit
// scales/mins of the 4 rows are unpacked together, one row per 128-bit lane.
//
// Q6_K: per half super-block h, ql[64h..64h+63] in one load and qh[32h..32h+31] broadcast to both
// 256-bit halves; per-half shift counts (vpsllvw/vpsrlvw) then yield elements 128h+0..63 and
// 128h+64..127 in natural order, so the activations need no rearranging. Levels stay u8 in
// [0, 63]; the -32 goes through the bsums.
//
// Either way each (row, token) leaves exact integer lanes whose totals are SI and SM; Totals4 /
// Totals4x4 give them for the 4 rows at once and KUpdate applies the canonical float formula.
// The rows and tokens of a tile share the weight unpacking and the activation loads.
struct GemvKAct {
  __m512i x[4];
  __m128i bpair;  // bsum_2j + bsum_2j+1, j = 0..7, int16
  __m128 dx;      // broadcast
};

void PrepGemvK(const block_q8_K* xb, int64_t nsb, GemvKAct* out) {
  for (int64_t b = 0; b < nsb; ++b) {
    const int8_t* q = xb[b].qs;
    GemvKAct& o = out[b];
    o.x[0] = Cat(Load256(q), Load256(q + 64));
    o.x[1] = Cat(Load256(q + 32), Load256(q + 96));
    o.x[2] = Cat(Load256(q + 128), Load256(q + 192));
    o.x[3] = Cat(Load256(q + 160), Load256(q + 224));
    alignas(16) int16_t bp[8];
    for (int j = 0; j < 8; ++j)
      bp[j] = static_cast<int16_t>(xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1]);
    o.bpair = _mm_load_si128(reinterpret_cast<const __m128i*>(bp));
    o.dx = _mm_set1_ps(xb[b].d);
  }
}

// scales[12] of 4 blocks, one per 128-bit lane → bytes [sc0..sc7, m0..m7] per lane (the
// UnpackScalesMinsK4 formula, vectorized).
inline __m512i UnpackScalesK4x4(const uint8_t* s0, const uint8_t* s1, const uint8_t* s2,
                                const uint8_t* s3) {
  // 16-byte loads from scales[] stay inside the block (qh or qs follows).
  __m512i s = _mm512_castsi128_si512(Load128(s0));
  s = _mm512_inserti32x4(s, Load128(s1), 1);
  s = _mm512_inserti32x4(s, Load128(s2), 2);
  s = _mm512_inserti32x4(s, Load128(s3), 3);
  // Low bits: sc0-3 = s[0..3] & 63, sc4-7 = s[8..11] & 15, m0-3 = s[4..7] & 63,
  // m4-7 = s[8..11] >> 4.
  const __m512i a = _mm512_shuffle_epi8(
      s, _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11)));
  const __m512i a_sh = _mm512_mask_blend_epi8(0xF000F000F000F000ull, a, _mm512_srli_epi16(a, 4));
  const __m512i low =
      _mm512_and_si512(a_sh, _mm512_broadcast_i32x4(_mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15,
                                                                  63, 63, 63, 63, 15, 15, 15, 15)));
  // High bits of sc4-7 / m4-7: the top 2 bits of s[0..3] / s[4..7], moved to bits 4-5.
  const __m512i b = _mm512_shuffle_epi8(
      s, _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 4, 5, 6, 7)));
  const __m512i high =
      _mm512_and_si512(_mm512_srli_epi16(b, 2),
                       _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30, 0,
                                                            0, 0, 0, 0x30, 0x30, 0x30, 0x30)));
  return _mm512_or_si512(low, high);
}

// 128-bit lane r of v, zero-extended u8 → int16 (lane index must be a constant).
inline __m256i Lane16(__m512i v, int r) {
  switch (r) {
    case 0:
      return _mm256_cvtepu8_epi16(_mm512_extracti32x4_epi32(v, 0));
    case 1:
      return _mm256_cvtepu8_epi16(_mm512_extracti32x4_epi32(v, 1));
    case 2:
      return _mm256_cvtepu8_epi16(_mm512_extracti32x4_epi32(v, 2));
    default:
      return _mm256_cvtepu8_epi16(_mm512_extracti32x4_epi32(v, 3));
  }
}

// out[r * N + t] for 4 rows x N tokens of Q4_K (kQ5 = false) or Q5_K.
template <bool kQ5, int N>
void Q45K4Rows(const uint8_t* const* rows, int64_t nsb, const GemvKAct* const* act, float* out) {
  constexpr int kBs = kQ5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
  constexpr int kQs = kQ5 ? 48 : 16;  // offset of qs (Q5_K: qh at 16)
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  // Scale of sub-block pair [A|B] per int16 lane: A = 0,1,4,5 for the 4 vectors, B = A + 2.
  __m512i sidx[4];
  for (int i = 0; i < 4; ++i) {
    const int a = (i & 1) + 4 * (i >> 1);
    sidx[i] = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(a)),
                                 _mm256_set1_epi16(static_cast<int16_t>(a + 2)), 1);
  }
  KAcc4 acc[N];  // row r in lane r
  for (int t = 0; t < N; ++t) KInit(&acc[t]);
  for (int64_t b = 0; b < nsb; ++b) {
    PrefetchRows<4 * kBs>(rows[0], b);
    const uint8_t* p[4];
    for (int r = 0; r < 4; ++r) p[r] = rows[r] + b * kBs;
    const __m512i sm = UnpackScalesK4x4(p[0] + 4, p[1] + 4, p[2] + 4, p[3] + 4);
    // SM of the 4 rows (row r in 128-bit lane r) per token: m_j as int16 x bsum pairs, then the
    // 4 int32 lanes of each 128-bit lane added into its first.
    const __m512i m16 = _mm512_unpackhi_epi8(sm, _mm512_setzero_si512());
    __m128i smt[N];
    for (int t = 0; t < N; ++t) {
      __m512i v = _mm512_madd_epi16(m16, _mm512_broadcast_i32x4(act[t][b].bpair));
      v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC));
      v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB));
      smt[t] = _mm512_castsi512_si128(_mm512_permutexvar_epi32(
          _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), v));
    }
    __m512i si[N][4];
    for (int r = 0; r < 4; ++r) {
      const __m256i smr = Lane16(sm, r);
      const __m512i sc = _mm512_castsi256_si512(smr);
      const __m512i v0 = _mm512_loadu_si512(p[r] + kQs), v1 = _mm512_loadu_si512(p[r] + kQs + 64);
      __m512i q[4] = {_mm512_and_si512(v0, m4), _mm512_and_si512(_mm512_srli_epi16(v0, 4), m4),
                      _mm512_and_si512(v1, m4), _mm512_and_si512(_mm512_srli_epi16(v1, 4), m4)};
      if constexpr (kQ5) {
        // Bit 2c (2c + 1) of qh[l] is the 5th bit of sub-block 2c (2c + 1); q[i] holds sub-blocks
        // [A|B] with A = 0,1,4,5 and B = A + 2.
        const __m512i qh = _mm512_broadcast_i64x4(Load256(p[r] + 16));
        for (int i = 0; i < 4; ++i) {
          const int a = (i & 1) + 4 * (i >> 1);
          const __m512i bit =
              _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << a)),
                                 _mm256_set1_epi8(static_cast<char>(1 << (a + 2))), 1);
          q[i] = _mm512_mask_add_epi8(q[i], _mm512_test_epi8_mask(qh, bit), q[i],
                                      _mm512_set1_epi8(16));
        }
      }
      __m512i scp[4];
      for (int i = 0; i < 4; ++i) scp[i] = _mm512_permutexvar_epi16(sidx[i], sc);
      for (int t = 0; t < N; ++t) {
        const GemvKAct& a = act[t][b];
        __m512i sumi = _mm512_setzero_si512();
        for (int i = 0; i < 4; ++i)
          sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q[i], a.x[i]), scp[i]);
        si[t][r] = sumi;
      }
    }
    // f16 [d, dmin] of the 4 rows → d and dmin vectors.
    const __m256 dd = _mm256_cvtph_ps(
        _mm_setr_epi32(static_cast<int>(LoadU32(p[0])), static_cast<int>(LoadU32(p[1])),
                       static_cast<int>(LoadU32(p[2])), static_cast<int>(LoadU32(p[3]))));
    const __m128 lo = _mm256_castps256_ps128(dd), hi = _mm256_extractf128_ps(dd, 1);
    const __m128 d = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    const __m128 dmin = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    for (int t = 0; t < N; ++t) KUpdate(&acc[t], b, Totals4(si[t]), smt[t], d, dmin, act[t][b].dx);
  }
  for (int t = 0; t < N; ++t) {
    alignas(16) float r[4];
    _mm_store_ps(r, KReduce(&acc[t]));
    for (int i = 0; i < 4; ++i) out[i * N + t] = r[i];
  }
}

// Q3_K rides on the same kernel: per half h, qs[32h..32h+31] broadcast to both 256-bit halves and
// shifted by 0|2 (4|6) gives the low bits of elements 128h+0..63 (128h+64..127) in natural order,
// the 3rd bits come from vptestmb on the broadcast hmask; levels are q + 4 in [0, 7], the -4 goes
// through the bsums like Q6_K's -32.
// Q2_K too: the same 2-bit unpacking without 3rd bits or offset, plus the mins term
// SM = Σ_g m_g·bsum_g (one vpmaddwd per row and token) and v = d·SI − dmin·SM.
// out[r * N + t] for 4 rows x N tokens of Q6_K (or Q3_K, Q2_K).
template <int N, TensorType T = TensorType::kQ6_K>
void Q6K4Rows(const uint8_t* const* rows, int64_t nsb, const block_q8_K* const* x, float* out) {
  const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(0x30);
  const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  __m512i sidx[4];  // int16 lanes 8m..8m+7 ← scale 4c+m
  for (int c = 0; c < 4; ++c)
    sidx[c] = _mm512_inserti64x4(
        _mm512_castsi256_si512(
            _mm256_inserti128_si256(_mm256_set1_epi16(static_cast<int16_t>(4 * c)),
                                    _mm_set1_epi16(static_cast<int16_t>(4 * c + 1)), 1)),
        _mm256_inserti128_si256(_mm256_set1_epi16(static_cast<int16_t>(4 * c + 2)),
                                _mm_set1_epi16(static_cast<int16_t>(4 * c + 3)), 1),
        1);
  KAcc4 acc[N];  // row r in lane r
  for (int t = 0; t < N; ++t) KInit(&acc[t]);
  constexpr bool kQ3 = T == TensorType::kQ3_K, kQ2 = T == TensorType::kQ2_K;
  constexpr int kBs = kQ3 ? sizeof(block_q3_K) : kQ2 ? sizeof(block_q2_K) : sizeof(block_q6_K);
  constexpr int kShift = kQ3 ? 2 : 5;  // the offset 4 (32) as a shift of Σ sc bsum
  const __m512i sh01 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  const __m512i sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
  for (int64_t b = 0; b < nsb; ++b) {
    PrefetchRows<4 * kBs>(rows[0], b);
    __m512i si[N][4], smv[N][4];
    alignas(16) int16_t dh[8] = {}, mh[8] = {};
    for (int r = 0; r < 4; ++r) {
      const uint8_t* blk = rows[r] + b * kBs;
      __m256i sc16, m16 = _mm256_setzero_si256();
      __m512i q[4], scp[4];
      if constexpr (kQ2) {
        const block_q2_K& wb = *reinterpret_cast<const block_q2_K*>(blk);
        const __m128i raw = Load128(wb.scales), k4 = _mm_set1_epi8(0x0F);
        sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, k4));
        m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), k4));
        const __m512i m2 = _mm512_set1_epi8(3);
        for (int h = 0; h < 2; ++h) {
          const __m512i l = _mm512_broadcast_i64x4(Load256(wb.qs + 32 * h));
          q[2 * h] = _mm512_and_si512(_mm512_srlv_epi16(l, sh01), m2);
          q[2 * h + 1] = _mm512_and_si512(_mm512_srlv_epi16(l, sh23), m2);
        }
        dh[r] = LoadH(reinterpret_cast<const uint8_t*>(&wb.d));
        mh[r] = LoadH(reinterpret_cast<const uint8_t*>(&wb.dmin));
      } else if constexpr (kQ3) {
        const block_q3_K& wb = *reinterpret_cast<const block_q3_K*>(blk);
        sc16 = _mm256_cvtepi8_epi16(UnpackScalesQ3KSse(wb.scales));
        const __m512i hm = _mm512_broadcast_i64x4(Load256(wb.hmask));
        const __m512i m2 = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4);
        for (int h = 0; h < 2; ++h) {
          const __m512i l = _mm512_broadcast_i64x4(Load256(wb.qs + 32 * h));
          for (int c = 0; c < 2; ++c) {
            const int j = 2 * c;  // bits 4h + j (low half) and 4h + j + 1 (high half)
            const __m512i bit =
                _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (4 * h + j))),
                                   _mm256_set1_epi8(static_cast<char>(1 << (4 * h + j + 1))), 1);
            const __m512i lo = _mm512_and_si512(_mm512_srlv_epi16(l, c == 0 ? sh01 : sh23), m2);
            q[2 * h + c] = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(hm, bit), lo, four);
          }
        }
        dh[r] = LoadH(reinterpret_cast<const uint8_t*>(&wb.d));
      } else {
        const block_q6_K& wb = *reinterpret_cast<const block_q6_K*>(blk);
        sc16 = _mm256_cvtepi8_epi16(Load128(wb.scales));
        for (int h = 0; h < 2; ++h) {
          const __m512i l = _mm512_loadu_si512(wb.ql + 64 * h);
          const __m512i qh = _mm512_broadcast_i64x4(Load256(wb.qh + 32 * h));
          q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m4),
                                     _mm512_and_si512(_mm512_sllv_epi16(qh, shl), m3));
          q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                         _mm512_and_si512(_mm512_srlv_epi16(qh, shr), m3));
        }
        dh[r] = LoadH(reinterpret_cast<const uint8_t*>(&wb.d));
      }
      const __m512i sc = _mm512_castsi256_si512(sc16);
      for (int c = 0; c < 4; ++c) scp[c] = _mm512_permutexvar_epi16(sidx[c], sc);
      for (int t = 0; t < N; ++t) {
        const block_q8_K& xb = x[t][b];
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 4; ++c)
          sumi = _mm512_dpwssd_epi32(
              sumi, _mm512_maddubs_epi16(q[c], _mm512_loadu_si512(xb.qs + 64 * c)), scp[c]);
        if constexpr (kQ2) {
          si[t][r] = sumi;
          smv[t][r] = _mm512_zextsi256_si512(_mm256_madd_epi16(m16, Load256(xb.bsums)));
        } else {  // -32 (-4) * Σ sc_j * bsum_j
          const __m256i corr = _mm256_madd_epi16(sc16, Load256(xb.bsums));
          si[t][r] =
              _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, kShift)));
        }
      }
    }
    const __m128 d = _mm_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dh)));
    if constexpr (kQ2) {
      const __m128 dmin = _mm_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(mh)));
      for (int t = 0; t < N; ++t)
        KUpdate(&acc[t], b, Totals4(si[t]), Totals4(smv[t]), d, dmin, _mm_set1_ps(x[t][b].d));
    } else {
      for (int t = 0; t < N; ++t) KUpdate6(&acc[t], b, Totals4(si[t]), d, _mm_set1_ps(x[t][b].d));
    }
  }
  for (int t = 0; t < N; ++t) {
    alignas(16) float r[4];
    _mm_store_ps(r, KReduce(&acc[t]));
    for (int i = 0; i < 4; ++i) out[i * N + t] = r[i];
  }
}

// ---- IQ4_XS: 4 rows x N <= 4 tokens ------------------------------------------------------------
//
// The 128 index bytes are two 512-bit loads, sub-block 4h + j in 128-bit lane j of load h; low
// nibbles are its elements 0..15, high nibbles 16..31, looked up (vpshufb) as kIq4nlValues + 128.
// vpdpbusd against the activations arranged the same way (IqXsAct), starting at −128 × Σx per
// int32 lane, leaves exact per-lane sums of level·x; vpmulld by the lane's sub-block scale
// ls − 32 and the lane totals (Totals4) give SI, then v = d·SI and A[s mod 16] += x.d·v.
struct IqXsAct {
  __m512i xlo[2], xhi[2];  // lane j of [h]: x[32(4h + j) ..] elements 0..15 / 16..31
  __m512i corr[2];         // −128 × Σ over each int32 lane's bytes of xlo[h] and xhi[h]
  __m128 dx;               // broadcast
};

void PrepIqXs(const block_q8_K* xb, int64_t nsb, IqXsAct* out) {
  const __m512i one = _mm512_set1_epi8(1);
  for (int64_t b = 0; b < nsb; ++b) {
    const int8_t* q = xb[b].qs;
    IqXsAct& o = out[b];
    for (int h = 0; h < 2; ++h) {
      alignas(64) int8_t lo[64], hi[64];
      for (int j = 0; j < 4; ++j) {
        std::memcpy(lo + 16 * j, q + 32 * (4 * h + j), 16);
        std::memcpy(hi + 16 * j, q + 32 * (4 * h + j) + 16, 16);
      }
      o.xlo[h] = _mm512_load_si512(lo);
      o.xhi[h] = _mm512_load_si512(hi);
      const __m512i c = _mm512_dpbusd_epi32(
          _mm512_dpbusd_epi32(_mm512_setzero_si512(), one, o.xlo[h]), one, o.xhi[h]);
      o.corr[h] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(c, 7));
    }
    o.dx = _mm_set1_ps(xb[b].d);
  }
}

template <int N>
void IqXs4Rows(const uint8_t* const* rows, int64_t nsb, const IqXsAct* const* act, float* out) {
  constexpr int kBs = sizeof(block_iq4_xs);
  const __m512i m4 = _mm512_set1_epi8(0x0F), tab = Iq4nlTableU8();
  __m512i jshift4[2], jshift2[2];  // 4j and 2j, j = 4h + (int32 lane / 4)
  for (int h = 0; h < 2; ++h) {
    jshift4[h] = _mm512_setr_epi32(16 * h, 16 * h, 16 * h, 16 * h, 16 * h + 4, 16 * h + 4,
                                   16 * h + 4, 16 * h + 4, 16 * h + 8, 16 * h + 8, 16 * h + 8,
                                   16 * h + 8, 16 * h + 12, 16 * h + 12, 16 * h + 12, 16 * h + 12);
    jshift2[h] = _mm512_srli_epi32(jshift4[h], 1);
  }
  KAcc4 acc[N];  // row r in lane r
  for (int t = 0; t < N; ++t) KInit(&acc[t]);
  for (int64_t b = 0; b < nsb; ++b) {
    PrefetchRows<4 * kBs>(rows[0], b);
    __m512i si[N][4];
    alignas(16) int16_t dh[8] = {};
    for (int r = 0; r < 4; ++r) {
      const block_iq4_xs& wb = As<block_iq4_xs>(rows[r])[b];
      // ls_j − 32 in the 4 int32 lanes of 128-bit lane j mod 4 of scv[j / 4]: the low nibble
      // is bits 4j of scales_l (as a u32), the high bits 2j of scales_h.
      const __m512i sl = _mm512_set1_epi32(static_cast<int>(LoadU32(wb.scales_l)));
      const __m512i shb = _mm512_set1_epi32(wb.scales_h);
      __m512i ulo[2], uhi[2], scv[2];
      for (int h = 0; h < 2; ++h) {
        const __m512i v = _mm512_loadu_si512(wb.qs + 64 * h);
        ulo[h] = _mm512_shuffle_epi8(tab, _mm512_and_si512(v, m4));
        uhi[h] = _mm512_shuffle_epi8(tab, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
        const __m512i ls = _mm512_or_si512(
            _mm512_and_si512(_mm512_srlv_epi32(sl, jshift4[h]), _mm512_set1_epi32(15)),
            _mm512_slli_epi32(
                _mm512_and_si512(_mm512_srlv_epi32(shb, jshift2[h]), _mm512_set1_epi32(3)), 4));
        scv[h] = _mm512_sub_epi32(ls, _mm512_set1_epi32(32));
      }
      for (int t = 0; t < N; ++t) {
        const IqXsAct& a = act[t][b];
        __m512i sum = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
          const __m512i d = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(a.corr[h], ulo[h], a.xlo[h]),
                                                uhi[h], a.xhi[h]);
          sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(d, scv[h]));
        }
        si[t][r] = sum;
      }
      dh[r] = LoadH(reinterpret_cast<const uint8_t*>(&wb.d));
    }
    const __m128 d = _mm_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dh)));
    for (int t = 0; t < N; ++t) KUpdate6(&acc[t], b, Totals4(si[t]), d, act[t][b].dx);
  }
  for (int t = 0; t < N; ++t) {
    alignas(16) float r[4];
    _mm_store_ps(r, KReduce(&acc[t]));
    for (int i = 0; i < 4; ++i) out[i * N + t] = r[i];
  }
}

// 1..7 tokens of a K-quant: tiles of 4 rows (a ragged last tile repeats row r1 - 1 and drops the
// copies) x up to 4 tokens.
template <TensorType T>
void GemmLanesK(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
                float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t nsb = k / kQK_K;
  const block_q8_K* x = As<block_q8_K>(xq);
  thread_local std::vector<GemvKAct> prep;
  thread_local std::vector<IqXsAct> prep_xs;
  if constexpr (T == TensorType::kIQ4_XS) {
    if (prep_xs.size() < static_cast<size_t>(nsb * n_tok)) prep_xs.resize(nsb * n_tok);
    for (int64_t t = 0; t < n_tok; ++t) PrepIqXs(x + t * nsb, nsb, prep_xs.data() + t * nsb);
  } else if constexpr (T != TensorType::kQ6_K && T != TensorType::kQ3_K && T != TensorType::kQ2_K) {
    if (prep.size() < static_cast<size_t>(nsb * n_tok)) prep.resize(nsb * n_tok);
    for (int64_t t = 0; t < n_tok; ++t) PrepGemvK(x + t * nsb, nsb, prep.data() + t * nsb);
  }
  const uint8_t* wp = static_cast<const uint8_t*>(w);
  for (int64_t t0 = 0; t0 < n_tok; t0 += 4) {
    const int n = static_cast<int>(std::min<int64_t>(4, n_tok - t0));
    for (int64_t r = r0; r < r1; r += 4) {
      const uint8_t* rows[4];
      for (int i = 0; i < 4; ++i) rows[i] = wp + std::min(r + i, r1 - 1) * w_row_bytes;
      float out[16];
      WithTokenCount(n, [&](auto N) {
        if constexpr (T == TensorType::kQ6_K || T == TensorType::kQ3_K || T == TensorType::kQ2_K) {
          const block_q8_K* xs[N()];
          for (int i = 0; i < N(); ++i) xs[i] = x + (t0 + i) * nsb;
          Q6K4Rows<N(), T>(rows, nsb, xs, out);
        } else if constexpr (T == TensorType::kIQ4_XS) {
          const IqXsAct* as[N()];
          for (int i = 0; i < N(); ++i) as[i] = prep_xs.data() + (t0 + i) * nsb;
          IqXs4Rows<N()>(rows, nsb, as, out);
        } else {
          const GemvKAct* as[N()];
          for (int i = 0; i < N(); ++i) as[i] = prep.data() + (t0 + i) * nsb;
          Q45K4Rows<T == TensorType::kQ5_K, N()>(rows, nsb, as, out);
        }
      });
      for (int i = 0; i < 4 && r + i < r1; ++i)
        for (int j = 0; j < n; ++j) y[(t0 + j) * ldy + r + i] = out[i * n + j];
    }
  }
}

// ---- float weights: RM rows x RN tokens, lanes over k (lane = i mod 16: A[i mod 16] of the
// canonical order), masked tail ---------------------------------------------------------------

template <int kT>  // 0 f32, 1 f16, 2 bf16
inline __m512 LoadWf(const uint8_t* w, int64_t i, __mmask16 m) {
  if constexpr (kT == 0) return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(w) + i);
  const __m256i h = _mm256_maskz_loadu_epi16(m, w + 2 * i);
  if constexpr (kT == 1) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

template <int kT, int RM, int RN>
void TileF(const uint8_t* w, size_t rb, const float* x, int64_t k, float* y, int64_t ldy) {
  __m512 acc[RM][RN];
  for (int i = 0; i < RM; ++i)
    for (int j = 0; j < RN; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t i = 0; i < k; i += 16) {
    const __mmask16 m = k - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (k - i)) - 1);
    __m512 xv[RN];
    for (int j = 0; j < RN; ++j) xv[j] = _mm512_maskz_loadu_ps(m, x + j * k + i);
    for (int r = 0; r < RM; ++r) {
      const __m512 wv = LoadWf<kT>(w + r * rb, i, m);
      // Lanes past k keep their accumulator (an fma with zeros would turn -0 into +0).
      for (int j = 0; j < RN; ++j) acc[r][j] = _mm512_mask3_fmadd_ps(wv, xv[j], acc[r][j], m);
    }
  }
  for (int r = 0; r < RM; ++r)
    for (int j = 0; j < RN; ++j) y[j * ldy + r] = Tree16(acc[r][j]);
}

template <int kT, int RM>
void TileFRows(const uint8_t* w, size_t rb, const float* x, int64_t k, int64_t n_tok, float* y,
               int64_t ldy) {
  int64_t t = 0;
  for (; t + 4 <= n_tok; t += 4) TileF<kT, RM, 4>(w, rb, x + t * k, k, y + t * ldy, ldy);
  for (; t < n_tok; ++t) TileF<kT, RM, 1>(w, rb, x + t * k, k, y + t * ldy, ldy);
}

template <int kT>
void GemmFloat(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
               float* y, int64_t ldy, int64_t r0, int64_t r1) {
  const uint8_t* wp = static_cast<const uint8_t*>(w);
  const float* x = static_cast<const float*>(xq);
  // Panels of rows that stay in L2 while the tokens pass over them.
  const int64_t panel =
      std::max<int64_t>(4, static_cast<int64_t>((384 << 10) / (w_row_bytes + 1)) / 4 * 4);
  for (int64_t p0 = r0; p0 < r1; p0 += panel) {
    const int64_t p1 = std::min(r1, p0 + panel);
    int64_t r = p0;
    for (; r + 4 <= p1; r += 4)
      TileFRows<kT, 4>(wp + r * w_row_bytes, w_row_bytes, x, k, n_tok, y + r, ldy);
    for (; r < p1; ++r)
      TileFRows<kT, 1>(wp + r * w_row_bytes, w_row_bytes, x, k, n_tok, y + r, ldy);
  }
}

// ================================================================================================
// Outer-product kernel (many tokens).
// ================================================================================================
//
// Activation rows are regrouped into groups of 16 tokens, bytes as u8 (x + 128), laid out
// [32-block][4-byte k group][token]; weight rows are unpacked into s8 levels per 32-block with
// -128 * Σ levels per scale group (so vpdpbusd starting there gives the exact Σ level·x). One
// vpdpbusd multiplies 4 k-values of one weight row (broadcast) with 16 tokens: the 16 lanes are 16
// outputs, each following the canonical order on its own:
// * Q4_0/Q5_0/Q8_0: a unit is a 32-block b; A[b mod 16] = fma((float)S_b, w.d_b × x.d_b, ...);
// * K-quants: a unit is a super-block s; its sub-block sums are scaled by the integer sub-block
//   scales (vpmulld, exact), the mins term is vpdpwssd of the packed m_j with bsum pairs, then
//   v = d·SI − dmin·SM and A[s mod 16] = fma(x.d, v, ...).
// Units are packed in pass order: pass j holds units j, j + 16, j + 32, ... (ascending), so one
// register accumulator per output serves a whole pass; the 16 pass results then go through the
// canonical tree, vectorized over the 16 tokens. Padded token lanes (x = 0, scales 0) are dropped.

constexpr int kRM = 4;  // weight rows per tile
constexpr int kNG = 2;  // groups of 16 tokens per tile

template <TensorType T>
constexpr bool IsKQuant() {
  return T == TensorType::kQ4_K || T == TensorType::kQ5_K || T == TensorType::kQ6_K ||
         T == TensorType::kIQ4_XS || T == TensorType::kQ3_K || T == TensorType::kQ2_K;
}

// unit[p]: the unit at packed position p; pass j is positions start[j] .. start[j + 1] - 1.
// pos[u]: its inverse (packing walks the source rows in order).
struct PassOrder {
  std::vector<int32_t> unit, pos;
  int64_t start[17];
  void Make(int64_t nu) {
    unit.clear();
    pos.assign(static_cast<size_t>(nu), 0);
    for (int j = 0; j < 16; ++j) {
      start[j] = static_cast<int64_t>(unit.size());
      for (int64_t u = j; u < nu; u += 16) {
        pos[u] = static_cast<int32_t>(unit.size());
        unit.push_back(static_cast<int32_t>(u));
      }
    }
    start[16] = nu;
  }
};

// Unpacked weights of a tile of kRM rows, in packed unit order, rows interleaved so one pointer
// and compile-time offsets reach every row. K-quants: 8 consecutive 32-blocks per unit.
// Levels are stored unsigned (u8 operand of vpdpbusd): the stored value is level + kOffset<T>,
// and S_b = Σ u·x − kOffset·Σx, the second term from the activations (AGroup::cx), so a weight row
// needs no per-block sum of its own.
struct WTile {
  uint8_t* q;      // [nb][kRM][32] raw unsigned q (Q8_0: q + 128)
  float* scale;    // Q4_0/Q5_0/Q8_0: [nb][kRM] f32(w.d); K-quants: [nsb][2][kRM] d, dmin
  int32_t* isc;    // K-quants: [groups][kRM] integer scale per group
  int32_t* mpair;  // Q4_K/Q5_K: [nsb][4][kRM], Q2_K: [nsb][8][kRM] (m_2i, m_2i+1) int16 pairs
};

// What a stored level exceeds the signed level by (see WTile).
template <TensorType T>
constexpr int kOffset =
    T == TensorType::kQ4_0                                                           ? 8
    : T == TensorType::kQ5_0                                                         ? 16
    : T == TensorType::kQ6_K                                                         ? 32
    : T == TensorType::kQ3_K                                                         ? 4
    : T == TensorType::kQ8_0 || T == TensorType::kIQ4_NL || T == TensorType::kIQ4_XS ? 128
                                                                                     : 0;

// int16 pairs of mins per super-block (Q4_K/Q5_K: 8 mins of 32-blocks; Q2_K: 16 of 16-groups).
template <TensorType T>
constexpr int kMinPairs = T == TensorType::kQ2_K ? 8 : 4;

// Row r (< kRM) of the tile o from the weight row at w.
template <TensorType T>
void UnpackRow(const uint8_t* w, const PassOrder& po, const WTile& o, int r) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const int64_t nu = static_cast<int64_t>(po.unit.size());
  auto store_q = [&](int64_t b, __m256i v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.q + (b * kRM + r) * 32), v);
  };
  for (int64_t u = 0; u < nu; ++u) {  // the weight row in order (it streams from memory)
    const int64_t p = po.pos[u];
    if constexpr (HasMin<T>()) {  // Q4_1, Q5_1: scale [2p] = d, [2p + 1] = m
      const uint8_t* wb = w + u * Q8BlockBytes<T>();
      constexpr int kQs = T == TensorType::kQ4_1 ? 4 : 8;
      const __m128i a = Load128(wb + kQs);
      __m256i v = _mm256_and_si256(
          _mm256_inserti128_si256(_mm256_castsi128_si256(a), _mm_srli_epi16(a, 4), 1), m4);
      if constexpr (T == TensorType::kQ5_1)
        v = _mm256_mask_add_epi8(v, _cvtu32_mask32(LoadU32(wb + 4)), v, _mm256_set1_epi8(16));
      store_q(p, v);
      o.scale[(2 * p) * kRM + r] = H(static_cast<uint16_t>(LoadH(wb)));
      o.scale[(2 * p + 1) * kRM + r] = H(static_cast<uint16_t>(LoadH(wb + 2)));
    } else if constexpr (T == TensorType::kIQ4_NL) {
      const block_iq4_nl& wb = As<block_iq4_nl>(w)[u];
      const __m128i a = Load128(wb.qs);
      const __m256i v = _mm256_and_si256(
          _mm256_inserti128_si256(_mm256_castsi128_si256(a), _mm_srli_epi16(a, 4), 1), m4);
      store_q(p, _mm256_shuffle_epi8(_mm512_castsi512_si256(Iq4nlTableU8()), v));
      o.scale[p * kRM + r] = H(wb.d);
    } else if constexpr (T == TensorType::kQ2_K) {  // 8 blocks of 32, two scale groups each
      const block_q2_K& wb = As<block_q2_K>(w)[u];
      o.scale[(2 * p) * kRM + r] = H(wb.d);
      o.scale[(2 * p + 1) * kRM + r] = H(wb.dmin);
      for (int i = 0; i < 8; ++i)
        o.mpair[(8 * p + i) * kRM + r] =
            static_cast<int32_t>((wb.scales[2 * i] >> 4) |
                                 (uint32_t{static_cast<uint8_t>(wb.scales[2 * i + 1] >> 4)} << 16));
      const __m256i m2 = _mm256_set1_epi8(3);
      for (int h = 0; h < 2; ++h) {
        const __m256i l = Load256(wb.qs + 32 * h);
        for (int j = 0; j < 4; ++j) {
          const int64_t b = p * 8 + 4 * h + j;
          store_q(b, _mm256_and_si256(_mm256_srli_epi16(l, 2 * j), m2));
          o.isc[(2 * b) * kRM + r] = wb.scales[2 * (4 * h + j)] & 15;
          o.isc[(2 * b + 1) * kRM + r] = wb.scales[2 * (4 * h + j) + 1] & 15;
        }
      }
    } else if constexpr (T == TensorType::kQ3_K) {  // 8 blocks of 32, two scale groups each
      const block_q3_K& wb = As<block_q3_K>(w)[u];
      o.scale[(2 * p) * kRM + r] = H(wb.d);
      o.scale[(2 * p + 1) * kRM + r] = 0.0f;
      alignas(16) int8_t sc[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(sc), UnpackScalesQ3KSse(wb.scales));
      const __m256i hm = Load256(wb.hmask), m2 = _mm256_set1_epi8(3);
      for (int h = 0; h < 2; ++h) {
        const __m256i l = Load256(wb.qs + 32 * h);
        for (int j = 0; j < 4; ++j) {
          const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(l, 2 * j), m2);
          const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << (4 * h + j)));
          const int64_t b = p * 8 + 4 * h + j;
          store_q(
              b, _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(hm, bit), lo, _mm256_set1_epi8(4)));
          o.isc[(2 * b) * kRM + r] = sc[2 * (4 * h + j)];
          o.isc[(2 * b + 1) * kRM + r] = sc[2 * (4 * h + j) + 1];
        }
      }
    } else if constexpr (T == TensorType::kIQ4_XS) {  // 8 blocks of 32, one scale group each
      const block_iq4_xs& wb = As<block_iq4_xs>(w)[u];
      o.scale[(2 * p) * kRM + r] = H(wb.d);
      o.scale[(2 * p + 1) * kRM + r] = 0.0f;
      const __m256i tab = _mm512_castsi512_si256(Iq4nlTableU8());
      for (int j = 0; j < 8; ++j) {
        const __m128i a = Load128(wb.qs + 16 * j);
        const __m256i v = _mm256_and_si256(
            _mm256_inserti128_si256(_mm256_castsi128_si256(a), _mm_srli_epi16(a, 4), 1), m4);
        const int64_t b = p * 8 + j;
        store_q(b, _mm256_shuffle_epi8(tab, v));
        o.isc[b * kRM + r] = ScaleIq4Xs(wb, j) - 32;
      }
    } else if constexpr (T == TensorType::kQ4_0 || T == TensorType::kQ5_0 ||
                         T == TensorType::kQ8_0) {
      __m256i v;
      float d;
      if constexpr (T == TensorType::kQ8_0) {
        const block_q8_0& wb = As<block_q8_0>(w)[u];
        v = _mm256_xor_si256(Load256(wb.qs), _mm256_set1_epi8(static_cast<char>(0x80)));
        d = H(wb.d);
      } else if constexpr (T == TensorType::kQ4_0) {
        const block_q4_0& wb = As<block_q4_0>(w)[u];
        const __m128i a = Load128(wb.qs);
        v = _mm256_and_si256(
            _mm256_inserti128_si256(_mm256_castsi128_si256(a), _mm_srli_epi16(a, 4), 1), m4);
        d = H(wb.d);
      } else {
        const block_q5_0& wb = As<block_q5_0>(w)[u];
        const __m128i a = Load128(wb.qs);
        v = _mm256_and_si256(
            _mm256_inserti128_si256(_mm256_castsi128_si256(a), _mm_srli_epi16(a, 4), 1), m4);
        v = _mm256_mask_add_epi8(v, _cvtu32_mask32(LoadU32(wb.qh)), v, _mm256_set1_epi8(16));
        d = H(wb.d);
      }
      store_q(p, v);
      o.scale[p * kRM + r] = d;
    } else if constexpr (T == TensorType::kQ6_K) {
      const __m256i m3 = _mm256_set1_epi8(0x30);
      const block_q6_K& wb = As<block_q6_K>(w)[u];
      o.scale[(2 * p) * kRM + r] = H(wb.d);
      o.scale[(2 * p + 1) * kRM + r] = 0.0f;
      for (int h = 0; h < 2; ++h) {
        const __m256i l0 = Load256(wb.ql + 64 * h), l1 = Load256(wb.ql + 64 * h + 32);
        const __m256i qh = Load256(wb.qh + 32 * h);
        __m256i a[4];
        a[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                               _mm256_and_si256(_mm256_slli_epi16(qh, 4), m3));
        a[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                               _mm256_and_si256(_mm256_slli_epi16(qh, 2), m3));
        a[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                               _mm256_and_si256(qh, m3));
        a[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3));
        for (int g = 0; g < 4; ++g) {
          const int64_t b = p * 8 + h * 4 + g;  // 32-block position
          store_q(b, a[g]);
          const int j = (h * 4 + g) * 2;
          o.isc[(2 * b) * kRM + r] = wb.scales[j];
          o.isc[(2 * b + 1) * kRM + r] = wb.scales[j + 1];
        }
      }
    } else {  // Q4_K, Q5_K
      const uint8_t *qs, *scales;
      __m256i qh = _mm256_setzero_si256();
      uint16_t dh, mh;
      if constexpr (T == TensorType::kQ5_K) {
        const block_q5_K& wb = As<block_q5_K>(w)[u];
        qs = wb.qs;
        scales = wb.scales;
        dh = wb.d;
        mh = wb.dmin;
        qh = Load256(wb.qh);
      } else {
        const block_q4_K& wb = As<block_q4_K>(w)[u];
        qs = wb.qs;
        scales = wb.scales;
        dh = wb.d;
        mh = wb.dmin;
      }
      o.scale[(2 * p) * kRM + r] = H(dh);
      o.scale[(2 * p + 1) * kRM + r] = H(mh);
      uint8_t sc[8], m[8];
      UnpackScalesMinsK4(scales, sc, m);
      for (int i = 0; i < 4; ++i)
        o.mpair[(4 * p + i) * kRM + r] =
            static_cast<int32_t>(m[2 * i] | (uint32_t{m[2 * i + 1]} << 16));
      for (int c = 0; c < 4; ++c) {
        const __m256i v = Load256(qs + 32 * c);
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if constexpr (T == TensorType::kQ5_K) {
          const __m256i one = _mm256_set1_epi8(1);
          lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
          hi = _mm256_or_si256(
              hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4));
          qh = _mm256_srli_epi16(qh, 2);
        }
        const int64_t b = p * 8 + 2 * c;
        store_q(b, lo);
        store_q(b + 1, hi);
        o.isc[b * kRM + r] = sc[2 * c];
        o.isc[(b + 1) * kRM + r] = sc[2 * c + 1];
      }
    }
  }
}

// Activations of kNG groups of 16 tokens each, in packed unit order; group j's arrays start
// j * stride bytes after group 0's. xs [nb][8][16][4] s8 x; Q4_0/Q5_0/Q8_0: dx [nb][16];
// K-quants: dx [nsb][16] (x.d), bp [nsb][4][16] int32 = (bpair_2i, bpair_2i+1) (Q2_K: [nsb][8][16]
// (bsum_2i, bsum_2i+1), in the cx area, which Q2_K does not use); cx [groups][16]
// int32 = −kOffset · Σx over each scale group (a 32-block; Q6_K: 16 elements).
struct AGroup {
  uint8_t* xs;
  float* dx;
  int32_t* bp;
  int32_t* cx;
};

// 16 rows of 32 bytes (token i's at src[i]) → dst[kg][i][4] = bytes 4 kg .. 4 kg + 3 of row i:
// an 8 x 8 dword transpose in each 256-bit half (tokens 0..7 | 8..15).
inline void Transpose16x32(const int8_t* const* src, uint8_t* dst) {
  __m512i z[8];
  for (int i = 0; i < 8; ++i) z[i] = Cat(Load256(src[i]), Load256(src[i + 8]));
  __m512i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(z[2 * i], z[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(z[2 * i], z[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      u[4 * i + j] = _mm512_unpacklo_epi64(t[4 * i + j], t[4 * i + j + 2]);
      u[4 * i + j + 2] = _mm512_unpackhi_epi64(t[4 * i + j], t[4 * i + j + 2]);
    }
  // u[4i + c], c = (0: dwords 0/4, 2: 1/5, 1: 2/6, 3: 3/7) of tokens 4i .. 4i + 3 per 128-bit
  // lane; lanes (0, 1) hold dwords (d, d + 4) of tokens 0..7, lanes (2, 3) of tokens 8..15.
  const int dword_of[4] = {0, 2, 1, 3};
  for (int c = 0; c < 4; ++c) {
    const int d = dword_of[c];
    // tokens 0-3 | 4-7 | 8-11 | 12-15 for dword d (lanes 0 and 2), d + 4 (lanes 1 and 3).
    const __m512i lo = _mm512_shuffle_i64x2(u[c], u[4 + c], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512i hi = _mm512_shuffle_i64x2(u[c], u[4 + c], _MM_SHUFFLE(3, 1, 3, 1));
    // lo lanes: [u0 L0, u0 L2, u4 L0, u4 L2] = tokens [0-3, 8-11, 4-7, 12-15]: reorder.
    const __m512i idx = _mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7);
    _mm512_storeu_si512(dst + d * 64, _mm512_permutexvar_epi64(idx, lo));
    _mm512_storeu_si512(dst + (d + 4) * 64, _mm512_permutexvar_epi64(idx, hi));
  }
}

// Σ of 32 signed bytes.
inline int32_t Sum32(const int8_t* p) {
  const __m256i s =
      _mm256_sad_epu8(_mm256_xor_si256(Load256(p), _mm256_set1_epi8(static_cast<char>(0x80))),
                      _mm256_setzero_si256());
  __m128i a = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  a = _mm_add_epi64(a, _mm_unpackhi_epi64(a, a));
  return static_cast<int32_t>(_mm_cvtsi128_si32(a)) - 32 * 128;
}

template <TensorType T>
void PackActGroup(const void* xq, int64_t k, int64_t t0, int64_t n_tok, const PassOrder& po,
                  const AGroup& g) {
  constexpr bool kK = IsKQuant<T>();
  const int64_t nb = k / kQK, nu = static_cast<int64_t>(po.unit.size());
  const size_t rb = kK ? (k / kQK_K) * sizeof(block_q8_K) : nb * sizeof(block_q8_0);
  alignas(32) static const int8_t kZeros[32] = {};
  const uint8_t* rows[16];
  for (int i = 0; i < 16; ++i)
    rows[i] = t0 + i < n_tok ? static_cast<const uint8_t*>(xq) + (t0 + i) * rb : nullptr;
  for (int64_t u = 0; u < nu; ++u) {
    const int64_t p = po.pos[u];
    constexpr int kBlocks = kK ? 8 : 1;
    for (int sb = 0; sb < kBlocks; ++sb) {
      const int8_t* src[16];
      for (int i = 0; i < 16; ++i) {
        if (rows[i] == nullptr)
          src[i] = kZeros;  // padded token: x = 0
        else if constexpr (kK)
          src[i] = As<block_q8_K>(rows[i])[u].qs + 32 * sb;
        else
          src[i] = As<block_q8_0>(rows[i])[u].qs;
      }
      Transpose16x32(src, g.xs + (p * kBlocks + sb) * 512);
    }
    for (int i = 0; i < 16; ++i) {
      if constexpr (kK) {
        if (rows[i] == nullptr) {
          g.dx[p * 16 + i] = 0.0f;
          for (int j = 0; j < kMinPairs<T>; ++j) g.bp[(p * kMinPairs<T> + j) * 16 + i] = 0;
          if constexpr (kOffset<T> != 0)
            for (int j = 0; j < (T == TensorType::kIQ4_XS ? 8 : 16); ++j)
              g.cx[(p * (T == TensorType::kIQ4_XS ? 8 : 16) + j) * 16 + i] = 0;
          continue;
        }
        const block_q8_K& xb = As<block_q8_K>(rows[i])[u];
        g.dx[p * 16 + i] = xb.d;
        if constexpr (T == TensorType::kQ6_K || T == TensorType::kQ3_K)  // 16 elements, one bsum
          for (int j = 0; j < 16; ++j) g.cx[(p * 16 + j) * 16 + i] = -kOffset<T> * xb.bsums[j];
        if constexpr (T == TensorType::kIQ4_XS)  // a scale group is a 32-block, two bsums
          for (int j = 0; j < 8; ++j)
            g.cx[(p * 8 + j) * 16 + i] = -kOffset<T> * (xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
        if constexpr (T == TensorType::kQ2_K) {  // (bsum_2j, bsum_2j+1): the 16 groups' mins
          for (int j = 0; j < 8; ++j)
            g.bp[(p * 8 + j) * 16 + i] = static_cast<int32_t>(
                (xb.bsums[2 * j] & 0xFFFF) | (static_cast<uint32_t>(xb.bsums[2 * j + 1]) << 16));
        } else {
          for (int j = 0; j < 4; ++j) {
            const int lo = xb.bsums[4 * j] + xb.bsums[4 * j + 1];
            const int hi = xb.bsums[4 * j + 2] + xb.bsums[4 * j + 3];
            g.bp[(p * 4 + j) * 16 + i] =
                static_cast<int32_t>((lo & 0xFFFF) | (static_cast<uint32_t>(hi) << 16));
          }
        }
      } else if (rows[i] == nullptr) {
        g.dx[p * 16 + i] = 0.0f;
        g.cx[p * 16 + i] = 0;
      } else {
        const block_q8_0& xb = As<block_q8_0>(rows[i])[u];
        g.dx[p * 16 + i] = H(xb.d);
        // Q4_1/Q5_1: T_b = Σx itself (the m term); others: the offset's correction.
        g.cx[p * 16 + i] = HasMin<T>() ? Sum32(xb.qs) : -kOffset<T> * Sum32(xb.qs);
      }
    }
  }
}

// S of RM rows x NG groups for the kGroups 4-byte groups kg0 .. of the 32-block at position b,
// starting from the scale group's activation corrections (cx + grp * 16 of each group; nullptr
// for none): vpdpbusd of the unsigned stored weight levels (broadcast) with 16 tokens' s8 x.
template <int RM, int NG, int kGroups>
inline void ScaleGroupDot(const uint8_t* wq, const uint8_t* xs, int64_t gstride, int64_t b, int kg0,
                          const int32_t* c, __m512i (*s)[NG]) {
  for (int j = 0; j < NG; ++j) {
    const __m512i init = c != nullptr
                             ? _mm512_loadu_si512(reinterpret_cast<const uint8_t*>(c) + j * gstride)
                             : _mm512_setzero_si512();
    for (int r = 0; r < RM; ++r) s[r][j] = init;
  }
  const uint8_t* wb = wq + b * kRM * 32;
  const uint8_t* xb = xs + b * 512;
  for (int kg = kg0; kg < kg0 + kGroups; ++kg) {
    __m512i xv[NG];
    for (int j = 0; j < NG; ++j) xv[j] = _mm512_loadu_si512(xb + j * gstride + kg * 64);
    for (int r = 0; r < RM; ++r) {
      int32_t wv;
      std::memcpy(&wv, wb + r * 32 + 4 * kg, 4);
      const __m512i wbv = _mm512_set1_epi32(wv);
      for (int j = 0; j < NG; ++j) s[r][j] = _mm512_dpbusd_epi32(s[r][j], wbv, xv[j]);
    }
  }
}

// RM rows x NG groups over all units: out[r * NG + j] = the 16 tokens' outputs. The pf_lines
// cache lines at pf (the next tile's weight rows) are prefetched spread over the units, so they
// arrive while this tile computes without filling the miss queue at once.
template <TensorType T, int RM, int NG>
void OuterTile(const WTile& w, const AGroup& g, int64_t gstride, const PassOrder& po, __m512* out,
               const uint8_t* pf, int64_t pf_lines) {
  __m512 part[16][RM * NG];  // the 16 accumulators A[0..15] of each output
  const int64_t nu = static_cast<int64_t>(po.unit.size());
  int64_t p = 0, pf_next = 0;
  for (int pass = 0; pass < 16; ++pass) {
    __m512 acc[RM][NG];
    for (int r = 0; r < RM; ++r)
      for (int j = 0; j < NG; ++j) acc[r][j] = _mm512_setzero_ps();
    const int64_t end = pass < nu ? po.start[pass + 1] : p;
    for (; p < end; ++p) {
      for (const int64_t pf_end = (p + 1) * pf_lines / nu; pf_next < pf_end; ++pf_next)
        _mm_prefetch(reinterpret_cast<const char*>(pf + pf_next * 64), _MM_HINT_T0);
      if constexpr (!IsKQuant<T>()) {
        constexpr bool kMin = HasMin<T>();
        __m512i s[RM][NG];
        ScaleGroupDot<RM, NG, 8>(w.q, g.xs, gstride, p, 0, kMin ? nullptr : g.cx + p * 16, s);
        __m512 dx[NG], tx[NG];
        for (int j = 0; j < NG; ++j) {
          const uint8_t* gj = reinterpret_cast<const uint8_t*>(g.dx) + j * gstride;
          dx[j] = _mm512_loadu_ps(reinterpret_cast<const float*>(gj) + p * 16);
          if constexpr (kMin)
            tx[j] = _mm512_cvtepi32_ps(
                _mm512_loadu_si512(reinterpret_cast<const uint8_t*>(g.cx + p * 16) + j * gstride));
        }
        for (int r = 0; r < RM; ++r) {
          const __m512 ws = _mm512_set1_ps(w.scale[(kMin ? 2 * p : p) * kRM + r]);
          for (int j = 0; j < NG; ++j)
            acc[r][j] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r][j]), _mm512_mul_ps(ws, dx[j]), acc[r][j]);
          if constexpr (kMin) {
            const __m512 wm = _mm512_set1_ps(w.scale[(2 * p + 1) * kRM + r]);
            for (int j = 0; j < NG; ++j)
              acc[r][j] = _mm512_fmadd_ps(tx[j], _mm512_mul_ps(wm, dx[j]), acc[r][j]);
          }
        }
      } else {
        constexpr bool kQ2 = T == TensorType::kQ2_K;
        constexpr bool kQ6 = T == TensorType::kQ6_K || T == TensorType::kQ3_K;  // offset via cx
        constexpr bool kXs = T == TensorType::kIQ4_XS;
        constexpr bool kMins = !kQ6 && !kXs;        // Q4_K, Q5_K, Q2_K
        constexpr int kParts = kQ6 || kQ2 ? 2 : 1;  // scale groups per 32-block
        constexpr int kPairs = kMinPairs<T>;
        __m512i si[RM][NG];
        for (int r = 0; r < RM; ++r)
          for (int j = 0; j < NG; ++j) si[r][j] = _mm512_setzero_si512();
        for (int64_t b = p * 8; b < p * 8 + 8; ++b)
          for (int part_i = 0; part_i < kParts; ++part_i) {
            const int64_t grp = b * kParts + part_i;
            __m512i s[RM][NG];
            ScaleGroupDot<RM, NG, 8 / kParts>(w.q, g.xs, gstride, b, part_i * (8 / kParts),
                                              kQ6 || kXs ? g.cx + grp * 16 : nullptr, s);
            for (int r = 0; r < RM; ++r) {
              const __m512i sc = _mm512_set1_epi32(w.isc[grp * kRM + r]);
              for (int j = 0; j < NG; ++j)
                si[r][j] = _mm512_add_epi32(si[r][j], _mm512_mullo_epi32(s[r][j], sc));
            }
          }
        for (int j = 0; j < NG; ++j) {
          const uint8_t* gj = reinterpret_cast<const uint8_t*>(g.dx) + j * gstride;
          const __m512 xd = _mm512_loadu_ps(reinterpret_cast<const float*>(gj) + p * 16);
          __m512i bp[kPairs];
          if constexpr (kMins)
            for (int i = 0; i < kPairs; ++i)
              bp[i] = _mm512_loadu_si512(reinterpret_cast<const uint8_t*>(g.bp) + j * gstride +
                                         ((p * kPairs + i) * 16) * 4);
          for (int r = 0; r < RM; ++r) {
            __m512 v = _mm512_mul_ps(_mm512_set1_ps(w.scale[(2 * p) * kRM + r]),
                                     _mm512_cvtepi32_ps(si[r][j]));
            if constexpr (kMins) {
              __m512i sm = _mm512_setzero_si512();
              for (int i = 0; i < kPairs; ++i)
                sm = _mm512_dpwssd_epi32(sm, bp[i],
                                         _mm512_set1_epi32(w.mpair[(kPairs * p + i) * kRM + r]));
              v = _mm512_sub_ps(v, _mm512_mul_ps(_mm512_set1_ps(w.scale[(2 * p + 1) * kRM + r]),
                                                 _mm512_cvtepi32_ps(sm)));
            }
            acc[r][j] = _mm512_fmadd_ps(xd, v, acc[r][j]);
          }
        }
      }
    }
    for (int r = 0; r < RM; ++r)
      for (int j = 0; j < NG; ++j) part[pass][r * NG + j] = acc[r][j];
  }
  for (int o = 0; o < RM * NG; ++o) {  // the canonical tree, one output at a time in registers
    __m512 a[16];
    for (int i = 0; i < 16; ++i) a[i] = part[i][o];
    for (int h = 8; h >= 1; h /= 2)
      for (int i = 0; i < h; ++i) a[i] = _mm512_add_ps(a[i], a[i + h]);
    out[o] = a[0];
  }
}

template <TensorType T, int RM>
void OuterRows(const WTile& w, const AGroup* groups, int64_t n_groups, int64_t gstride,
               const PassOrder& po, int64_t t_base, int64_t n_tok, float* y, int64_t ldy, int64_t r,
               const uint8_t* pf, int64_t pf_lines) {
  alignas(64) float tmp[RM * kNG * 16];
  for (int64_t gi = 0; gi < n_groups; gi += kNG) {
    const int ng = static_cast<int>(std::min<int64_t>(kNG, n_groups - gi));
    const int64_t lines = gi == 0 ? pf_lines : 0;  // the first group's pass prefetches
    __m512 out[RM * kNG];
    if (ng == kNG)
      OuterTile<T, RM, kNG>(w, groups[gi], gstride, po, out, pf, lines);
    else
      OuterTile<T, RM, 1>(w, groups[gi], gstride, po, out, pf, lines);
    for (int i = 0; i < RM * ng; ++i) _mm512_store_ps(tmp + 16 * i, out[i]);
    for (int j = 0; j < ng; ++j)
      for (int l = 0; l < 16; ++l) {
        const int64_t t = t_base + (gi + j) * 16 + l;
        if (t >= n_tok) break;
        for (int rr = 0; rr < RM; ++rr) y[t * ldy + r + rr] = tmp[(rr * ng + j) * 16 + l];
      }
  }
}

template <TensorType T>
void GemmOuter(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
               float* y, int64_t ldy, int64_t r0, int64_t r1) {
  constexpr bool kK = IsKQuant<T>();
  const int64_t nb = k / kQK, nsb = k / kQK_K;
  thread_local PassOrder po;
  po.Make(kK ? nsb : nb);
  const int64_t n_groups_all = (n_tok + 15) / 16;
  // Token panels: each weight row is unpacked once per panel. 128-token panels kept the packed
  // activations in L2 but unpacked rows 4 times for 512 tokens; measured on Zen 4 (2 threads),
  // 256 tokens for k < 4096 and 512 beyond were best (k = 8192: +7% over 128).
  constexpr int64_t kMaxPanelGroups = 32;
  const int64_t panel_groups = k >= 4096 ? kMaxPanelGroups : 16;
  thread_local std::vector<uint8_t> abuf;
  thread_local std::vector<uint8_t> wbuf;
  // Per group and 32-block: xs 512 B, dx 64 B (K: dx and bp per super-block fit in that), cx
  // 128 B (two scale groups).
  const int64_t group_bytes = nb * (512 + 64 + 128);
  const int64_t pg = std::min(panel_groups, n_groups_all);
  if (abuf.size() < static_cast<size_t>(pg * group_bytes + 64)) abuf.resize(pg * group_bytes + 64);
  // Per row and 32-block: q 32 B, scale 8 B, isc 8 B; per super-block mpair 16 B.
  const size_t row_share = nb * (32 + 8 + 8) + nsb * 4 * kMinPairs<T>;
  if (wbuf.size() < kRM * row_share + 64) wbuf.resize(kRM * row_share + 64);
  uint8_t* base = wbuf.data();
  const WTile wt = {base, reinterpret_cast<float*>(base + kRM * nb * 32),
                    reinterpret_cast<int32_t*>(base + kRM * nb * 40),
                    reinterpret_cast<int32_t*>(base + kRM * nb * 48)};
  const uint8_t* wp = static_cast<const uint8_t*>(w);
  for (int64_t g0 = 0; g0 < n_groups_all; g0 += panel_groups) {
    const int64_t ng = std::min(panel_groups, n_groups_all - g0);
    AGroup groups[kMaxPanelGroups];
    for (int64_t j = 0; j < ng; ++j) {
      uint8_t* gb = abuf.data() + j * group_bytes;
      float* dx = reinterpret_cast<float*>(gb + nb * 512);
      int32_t* cx = reinterpret_cast<int32_t*>(gb + nb * (512 + 64));
      // Q2_K's 8 bsum pairs per super-block do not fit after dx; it has no cx, so they go there.
      int32_t* bp = T == TensorType::kQ2_K ? cx : reinterpret_cast<int32_t*>(dx + nsb * 16);
      groups[j] = {gb, dx, bp, cx};
      PackActGroup<T>(xq, k, (g0 + j) * 16, n_tok, po, groups[j]);
    }
    for (int64_t r = r0; r < r1;) {
      const int rm = static_cast<int>(std::min<int64_t>(kRM, r1 - r));
      for (int i = 0; i < rm; ++i) UnpackRow<T>(wp + (r + i) * w_row_bytes, po, wt, i);
      // The next tile's rows stream in while this one computes (with few tokens a tile's compute
      // is short, and the memory time was not hidden: 25% of a 16-token step on Zen 4).
      const uint8_t* next = wp + (r + rm) * w_row_bytes;
      const int64_t next_rows = std::min<int64_t>(kRM, r1 - r - rm);
      const int64_t pf_lines = (next_rows * static_cast<int64_t>(w_row_bytes) + 63) / 64;
      switch (rm) {
        case 4:
          OuterRows<T, 4>(wt, groups, ng, group_bytes, po, g0 * 16, n_tok, y, ldy, r, next,
                          pf_lines);
          break;
        case 3:
          OuterRows<T, 3>(wt, groups, ng, group_bytes, po, g0 * 16, n_tok, y, ldy, r, next,
                          pf_lines);
          break;
        case 2:
          OuterRows<T, 2>(wt, groups, ng, group_bytes, po, g0 * 16, n_tok, y, ldy, r, next,
                          pf_lines);
          break;
        default:
          OuterRows<T, 1>(wt, groups, ng, group_bytes, po, g0 * 16, n_tok, y, ldy, r, next,
                          pf_lines);
      }
      r += rm;
    }
  }
}

template <TensorType T>
void GemmQ(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok, float* y,
           int64_t ldy, int64_t r0, int64_t r1) {
  if (n_tok >= kOuterMinTok) return GemmOuter<T>(w, w_row_bytes, k, xq, n_tok, y, ldy, r0, r1);
  if constexpr (IsKQuant<T>())
    GemmLanesK<T>(w, w_row_bytes, k, xq, n_tok, y, ldy, r0, r1);
  else
    GemmLanesQ8<T>(w, w_row_bytes, k, xq, n_tok, y, ldy, r0, r1);
}

}  // namespace

const Variant& GetVariant() {
  static const Variant v = {
      "avx512-vnni",
      avx2::GetVariant().quant_q8_0,
      avx2::GetVariant().quant_q8_K,
      {GemmFloat<0>, GemmFloat<1>, GemmFloat<2>, GemmQ<TensorType::kQ4_0>, GemmQ<TensorType::kQ5_0>,
       GemmQ<TensorType::kQ8_0>, GemmQ<TensorType::kQ4_K>, GemmQ<TensorType::kQ5_K>,
       GemmQ<TensorType::kQ6_K>, GemmQ<TensorType::kQ4_1>, GemmQ<TensorType::kQ5_1>,
       GemmQ<TensorType::kIQ4_NL>, GemmQ<TensorType::kIQ4_XS>, GemmQ<TensorType::kQ3_K>,
       GemmQ<TensorType::kQ2_K>},
      kRM,
  };
  return v;
}

}  // namespace suanli::kernels::avx512
