// Internal interface between the dispatcher (kernels.cc) and the variants (ref/, x86/, arm/).
//
// Every variant fills a Variant table; a null entry falls back to the scalar reference. All
// GemmFn share the contract of kernels::GemmRows (activation rows are ActRowBytes apart).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gguf/tensor_type.h"
#include "kernels/quant_blocks.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace suanli::kernels {

// Dense index of the supported weight types.
enum KType : int {
  kKF32,
  kKF16,
  kKBF16,
  kKQ4_0,
  kKQ5_0,
  kKQ8_0,
  kKQ4_K,
  kKQ5_K,
  kKQ6_K,
  kKQ4_1,
  kKQ5_1,
  kKIQ4_NL,
  kKIQ4_XS,
  kKQ3_K,
  kKQ2_K,
  kKNum
};
// -1 for unsupported types.
int KTypeOf(TensorType t);

using GemmFn = void (*)(const void* w, size_t w_row_bytes, int64_t k, const void* xq, int64_t n_tok,
                        float* y, int64_t ldy, int64_t r0, int64_t r1);
using QuantActFn = void (*)(const float* x, void* dst, int64_t k);

struct Variant {
  const char* name;
  QuantActFn quant_q8_0;  // f32 -> Q8_0 activation row
  QuantActFn quant_q8_K;  // f32 -> Q8_K activation row
  GemmFn gemm[kKNum];
  // Rows per tile of the GEMM for large n_tok: MatMul aligns the thread split to it (so no
  // thread gets a ragged tail while another holds full tiles). Results never depend on it.
  int row_align;
};

// 1 / step of an activation block whose largest magnitude is amax: 127 / amax, or 0 when that
// would overflow (amax below 2^-120, i.e. zero or nearly): the block quantizes to all zeros.
// Shared by every activation quantizer so they agree on such blocks too (an infinite id would
// leave the float-to-int conversion of x * id to each instruction set).
// static (like the helpers below): each variant's translation unit, compiled for its own
// instruction set, keeps its own copy, so the linker never hands one ISA's code to another.
static inline float ActInvStep(float amax) { return amax >= 0x1p-120f ? 127.0f / amax : 0.0f; }

// Scalar form of the canonical order's 16 accumulators and final tree (kernels.h), for the parts
// of SIMD kernels that combine per-(super-)block values one at a time.
struct CanonAcc {
  float a[16];
};
static inline void CanonInit(CanonAcc* c) {
  for (float& v : c->a) v = 0.0f;
}
static inline void CanonFma(CanonAcc* c, int64_t i, float p, float q) {
  float& s = c->a[i & 15];
  s = std::fma(p, q, s);
}
static inline float CanonReduce(CanonAcc* c) {
  for (int h = 8; h >= 1; h /= 2)
    for (int i = 0; i < h; ++i) c->a[i] = c->a[i] + c->a[i + h];
  return c->a[0];
}

// Bytes of one block of a weight type that takes Q8_0 activations (Q4_0, Q5_0, Q8_0, Q4_1, Q5_1,
// IQ4_NL).
template <TensorType T>
constexpr int Q8BlockBytes() {
  return T == TensorType::kQ4_0     ? sizeof(block_q4_0)
         : T == TensorType::kQ5_0   ? sizeof(block_q5_0)
         : T == TensorType::kQ4_1   ? sizeof(block_q4_1)
         : T == TensorType::kQ5_1   ? sizeof(block_q5_1)
         : T == TensorType::kIQ4_NL ? sizeof(block_iq4_nl)
                                    : sizeof(block_q8_0);
}
// Q4_1 / Q5_1: blocks with an offset m, whose T_b = Σx term (kernels.h) is a second FMA.
template <TensorType T>
constexpr bool HasMin() {
  return T == TensorType::kQ4_1 || T == TensorType::kQ5_1;
}

#if defined(__x86_64__)
// UnpackScalesQ3K with SSE2 (every x86-64 has it): the 16 signed scales of a Q3_K block as int8
// bytes. The 12 scale bytes are copied out first, as a 16-byte load would run past the block.
static inline __m128i UnpackScalesQ3KSse(const uint8_t* s) {
  uint64_t lo8;
  uint32_t hi4;
  std::memcpy(&lo8, s, 8);
  std::memcpy(&hi4, s + 8, 4);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i v = _mm_cvtsi64_si128(static_cast<long long>(lo8));
  const __m128i lo =
      _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
  const uint32_t k3 = 0x03030303u;
  const __m128i hi =
      _mm_setr_epi32(static_cast<int>(hi4 & k3), static_cast<int>((hi4 >> 2) & k3),
                     static_cast<int>((hi4 >> 4) & k3), static_cast<int>((hi4 >> 6) & k3));
  return _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
}
#endif

// Every variant this CPU can run, the scalar reference first (tests check each against it).
std::vector<const Variant*> AvailableVariants();

namespace ref {
const Variant& GetVariant();
void QuantizeQ8_0(const float* x, void* dst, int64_t k);
void QuantizeQ8_K(const float* x, void* dst, int64_t k);
void DequantizeRow(TensorType t, const void* src, float* dst, int64_t n);
void QuantizeRow(TensorType t, const float* src, void* dst, int64_t n);
// One weight row · one activation row (in the activation format of t).
float DotRow(TensorType t, const void* w_row, const void* x_row, int64_t k);
}  // namespace ref

#if defined(__x86_64__)
namespace avx2 {
const Variant& GetVariant();
}
namespace avx512 {
const Variant& GetVariant();
}
#endif
#if defined(__aarch64__)
namespace neon {
const Variant& GetVariant();
const Variant& GetDotprodVariant();
}  // namespace neon
#endif

}  // namespace suanli::kernels
