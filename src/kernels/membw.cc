#include "kernels/membw.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace suanli::kernels {
namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Sum of 64-bit words with independent accumulators (the compiler vectorizes it for any target).
uint64_t SumWords(const uint64_t* p, size_t n) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
    a4 += p[i + 4];
    a5 += p[i + 5];
    a6 += p[i + 6];
    a7 += p[i + 7];
  }
  for (; i < n; ++i) a0 += p[i];
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

#if defined(__x86_64__)
#include <immintrin.h>
// 256-bit loads: one core can then reach the memory limit rather than its load-port limit.
__attribute__((target("avx2"))) uint64_t SumWordsAvx2(const uint64_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  alignas(32) uint64_t l[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(l),
                     _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
  return l[0] + l[1] + l[2] + l[3] + SumWords(p + i, n - i);
}
#endif

uint64_t SumAny(const uint64_t* p, size_t n) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return SumWordsAvx2(p, n);
#endif
  return SumWords(p, n);
}

}  // namespace

double MeasureReadBandwidthGBs(ThreadPool& pool, size_t bytes, int repeats) {
  const size_t words = bytes / 8;
  if (words == 0) return 0;
  std::unique_ptr<uint64_t, FreeDeleter> buf(
      static_cast<uint64_t*>(std::aligned_alloc(64, (words * 8 + 63) / 64 * 64)));
  uint64_t* p = buf.get();
  // First touch from the threads that will read (pages land near them on NUMA machines).
  pool.Run([&](int tid, int nth) {
    const Range r = SplitRange(static_cast<int64_t>(words), tid, nth, 8);
    for (int64_t i = r.begin; i < r.end; ++i) p[i] = static_cast<uint64_t>(i);
  });
  double best = 0;
  std::vector<uint64_t> sinks(pool.size() * 8);
  for (int rep = 0; rep < repeats; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.Run([&](int tid, int nth) {
      const Range r = SplitRange(static_cast<int64_t>(words), tid, nth, 8);
      sinks[tid * 8] += SumAny(p + r.begin, static_cast<size_t>(r.end - r.begin));
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double gbs = static_cast<double>(words * 8) / s / 1e9;
    if (gbs > best) best = gbs;
  }
  volatile uint64_t keep = 0;
  for (uint64_t v : sinks) keep = keep + v;
  (void)keep;
  return best;
}

}  // namespace suanli::kernels
