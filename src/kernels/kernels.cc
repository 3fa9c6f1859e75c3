// Dispatcher: picks the fastest variant for this CPU once (cached), and the thread-splitting
// MatMul on top of GemmRows.
#include "kernels/kernels.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "kernels/kernels_internal.h"
#include "kernels/quant_blocks.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

namespace suanli::kernels {

int KTypeOf(TensorType t) {
  switch (t) {
    case TensorType::kF32:
      return kKF32;
    case TensorType::kF16:
      return kKF16;
    case TensorType::kBF16:
      return kKBF16;
    case TensorType::kQ4_0:
      return kKQ4_0;
    case TensorType::kQ5_0:
      return kKQ5_0;
    case TensorType::kQ8_0:
      return kKQ8_0;
    case TensorType::kQ4_K:
      return kKQ4_K;
    case TensorType::kQ5_K:
      return kKQ5_K;
    case TensorType::kQ6_K:
      return kKQ6_K;
    case TensorType::kQ4_1:
      return kKQ4_1;
    case TensorType::kQ5_1:
      return kKQ5_1;
    case TensorType::kIQ4_NL:
      return kKIQ4_NL;
    case TensorType::kIQ4_XS:
      return kKIQ4_XS;
    case TensorType::kQ3_K:
      return kKQ3_K;
    case TensorType::kQ2_K:
      return kKQ2_K;
    default:
      return -1;
  }
}

namespace {

struct CpuFeatures {
  bool avx2 = false, avx512 = false, dotprod = false;
};

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  __builtin_cpu_init();
  // F16C is not checked: clang 14's __builtin_cpu_supports does not know it, and every CPU with
  // AVX2 and FMA (Haswell, Excavator and later) has it.
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
#elif defined(__aarch64__) && defined(__linux__)
  f.dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
  return f;
}

// The best variant the CPU supports. SUANLI_KERNELS=scalar|avx2|avx512|neon|neon-dotprod
// narrows the choice (benchmarks and debugging); an unavailable name is ignored.
const Variant* DetectBest() {
  const char* want = std::getenv("SUANLI_KERNELS");
  auto allowed = [&](const char* name) {
    return want == nullptr || *want == 0 || std::strcmp(want, name) == 0;
  };
  [[maybe_unused]] const CpuFeatures f = Detect();
#if defined(__x86_64__)
  if (f.avx512 && allowed("avx512")) return &avx512::GetVariant();
  if (f.avx2 && allowed("avx2")) return &avx2::GetVariant();
#elif defined(__aarch64__)
  if (f.dotprod && allowed("neon-dotprod")) return &neon::GetDotprodVariant();
  if (allowed("neon")) return &neon::GetVariant();
#endif
  return &ref::GetVariant();
}

const Variant& Best() {
  static const Variant* v = DetectBest();
  return *v;
}

// A test's override of the dispatcher's choice (nullptr: none).
std::atomic<const Variant*> g_override{nullptr};

const Variant& Active() {
  const Variant* o = g_override.load(std::memory_order_relaxed);
  return o != nullptr ? *o : Best();
}

int KTypeChecked(TensorType t) {
  const int i = KTypeOf(t);
  SL_CHECK_MSG(i >= 0, "kernels: unsupported weight type");
  return i;
}

}  // namespace

std::vector<const Variant*> AvailableVariants() {
  std::vector<const Variant*> v = {&ref::GetVariant()};
  [[maybe_unused]] const CpuFeatures f = Detect();
#if defined(__x86_64__)
  if (f.avx2) v.push_back(&avx2::GetVariant());
  if (f.avx512) v.push_back(&avx512::GetVariant());
#elif defined(__aarch64__)
  v.push_back(&neon::GetVariant());
  if (f.dotprod) v.push_back(&neon::GetDotprodVariant());
#endif
  return v;
}

ActFormat ActFormatFor(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::kQ4_0:
    case TensorType::kQ5_0:
    case TensorType::kQ8_0:
    case TensorType::kQ4_1:
    case TensorType::kQ5_1:
    case TensorType::kIQ4_NL:
      return ActFormat::kQ8_0;
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K:
    case TensorType::kIQ4_XS:
    case TensorType::kQ3_K:
    case TensorType::kQ2_K:
      return ActFormat::kQ8_K;
    default:
      return ActFormat::kF32;
  }
}

size_t ActRowBytes(TensorType weight_type, int64_t k) {
  switch (ActFormatFor(weight_type)) {
    case ActFormat::kQ8_0:
      return static_cast<size_t>(k / kQK) * sizeof(block_q8_0);
    case ActFormat::kQ8_K:
      return static_cast<size_t>(k / kQK_K) * sizeof(block_q8_K);
    default:
      return static_cast<size_t>(k) * sizeof(float);
  }
}

void QuantizeActRow(TensorType weight_type, const float* x, void* dst, int64_t k) {
  switch (ActFormatFor(weight_type)) {
    case ActFormat::kQ8_0:
      SL_CHECK(k % kQK == 0);
      return Active().quant_q8_0(x, dst, k);
    case ActFormat::kQ8_K:
      SL_CHECK(k % kQK_K == 0);
      return Active().quant_q8_K(x, dst, k);
    default:
      std::memcpy(dst, x, static_cast<size_t>(k) * sizeof(float));
  }
}

void GemmRows(TensorType w_type, const void* w, size_t w_row_bytes, int64_t k, const void* xq,
              int64_t n_tok, float* y, int64_t ldy, int64_t r0, int64_t r1) {
  if (r1 <= r0 || n_tok <= 0) return;
  const Variant& v = Active();
  const int i = KTypeChecked(w_type);
  GemmFn f = v.gemm[i] != nullptr ? v.gemm[i] : ref::GetVariant().gemm[i];
  f(w, w_row_bytes, k, xq, n_tok, y, ldy, r0, r1);
}

void DequantizeRow(TensorType t, const void* src, float* dst, int64_t n) {
  ref::DequantizeRow(t, src, dst, n);
}

void QuantizeRow(TensorType t, const float* src, void* dst, int64_t n) {
  ref::QuantizeRow(t, src, dst, n);
}

void MatMul(ThreadPool& pool, const Matrix& w, const float* x, int64_t n_tok, float* y,
            std::vector<uint8_t>& scratch) {
  if (ActFormatFor(w.type) == ActFormat::kF32) return MatMulQuantized(pool, w, x, n_tok, y);
  const size_t rb = ActRowBytes(w.type, w.cols);
  if (scratch.size() < rb * static_cast<size_t>(n_tok)) scratch.resize(rb * n_tok);
  uint8_t* xq = scratch.data();
  if (n_tok < 4 || pool.size() == 1) {
    for (int64_t t = 0; t < n_tok; ++t) QuantizeActRow(w.type, x + t * w.cols, xq + t * rb, w.cols);
  } else {
    pool.Run([&](int tid, int nth) {
      const Range r = SplitRange(n_tok, tid, nth);
      for (int64_t t = r.begin; t < r.end; ++t)
        QuantizeActRow(w.type, x + t * w.cols, xq + t * rb, w.cols);
    });
  }
  MatMulQuantized(pool, w, xq, n_tok, y);
}

void MatMulQuantized(ThreadPool& pool, const Matrix& w, const void* xq, int64_t n_tok, float* y) {
  const Variant& v = Active();
  const int i = KTypeChecked(w.type);
  GemmFn f = v.gemm[i] != nullptr ? v.gemm[i] : ref::GetVariant().gemm[i];
  const int64_t align = v.row_align > 0 ? v.row_align : 1;
  pool.Run([&](int tid, int nth) {
    const Range r = SplitRange(w.rows, tid, nth, align);
    if (r.end > r.begin) f(w.data, w.row_bytes, w.cols, xq, n_tok, y, w.rows, r.begin, r.end);
  });
}

void MatMulQuantizedMany(ThreadPool& pool, const GemmJob* jobs, size_t n_jobs) {
  const Variant& v = Active();
  const int64_t align = v.row_align > 0 ? v.row_align : 1;
  for (size_t j = 0; j < n_jobs; ++j) KTypeChecked(jobs[j].w->type);
  pool.Run([&](int tid, int nth) {
    for (size_t j = 0; j < n_jobs; ++j) {
      const GemmJob& job = jobs[j];
      const Matrix& w = *job.w;
      const int i = KTypeChecked(w.type);
      GemmFn f = v.gemm[i] != nullptr ? v.gemm[i] : ref::GetVariant().gemm[i];
      const Range r = SplitRange(w.rows, tid, nth, align);
      if (r.end > r.begin && job.n_tok > 0)
        f(w.data, w.row_bytes, w.cols, job.xq, job.n_tok, job.y, w.rows, r.begin, r.end);
    }
  });
}

std::string ActiveVariant() { return Active().name; }

std::vector<std::string> AvailableVariantNames() {
  std::vector<std::string> names;
  for (const Variant* v : AvailableVariants()) names.push_back(v->name);
  return names;
}

std::string UseVariant(const std::string& name) {
  const Variant* want = nullptr;
  if (!name.empty()) {
    for (const Variant* v : AvailableVariants())
      if (name == v->name) want = v;
    if (want == nullptr) {
      const Variant* cur = g_override.load();
      return cur != nullptr ? cur->name : "";
    }
  }
  const Variant* prev = g_override.exchange(want);
  return prev != nullptr ? prev->name : "";
}

}  // namespace suanli::kernels
