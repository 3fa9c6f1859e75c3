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
// y += x
void Add(const float* x, float* y, int64_t n);

// One query head attending over n_keys cached positions (causal masking is the caller's choice
// of n_keys). k and v point at the head's first position; consecutive positions are `stride`
// floats apart. scores[n_keys] is scratch; out[head_dim] = Σ_p softmax(q·k_p·scale)_p · v_p.
void AttendHead(const float* q, const float* k, const float* v, int64_t stride, int64_t n_keys,
                int64_t head_dim, float scale, float* scores, float* out);

}  // namespace suanli::vec
