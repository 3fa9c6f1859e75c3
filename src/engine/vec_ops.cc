#include "engine/vec_ops.h"

#include <cmath>

#if defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
// One clone per ISA; the dynamic loader picks the best for this CPU. GCC vectorizes each.
#define SL_MULTIVERSION __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define SL_MULTIVERSION
#endif

namespace suanli::vec {

SL_MULTIVERSION float Dot(const float* a, const float* b, int64_t n) {
  // 16 independent partial sums let the compiler vectorize without -ffast-math.
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

SL_MULTIVERSION void Axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

SL_MULTIVERSION void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j] * x[i + j];
  float ss = 0;
  for (; i < n; ++i) ss += x[i] * x[i];
  for (int j = 0; j < 16; ++j) ss += acc[j];
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

void Softmax(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SiluMul(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

SL_MULTIVERSION void Add(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

SL_MULTIVERSION void Scale(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace suanli::vec
