// Kernel tests: block layouts against hand-made bytes, quantizer error bounds and bit-exactness
// with llama.cpp files, every SIMD variant against the scalar reference, and determinism of the
// threaded MatMul.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "base/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/quant_blocks.h"

namespace suanli::kernels {
namespace {

const TensorType kAllTypes[] = {TensorType::kF32,  TensorType::kF16,  TensorType::kBF16,
                                TensorType::kQ4_0, TensorType::kQ5_0, TensorType::kQ8_0,
                                TensorType::kQ4_K, TensorType::kQ5_K, TensorType::kQ6_K};

bool IsK(TensorType t) {
  return t == TensorType::kQ4_K || t == TensorType::kQ5_K || t == TensorType::kQ6_K;
}

std::vector<float> RandomFloats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// Random weights with a per-row magnitude and a few outliers, quantized to `t`.
std::vector<uint8_t> RandomWeights(TensorType t, int64_t rows, int64_t k, uint32_t seed) {
  std::vector<uint8_t> w(RowBytes(t, k) * rows);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> f = RandomFloats(k, seed * 7919 + r, 0.02f * (1 + r % 5));
    if (k > 10) f[(r * 13) % k] *= 8;
    QuantizeRow(t, f.data(), w.data() + r * RowBytes(t, k), k);
  }
  return w;
}

std::vector<uint8_t> QuantizeActs(TensorType t, const std::vector<float>& x, int64_t n_tok,
                                  int64_t k) {
  std::vector<uint8_t> q(ActRowBytes(t, k) * n_tok);
  for (int64_t i = 0; i < n_tok; ++i)
    QuantizeActRow(t, x.data() + i * k, q.data() + i * ActRowBytes(t, k), k);
  return q;
}

// ---- layouts: hand-made blocks, values worked out from ggml's formulas ------------------------

TEST(KernelLayout, Q4_0) {
  block_q4_0 b{};
  b.d = 0x3800;  // 0.5
  b.qs[0] = 0x9F;
  b.qs[15] = 0x07;
  float y[32];
  DequantizeRow(TensorType::kQ4_0, &b, y, 32);
  EXPECT_EQ(y[0], 3.5f);    // (15 - 8) * 0.5
  EXPECT_EQ(y[16], 0.5f);   // (9 - 8) * 0.5
  EXPECT_EQ(y[15], -0.5f);  // (7 - 8) * 0.5
  EXPECT_EQ(y[31], -4.0f);  // (0 - 8) * 0.5
}

TEST(KernelLayout, Q5_0) {
  block_q5_0 b{};
  b.d = 0x3C00;  // 1
  b.qh[0] = 0x01;
  b.qh[2] = 0x01;
  b.qh[3] = 0x80;  // bits 0, 16, 31
  b.qs[0] = 0x21;
  b.qs[15] = 0x30;
  float y[32];
  DequantizeRow(TensorType::kQ5_0, &b, y, 32);
  EXPECT_EQ(y[0], 1.0f);     // 1 | 16 - 16
  EXPECT_EQ(y[16], 2.0f);    // 2 | 16 - 16
  EXPECT_EQ(y[31], 3.0f);    // 3 | 16 - 16
  EXPECT_EQ(y[15], -16.0f);  // 0 - 16
  EXPECT_EQ(y[1], -16.0f);
}

TEST(KernelLayout, Q8_0) {
  block_q8_0 b{};
  b.d = 0x4000;  // 2
  b.qs[3] = -5;
  b.qs[31] = 127;
  float y[32];
  DequantizeRow(TensorType::kQ8_0, &b, y, 32);
  EXPECT_EQ(y[3], -10.0f);
  EXPECT_EQ(y[31], 254.0f);
  EXPECT_EQ(y[0], 0.0f);
}

// Scales: sub-block 0 sc=2 m=4, sub-block 5 sc=19 m=37, others 0.
void FillKScales(uint8_t* s) {
  std::memset(s, 0, 12);
  s[0] = 2;
  s[4] = 4;
  s[1] = 0x40;  // high bits of sc5 (=1)
  s[5] = 0x80;  // high bits of m5 (=2)
  s[9] = 0x53;  // low nibbles: sc5 = 3, m5 = 5
}

TEST(KernelLayout, Q4_K) {
  block_q4_K b{};
  b.d = 0x3C00;     // 1
  b.dmin = 0x3800;  // 0.5
  FillKScales(b.scales);
  b.qs[0] = 0x7A;
  b.qs[67] = 0xB0;
  float y[256];
  DequantizeRow(TensorType::kQ4_K, &b, y, 256);
  EXPECT_EQ(y[0], 18.0f);     // 10 * 2 - 0.5 * 4
  EXPECT_EQ(y[1], -2.0f);     // 0 * 2 - 0.5 * 4
  EXPECT_EQ(y[32], 0.0f);     // sub-block 1: sc = m = 0
  EXPECT_EQ(y[163], 190.5f);  // 11 * 19 - 0.5 * 37 (high nibble of qs[67] → element 128+32+3)
  EXPECT_EQ(y[131], 0.0f);    // sub-block 4
  EXPECT_EQ(y[170], -18.5f);  // sub-block 5, q = 0
  uint8_t sc, m;
  UnpackScaleMinK4(5, b.scales, &sc, &m);
  EXPECT_EQ(sc, 19);
  EXPECT_EQ(m, 37);
  uint8_t scs[8] = {2, 0, 0, 0, 0, 19, 0, 0}, ms[8] = {4, 0, 0, 0, 0, 37, 0, 0}, packed[12];
  PackScalesMinsK4(scs, ms, packed);
  EXPECT_EQ(0, std::memcmp(packed, b.scales, 12));
}

TEST(KernelLayout, Q5_K) {
  block_q5_K b{};
  b.d = 0x3C00;
  b.dmin = 0x3800;
  FillKScales(b.scales);
  b.qs[0] = 0x7A;
  b.qs[67] = 0xB0;
  b.qh[0] = 0x01;  // bit 0 → element 0
  b.qh[3] = 0x20;  // bit 5 → element 64*2 + 32 + 3
  float y[256];
  DequantizeRow(TensorType::kQ5_K, &b, y, 256);
  EXPECT_EQ(y[0], 50.0f);     // 26 * 2 - 2
  EXPECT_EQ(y[163], 494.5f);  // 27 * 19 - 18.5
  EXPECT_EQ(y[131], 0.0f);
}

TEST(KernelLayout, Q6_K) {
  block_q6_K b{};
  b.d = 0x3C00;
  b.scales[0] = 3;
  b.scales[2] = 2;
  b.scales[4] = 1;
  b.scales[6] = 4;
  b.scales[14] = -2;
  b.ql[0] = 0x5A;
  b.ql[32] = 0x0F;
  b.qh[0] = 0xC9;  // bits0-1 = 1, bits2-3 = 2, bits4-5 = 0, bits6-7 = 3
  b.ql[97] = 0x30;
  b.qh[33] = 0x40;
  float y[256];
  DequantizeRow(TensorType::kQ6_K, &b, y, 256);
  EXPECT_EQ(y[0], -18.0f);   // (10 | 16) - 32 = -6, * 3
  EXPECT_EQ(y[32], 30.0f);   // (15 | 32) - 32 = 15, * 2
  EXPECT_EQ(y[64], -27.0f);  // 5 - 32, * 1
  EXPECT_EQ(y[96], 64.0f);   // 48 - 32, * 4
  EXPECT_EQ(y[225], 26.0f);  // (3 | 16) - 32 = -13, * -2
  EXPECT_EQ(y[1], -96.0f);   // (0 - 32) * 3
  EXPECT_EQ(y[20], 0.0f);    // scale 0
}

TEST(KernelLayout, FloatTypes) {
  uint16_t h[2] = {0x3C00, 0xC000};
  float y[2];
  DequantizeRow(TensorType::kF16, h, y, 2);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.0f);
  uint16_t bf[2] = {0x3F80, 0x4040};
  DequantizeRow(TensorType::kBF16, bf, y, 2);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 3.0f);
}

// ---- quantizers --------------------------------------------------------------------------

TEST(KernelQuant, RoundTripError) {
  struct Bound {
    TensorType t;
    double max_rel_rms;
  };
  const Bound bounds[] = {
      {TensorType::kF32, 0},     {TensorType::kF16, 1e-3},  {TensorType::kBF16, 5e-3},
      {TensorType::kQ8_0, 0.01}, {TensorType::kQ4_0, 0.13}, {TensorType::kQ5_0, 0.065},
      {TensorType::kQ4_K, 0.10}, {TensorType::kQ5_K, 0.05}, {TensorType::kQ6_K, 0.03}};
  const int64_t n = 4096;
  const std::vector<float> x = RandomFloats(n, 1);
  for (const Bound& b : bounds) {
    std::vector<uint8_t> q(RowBytes(b.t, n));
    std::vector<float> y(n);
    QuantizeRow(b.t, x.data(), q.data(), n);
    DequantizeRow(b.t, q.data(), y.data(), n);
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; ++i) {
      e += (x[i] - y[i]) * (x[i] - y[i]);
      s += x[i] * x[i];
    }
    EXPECT_LE(std::sqrt(e / s), b.max_rel_rms) << TensorTypeName(b.t);
  }
}

TEST(KernelQuant, ActivationQuantizersMatchReference) {
  for (int64_t k : {256, 512, 4096}) {
    std::vector<float> x = RandomFloats(k, 5 + k);
    for (int i = 0; i < 32; ++i) x[i] = 0;  // an all-zero block
    x[40] = 0.5f * (127.0f / 64.0f);        // ties in rounding
    for (TensorType t : {TensorType::kQ8_0, TensorType::kQ4_K}) {
      std::vector<uint8_t> a(ActRowBytes(t, k)), b(ActRowBytes(t, k));
      QuantizeActRow(t, x.data(), a.data(), k);
      const bool prev = ForceReference(true);
      QuantizeActRow(t, x.data(), b.data(), k);
      ForceReference(prev);
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size())) << TensorTypeName(t) << " k=" << k;
    }
  }
}

// ---- SIMD against reference ------------------------------------------------------------------

std::vector<float> RefGemm(TensorType t, const std::vector<uint8_t>& w, int64_t rows, int64_t k,
                           const std::vector<uint8_t>& xq, int64_t n_tok) {
  std::vector<float> y(rows * n_tok);
  const bool prev = ForceReference(true);
  GemmRows(t, w.data(), RowBytes(t, k), k, xq.data(), n_tok, y.data(), rows, 0, rows);
  ForceReference(prev);
  return y;
}

// Σ|w_i x_i| per output: the scale float summation errors are relative to.
std::vector<double> AbsBound(TensorType t, const std::vector<uint8_t>& w, int64_t rows, int64_t k,
                             const std::vector<float>& x, int64_t n_tok) {
  std::vector<double> b(rows * n_tok);
  std::vector<float> wr(k);
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(t, w.data() + r * RowBytes(t, k), wr.data(), k);
    for (int64_t i = 0; i < n_tok; ++i) {
      double s = 0;
      for (int64_t j = 0; j < k; ++j) s += std::fabs(wr[j] * x[i * k + j]);
      b[i * rows + r] = s;
    }
  }
  return b;
}

TEST(KernelGemm, SimdMatchesReference) {
  std::printf("active variant: %s\n", ActiveVariant().c_str());
  const int64_t rows = 37;
  for (TensorType t : kAllTypes) {
    std::vector<int64_t> ks;
    if (IsK(t))
      ks = {256, 512, 2048 + 256};
    else if (ActFormatFor(t) == ActFormat::kQ8_0)
      ks = {32, 64, 96, 256, 2048 + 32};
    else
      ks = {1, 7, 64, 100, 2048 + 32};
    for (int64_t k : ks) {
      const std::vector<uint8_t> w = RandomWeights(t, rows, k, static_cast<uint32_t>(k));
      const int64_t max_tok = 64;
      const std::vector<float> x = RandomFloats(max_tok * k, 99 + k);
      const bool prev = ForceReference(true);
      const std::vector<uint8_t> xq = QuantizeActs(t, x, max_tok, k);
      ForceReference(prev);
      for (int64_t n_tok : {1, 2, 3, 5, 8, 17, 64}) {
        const std::vector<float> ref = RefGemm(t, w, rows, k, xq, n_tok);
        const std::vector<double> bound = AbsBound(t, w, rows, k, x, n_tok);
        std::vector<float> y(rows * n_tok, -1.0f);
        GemmRows(t, w.data(), RowBytes(t, k), k, xq.data(), n_tok, y.data(), rows, 0, rows);
        int bad = 0;
        for (int64_t i = 0; i < rows * n_tok; ++i) {
          const double tol = 2e-5 * bound[i] + 1e-6;
          if (!(std::fabs(y[i] - ref[i]) <= tol) && bad++ < 3)
            ADD_FAILURE() << TensorTypeName(t) << " k=" << k << " n_tok=" << n_tok << " out " << i
                          << ": " << y[i] << " vs ref " << ref[i] << " (tol " << tol << ")";
        }
      }
    }
  }
}

// ---- determinism -------------------------------------------------------------------------------

TEST(KernelGemm, DeterministicAcrossThreadsAndRanges) {
  const int64_t rows = 203;
  for (TensorType t : kAllTypes) {
    const int64_t k = IsK(t) ? 512 : 320;
    const std::vector<uint8_t> w = RandomWeights(t, rows, k, 3);
    Matrix m{t, w.data(), rows, k, RowBytes(t, k)};
    for (int64_t n_tok : {1, 5, 64}) {
      const std::vector<float> x = RandomFloats(n_tok * k, 11);
      std::vector<float> first;
      for (int nth = 1; nth <= 4; ++nth) {
        ThreadPool pool(nth);
        std::vector<uint8_t> scratch;
        std::vector<float> y(rows * n_tok);
        MatMul(pool, m, x.data(), n_tok, y.data(), scratch);
        if (nth == 1)
          first = y;
        else
          EXPECT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * 4))
              << TensorTypeName(t) << " n_tok=" << n_tok << " threads=" << nth;
      }
      // Uneven sub-ranges concatenated equal one call over all rows.
      const std::vector<uint8_t> xq = QuantizeActs(t, x, n_tok, k);
      std::vector<float> y(rows * n_tok, 0.0f);
      const int64_t cuts[] = {0, 7, 50, 51, 130, rows};
      for (int c = 0; c + 1 < 6; ++c)
        GemmRows(t, w.data(), RowBytes(t, k), k, xq.data(), n_tok, y.data(), rows, cuts[c],
                 cuts[c + 1]);
      EXPECT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * 4))
          << TensorTypeName(t) << " n_tok=" << n_tok << " sub-ranges";
    }
  }
}

// ---- real llama.cpp files -----------------------------------------------------------------------

std::string ModelPath(const char* name) {
  const char* td = std::getenv("SUANLI_TESTDATA");
  return std::string(td ? td : "") + "/models/" + name;
}

std::unique_ptr<GgufFile> OpenOrSkip(const char* name) {
  auto f = GgufFile::Open(ModelPath(name));
  if (!f.ok()) return nullptr;
  return std::move(f).value();
}

// Quantizing the f32 model with our Q4_0/Q8_0 quantizers reproduces llama.cpp's bytes, and
// dequantizing its files gives the f32/f16 weights back within the quantization error.
TEST(KernelRealFiles, TinyLlamaMatchesLlamaCpp) {
  auto f32 = OpenOrSkip("tiny-llama-f32.gguf");
  if (!f32) GTEST_SKIP() << "test data not found (SUANLI_TESTDATA)";
  for (const char* name : {"tiny-llama-q4_0.gguf", "tiny-llama-q8_0.gguf", "tiny-llama-f16.gguf"}) {
    auto q = OpenOrSkip(name);
    ASSERT_TRUE(q) << name;
    int checked = 0;
    for (const GgufTensorInfo& ti : q->tensors()) {
      if (ti.type == TensorType::kF32) continue;
      const GgufTensorInfo* ref = f32->FindTensor(ti.name);
      if (!ref || ref->type != TensorType::kF32 || ref->n_elements() != ti.n_elements()) continue;
      const int64_t k = ti.row_length(), rows = ti.n_rows();
      const float* src = reinterpret_cast<const float*>(ref->data);
      std::vector<uint8_t> mine(ti.row_bytes());
      std::vector<float> deq(k);
      int64_t diff_rows = 0;
      double e = 0, s = 0;
      for (int64_t r = 0; r < rows; ++r) {
        QuantizeRow(ti.type, src + r * k, mine.data(), k);
        if (std::memcmp(mine.data(), ti.data + r * ti.row_bytes(), ti.row_bytes()) != 0)
          ++diff_rows;
        DequantizeRow(ti.type, ti.data + r * ti.row_bytes(), deq.data(), k);
        for (int64_t i = 0; i < k; ++i) {
          e += (deq[i] - src[r * k + i]) * (deq[i] - src[r * k + i]);
          s += src[r * k + i] * src[r * k + i];
        }
      }
      EXPECT_EQ(diff_rows, 0) << name << " " << ti.name << " " << TensorTypeName(ti.type);
      EXPECT_LT(std::sqrt(e / s), ti.type == TensorType::kQ4_0 ? 0.15 : 0.01)
          << name << " " << ti.name;
      ++checked;
    }
    EXPECT_GT(checked, 0) << name;
  }
}

// Real Q4_K / Q6_K tensors: finite, sane magnitudes, and SIMD == reference on them.
TEST(KernelRealFiles, SmallLlamaKQuants) {
  auto f = OpenOrSkip("small-llama-q4_k_m.gguf");
  if (!f) GTEST_SKIP() << "test data not found (SUANLI_TESTDATA)";
  int n_k = 0;
  for (const GgufTensorInfo& ti : f->tensors()) {
    if (!IsK(ti.type)) continue;
    ++n_k;
    const int64_t k = ti.row_length();
    const int64_t rows = std::min<int64_t>(ti.n_rows(), 24);
    std::vector<float> deq(k);
    double s = 0;
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(ti.type, ti.data + r * ti.row_bytes(), deq.data(), k);
      for (float v : deq) {
        ASSERT_TRUE(std::isfinite(v)) << ti.name;
        s += v * v;
      }
    }
    const double rms = std::sqrt(s / (rows * k));
    EXPECT_GT(rms, 1e-4) << ti.name;
    EXPECT_LT(rms, 10.0) << ti.name;
    std::vector<uint8_t> w(ti.data, ti.data + rows * ti.row_bytes());
    const std::vector<float> x = RandomFloats(3 * k, 17);
    const bool prev = ForceReference(true);
    const std::vector<uint8_t> xq = QuantizeActs(ti.type, x, 3, k);
    ForceReference(prev);
    const std::vector<float> ref = RefGemm(ti.type, w, rows, k, xq, 3);
    const std::vector<double> bound = AbsBound(ti.type, w, rows, k, x, 3);
    std::vector<float> y(rows * 3);
    GemmRows(ti.type, w.data(), ti.row_bytes(), k, xq.data(), 3, y.data(), rows, 0, rows);
    for (int64_t i = 0; i < rows * 3; ++i)
      ASSERT_NEAR(y[i], ref[i], 2e-5 * bound[i] + 1e-6) << ti.name << " out " << i;
  }
  EXPECT_GT(n_k, 0);
}

}  // namespace
}  // namespace suanli::kernels
