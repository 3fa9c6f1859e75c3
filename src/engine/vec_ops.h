// Small f32 vector operations of the forward pass (norms, attention, activations). They are
// compiled for several ISAs (target_clones) and picked at load time; the heavy matrix products
// live in kernels/.
#pragma once

#include <cstdint>

namespace suanli::vec {

// y = x / rms(x) * w, rms(x) = sqrt(mean(x²) + eps)
void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps);
// g = silu(g) * u, silu(v) = v / (1 + e^-v)
void SiluMul(float* g, const float* u, int64_t n);
// g = gelu(g) * u with gelu's tanh form: gelu(v) = v/2 · (1 + tanh(√(2/π)·(v + 0.044715·v³))),
// computed as v / (1 + e^(-2·√(2/π)·(v + 0.044715·v³))) (the same value, no cancellation).
void GeluMul(float* g, const float* u, int64_t n);
// x = c · tanh(x / c), tanh(y) = 2 / (1 + e^(-2y)) - 1 (soft-capping; c > 0).
void SoftCap(float* x, float c, int64_t n);
// y += x
void Add(const float* x, float* y, int64_t n);
// x *= s (one rounding per element, as the reference's scale operation)
void Scale(float* x, float s, int64_t n);
// Σ e^(x[i] - shift) (16 partial sums in a fixed order, then a fixed tree: the same bits
// everywhere).
float ExpSum(const float* x, int64_t n, float shift);
// log Σ e^x[i] = max + log ExpSum(x, n, max).
float LogSumExp(const float* x, int64_t n);

// Attention of one query head, in three steps so the keys and values may sit in separate blocks
// (out[head_dim] = Σ_p softmax(q·k_p·scale)_p · v_p over the positions, in position order).
// Keys come kBlockKeys positions at a time, transposed: kt[d · kBlockKeys + j] is dimension d of
// position j, so one dimension of all the block's positions is one vector and no sum crosses
// lanes. scores[j] = (q · k_j) · scale for j < kBlockKeys, each summed in one fixed order (even
// dimensions ascending, odd ones ascending, then the two added) whatever the instruction set;
// positions the block does not hold yet give values the caller ignores.
inline constexpr int64_t kBlockKeys = 16;
// n_q query heads (q + g · head_dim) that share these keys, head g's scores at
// scores + g · scores_stride: each loaded key vector serves all of them.
void BlockScores(const float* q, int64_t n_q, const float* kt, int64_t head_dim, float scale,
                 float* scores, int64_t scores_stride);
// scores[0..n) = softmax(scores) in place (max subtracted, then one sum in order);
void SoftmaxInPlace(float* scores, int64_t n);
// For n_q heads g sharing these values: out[g · head_dim + d] += Σ_i w[g · w_stride + i] · v_i[d]
// for n rows v_i = v + i·stride, i ascending.
void AccumulateRows(const float* w, int64_t w_stride, int64_t n_q, const float* v, int64_t stride,
                    int64_t n, int64_t head_dim, float* out);

}  // namespace suanli::vec
