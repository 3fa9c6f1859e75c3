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
// Q4_0/Q5_0/Q8_0, Q8_K blocks of 256 for the K-quants, plain f32 for F32/F16/BF16).
//
// Determinism: Y[t][r] is computed by the same arithmetic whatever the row range a call covers
// and however many threads split the rows, so results never depend on the thread count.
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

// Which variant the dispatcher picked: "avx512-vnni", "avx2", "neon-dotprod", "scalar"...
std::string ActiveVariant();
// Forces the scalar reference (tests compare variants); returns the previous setting.
bool ForceReference(bool on);

}  // namespace suanli::kernels
