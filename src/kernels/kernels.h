// Kernels: quantized matrix products and row conversions, with the fastest variant for this CPU
// chosen at run time (scalar reference in kernels/ref, AVX2/AVX-512 in kernels/x86, NEON in
// kernels/arm).
//
// Shapes: a weight matrix W has `rows` rows of `k` elements, stored row after row, each row
// `RowBytes(type, k)` bytes. Activations X are n_tok rows of k floats. Products are
// Y[t][r] = sum_i W[r][i] * X[t][i].
//
// Like the reference implementation, quantized weights are multiplied with activations that are
// themselves quantized to 8 bits per row ("activation format": Q8_0 blocks of 32 for
// Q4_0/Q5_0/Q8_0/Q4_1/Q5_1/IQ4_NL, Q8_K blocks of 256 for the K-quants (Q2_K .. Q6_K) and IQ4_XS,
// plain f32 for F32/F16/BF16).
//
// Canonical reduction order. Every variant (scalar, AVX2, AVX-512, NEON, NEON dotprod) computes
// each output with the same float operations in the same order, so Y[t][r] is the same bytes
// whatever the variant, the row range a call covers, the thread count, the tile it falls in and
// n_tok (a token's row equals the row computed alone): batch and device invariance. Integer parts
// are exact and may be computed in any order. For one output y = dot(w row, x row) of k elements,
// with 16 float accumulators A[0..15] starting at +0:
//   * Q4_0, Q5_0, Q8_0 weights (Q8_0 activations), 32-element block b = 0, 1, ...:
//       S_b = Σ_i wl_i·xq_i exactly (wl = q − 8 for Q4_0, q − 16 for Q5_0, q for Q8_0),
//       D_b = f32(w.d_b) × f32(x.d_b)   (exact: a product of two f16 values),
//       A[b mod 16] = fma((float)S_b, D_b, A[b mod 16]);
//   * IQ4_NL (Q8_0 activations): as Q8_0 with wl = kIq4nlValues[q];
//   * Q4_1, Q5_1 (Q8_0 activations), block b: S_b = Σ_i q_i·xq_i and T_b = Σ_i xq_i exactly,
//       D_b = f32(w.d_b) × f32(x.d_b),  M_b = f32(w.m_b) × f32(x.d_b)   (both exact),
//       A[b mod 16] = fma((float)S_b, D_b, A[b mod 16]), then
//       A[b mod 16] = fma((float)T_b, M_b, A[b mod 16]);
//   * Q4_K, Q5_K (Q8_K activations), 256-element super-block s = 0, 1, ...:
//       SI_s = Σ_j sc_j·Σ_{i in sub-block j} q_i·xq_i,  SM_s = Σ_j m_j·(bsum_2j + bsum_2j+1)
//       exactly, v_s = f32(d)·(float)SI_s − f32(dmin)·(float)SM_s   (each product and the
//       difference rounded), A[s mod 16] = fma(x.d_s, v_s, A[s mod 16]);
//   * Q6_K: SI_s = Σ_j sc_j·Σ_{i in group j} (q_i − 32)·xq_i exactly (16 groups of 16),
//       v_s = f32(d)·(float)SI_s,  A[s mod 16] = fma(x.d_s, v_s, A[s mod 16]);
//   * Q2_K: as Q4_K over 16 groups of 16: SI_s = Σ_g sc_g·Σ_{i in group g} q_i·xq_i,
//       SM_s = Σ_g m_g·bsum_g exactly, v_s = f32(d)·(float)SI_s − f32(dmin)·(float)SM_s,
//       A[s mod 16] = fma(x.d_s, v_s, A[s mod 16]);
//   * Q3_K: SI_s = Σ_g (sc_g − 32)·Σ_{i in group g} (q_i − 4)·xq_i exactly (16 groups of 16),
//       v_s = f32(d)·(float)SI_s,  A[s mod 16] = fma(x.d_s, v_s, A[s mod 16]);
//   * IQ4_XS: SI_s = Σ_j (ls_j − 32)·Σ_{i in sub-block j} kIq4nlValues[q_i]·xq_i exactly (8
//       sub-blocks of 32), v_s = f32(d)·(float)SI_s,  A[s mod 16] = fma(x.d_s, v_s, A[s mod 16]);
//   * F32, F16, BF16 weights (f32 activations): A[i mod 16] = fma(f32(w_i), x_i, A[i mod 16]),
//     i = 0, 1, ..., k − 1;
//   * then for h = 8, 4, 2, 1: A[i] = A[i] + A[i + h] for i < h; y = A[0]. Lanes never used stay
//   +0.
// (float)n of an int rounds to nearest even. Nothing else is fused: the build passes
// -ffp-contract=off. Activation rows (QuantizeActRow) are bit-identical in every variant too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "gguf/tensor_type.h"

namespace suanli::kernels {

enum class ActFormat { kF32, kQ8_0, kQ8_K };
ActFormat ActFormatFor(TensorType weight_type);
// Bytes of one activation row of k elements in the format `weight_type` consumes.
size_t ActRowBytes(TensorType weight_type, int64_t k);
// Converts one activation row x[k] into that format.
void QuantizeActRow(TensorType weight_type, const float* x, void* dst, int64_t k);

// Y[t][r] for r in [r0, r1), t in [0, n_tok). `xq` holds n_tok activation rows of
// ActRowBytes(w_type, k) bytes each; row t of the output starts at y + t * ldy.
void GemmRows(TensorType w_type, const void* w, size_t w_row_bytes, int64_t k, const void* xq,
              int64_t n_tok, float* y, int64_t ldy, int64_t r0, int64_t r1);

// Weight-row conversions (any supported type). n must be a multiple of the block size.
void DequantizeRow(TensorType t, const void* src, float* dst, int64_t n);
void QuantizeRow(TensorType t, const float* src, void* dst, int64_t n);

// A weight matrix viewed in place (usually inside the mmapped GGUF file).
struct Matrix {
  TensorType type = TensorType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;  // k
  size_t row_bytes = 0;
};

// Y[n_tok][W.rows] = X[n_tok][W.cols] · Wᵀ, threads splitting the output rows. `scratch` is
// reused between calls to hold the quantized activations.
void MatMul(ThreadPool& pool, const Matrix& w, const float* x, int64_t n_tok, float* y,
            std::vector<uint8_t>& scratch);

// The same product with activations already quantized by QuantizeActRow (so one quantization
// serves several matrices that read the same input, e.g. Q, K and V).
void MatMulQuantized(ThreadPool& pool, const Matrix& w, const void* xq, int64_t n_tok, float* y);

// Several products in one dispatch (the experts of an MoE layer): job j is
// y_j[n_tok_j][w_j.rows] = xq_j · w_jᵀ, with xq_j quantized for w_j's type; every thread takes its
// share of every job's rows. Each output is the same bytes MatMulQuantized gives.
struct GemmJob {
  const Matrix* w = nullptr;
  const void* xq = nullptr;
  int64_t n_tok = 0;
  float* y = nullptr;
};
void MatMulQuantizedMany(ThreadPool& pool, const GemmJob* jobs, size_t n_jobs);

// Which variant the dispatcher picked: "avx512-vnni", "avx2", "neon-dotprod", "scalar"...
std::string ActiveVariant();
// Every variant this CPU can run, the scalar reference first ("scalar", then e.g. "avx2",
// "avx512-vnni").
std::vector<std::string> AvailableVariantNames();
// Makes the named variant (one of AvailableVariantNames) the active one, or restores the
// dispatcher's choice for ""; returns the previous override ("" for none). Tests use it to run a
// whole forward pass on each variant; false/unknown names leave the setting unchanged.
std::string UseVariant(const std::string& name);

}  // namespace suanli::kernels
