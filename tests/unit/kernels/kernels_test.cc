// Kernel tests: block layouts against hand-made bytes, quantizer error bounds and bit-exactness
// with llama.cpp files, every variant the CPU runs against the scalar reference byte for byte
// (every token count, shape, row range and thread count: the canonical order of kernels.h), the
// reference's accuracy, and a digest pinning the reference's bytes across architectures.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "base/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "kernels/quant_blocks.h"

namespace suanli::kernels {
namespace {

// The types of the first digest (kept so its constant stays valid), then the later ones.
const TensorType kFirstTypes[] = {TensorType::kF32,  TensorType::kF16,  TensorType::kBF16,
                                  TensorType::kQ4_0, TensorType::kQ5_0, TensorType::kQ8_0,
                                  TensorType::kQ4_K, TensorType::kQ5_K, TensorType::kQ6_K};
const TensorType kLaterTypes[] = {TensorType::kQ4_1,   TensorType::kQ5_1, TensorType::kIQ4_NL,
                                  TensorType::kIQ4_XS, TensorType::kQ3_K, TensorType::kQ2_K};
const std::vector<TensorType> kAllTypes = [] {
  std::vector<TensorType> v(std::begin(kFirstTypes), std::end(kFirstTypes));
  v.insert(v.end(), std::begin(kLaterTypes), std::end(kLaterTypes));
  return v;
}();

bool IsK(TensorType t) { return ActFormatFor(t) == ActFormat::kQ8_K; }

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

TEST(KernelLayout, Q4_1) {
  block_q4_1 b{};
  b.d = 0x3800;  // 0.5
  b.m = 0xC000;  // -2
  b.qs[0] = 0x9F;
  b.qs[15] = 0x07;
  float y[32];
  DequantizeRow(TensorType::kQ4_1, &b, y, 32);
  EXPECT_EQ(y[0], 5.5f);    // 15 * 0.5 - 2
  EXPECT_EQ(y[16], 2.5f);   // 9 * 0.5 - 2
  EXPECT_EQ(y[15], 1.5f);   // 7 * 0.5 - 2
  EXPECT_EQ(y[31], -2.0f);  // 0 * 0.5 - 2
}

TEST(KernelLayout, Q5_1) {
  block_q5_1 b{};
  b.d = 0x3C00;  // 1
  b.m = 0x3800;  // 0.5
  b.qh[0] = 0x01;
  b.qh[2] = 0x01;
  b.qh[3] = 0x80;  // bits 0, 16, 31
  b.qs[0] = 0x21;
  b.qs[15] = 0x30;
  float y[32];
  DequantizeRow(TensorType::kQ5_1, &b, y, 32);
  EXPECT_EQ(y[0], 17.5f);   // (1 | 16) + 0.5
  EXPECT_EQ(y[16], 18.5f);  // (2 | 16) + 0.5
  EXPECT_EQ(y[31], 19.5f);  // (3 | 16) + 0.5
  EXPECT_EQ(y[15], 0.5f);   // 0 + 0.5
  EXPECT_EQ(y[1], 0.5f);
}

TEST(KernelLayout, IQ4_NL) {
  block_iq4_nl b{};
  b.d = 0x3800;  // 0.5
  b.qs[0] = 0x9F;
  b.qs[15] = 0x07;
  float y[32];
  DequantizeRow(TensorType::kIQ4_NL, &b, y, 32);
  EXPECT_EQ(y[0], 56.5f);    // table[15] = 113
  EXPECT_EQ(y[16], 6.5f);    // table[9] = 13
  EXPECT_EQ(y[15], -5.0f);   // table[7] = -10
  EXPECT_EQ(y[31], -63.5f);  // table[0] = -127
  EXPECT_EQ(y[1], -63.5f);
}

TEST(KernelLayout, IQ4_XS) {
  block_iq4_xs b{};
  b.d = 0x3800;                      // 0.5
  b.scales_l[0] = 0x1F;              // ls0 low = 15, ls1 low = 1
  b.scales_l[3] = 0x40;              // ls6 low = 0, ls7 low = 4
  b.scales_h = 0x2 | (3 << 14);      // ls0 high = 2 (ls0 = 47), ls7 high = 3 (ls7 = 52)
  for (uint8_t& q : b.qs) q = 0x88;  // table[8] = 1 everywhere
  b.qs[0] = 0xF0;                    // element 0: table[0], element 16: table[15]
  b.qs[127] = 0x1E;                  // element 239: table[14], element 255: table[1]
  float y[256];
  DequantizeRow(TensorType::kIQ4_XS, &b, y, 256);
  EXPECT_EQ(y[0], -952.5f);     // 0.5 * (47 - 32) * -127
  EXPECT_EQ(y[16], 847.5f);     // 7.5 * 113
  EXPECT_EQ(y[1], 7.5f);        // 7.5 * 1
  EXPECT_EQ(y[32], -15.5f);     // sub-block 1: ls = 1, 0.5 * -31 * 1
  EXPECT_EQ(y[200], -16.0f);    // sub-block 6: ls = 0
  EXPECT_EQ(y[239], 890.0f);    // sub-block 7: ls = 52, 10 * 89
  EXPECT_EQ(y[255], -1040.0f);  // 10 * -104
  EXPECT_EQ(ScaleIq4Xs(b, 7), 52);
}

TEST(KernelLayout, Q2_K) {
  block_q2_K b{};
  b.d = 0x3800;         // 0.5
  b.dmin = 0x3C00;      // 1
  b.scales[0] = 0x23;   // group 0: sc 3, m 2
  b.scales[9] = 0x51;   // group 9: sc 1, m 5
  b.scales[15] = 0xF0;  // group 15: sc 0, m 15
  b.qs[0] = 0xE4;       // elements 0, 32, 64, 96: 0, 1, 2, 3
  b.qs[3] = 0x03;       // element 3: 3
  b.qs[48] = 0x02;      // element 128 + 16 (group 9): 2
  float y[256];
  DequantizeRow(TensorType::kQ2_K, &b, y, 256);
  EXPECT_EQ(y[0], -2.0f);    // 1.5 * 0 - 2
  EXPECT_EQ(y[3], 2.5f);     // 1.5 * 3 - 2
  EXPECT_EQ(y[32], 0.0f);    // group 2: sc = m = 0
  EXPECT_EQ(y[144], -4.0f);  // 0.5 * 2 - 5
  EXPECT_EQ(y[145], -5.0f);  // 0.5 * 0 - 5
  EXPECT_EQ(y[255], -15.0f);
}

TEST(KernelLayout, Q3_K) {
  block_q3_K b{};
  b.d = 0x3800;  // 0.5
  // Scales: g = 0 → 32 + 3 = 35 (sc 3); g = 9 → low nibble of s[1] high, high bits of s[9]
  // bits 4-5: 1 | 2 << 4 = 33 (sc 1); g = 15 → s[7] high nibble 0, s[11] bits 6-7 = 0 → -32.
  b.scales[0] = 0x03;
  b.scales[8] = 0x02;  // g = 0: high bits 2 → 35
  b.scales[1] = 0x10;  // g = 9 low nibble 1
  b.scales[9] = 0x20;  // g = 9 high bits (bits 4-5) = 2 → 33
  b.qs[0] = 0x1B;      // element 0: 3, element 32: 2, element 64: 1, element 96: 0
  b.hmask[0] = 0x03;   // 3rd bit of elements 0 and 32
  b.qs[48] = 0x00;
  b.hmask[16] = 0x10;  // element 128 + 16 (g = 9): 3rd bit
  float y[256];
  DequantizeRow(TensorType::kQ3_K, &b, y, 256);
  EXPECT_EQ(y[0], 4.5f);     // 0.5 * 3 * ((3 | 4) - 4)
  EXPECT_EQ(y[1], -6.0f);    // 0.5 * 3 * (0 - 4)
  EXPECT_EQ(y[32], -32.0f);  // group 2: scale 0 - 32 = -32; 0.5 * -32 * ((2 | 4) - 4)
  EXPECT_EQ(y[144], 0.0f);   // group 9: 0.5 * 1 * ((0 | 4) - 4)
  EXPECT_EQ(y[145], -2.0f);  // 0.5 * 1 * (0 - 4)
  EXPECT_EQ(y[255], 64.0f);  // group 15: 0.5 * -32 * -4
  int8_t sc[16], want[16];
  UnpackScalesQ3K(b.scales, sc);
  EXPECT_EQ(sc[0], 3);
  EXPECT_EQ(sc[9], 1);
  EXPECT_EQ(sc[15], -32);
  for (int g = 0; g < 16; ++g) want[g] = static_cast<int8_t>(g * 4 - 32 + (g % 3));
  uint8_t packed[12];
  PackScalesQ3K(want, packed);
  UnpackScalesQ3K(packed, sc);
  EXPECT_EQ(0, std::memcmp(sc, want, 16));
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
      {TensorType::kF32, 0},       {TensorType::kF16, 1e-3},   {TensorType::kBF16, 5e-3},
      {TensorType::kQ8_0, 0.01},   {TensorType::kQ4_0, 0.13},  {TensorType::kQ5_0, 0.065},
      {TensorType::kQ4_K, 0.10},   {TensorType::kQ5_K, 0.05},  {TensorType::kQ6_K, 0.03},
      {TensorType::kQ4_1, 0.11},   {TensorType::kQ5_1, 0.055}, {TensorType::kIQ4_NL, 0.10},
      {TensorType::kIQ4_XS, 0.10}, {TensorType::kQ3_K, 0.17},  {TensorType::kQ2_K, 0.30}};
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
    std::printf("%-7s relative RMS error %.4f\n", std::string(TensorTypeName(b.t)).c_str(),
                std::sqrt(e / s));
  }
}

// ---- portable inputs ---------------------------------------------------------------------------
//
// Built from integer random bits only (no <random> distributions, no libm), so they are the same
// on every architecture and the reference's outputs on them can be pinned by a digest.

struct Rng {  // splitmix64
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t Next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(Next() % n); }
};

// A finite f16 of either sign, magnitude 2^(e-15) with e in [lo, hi]; e = 0 gives subnormals.
uint16_t RandomHalf(Rng& g, int lo, int hi) {
  const uint32_t e = static_cast<uint32_t>(lo) + g.Below(static_cast<uint32_t>(hi - lo + 1));
  return static_cast<uint16_t>((g.Below(2) << 15) | (e << 10) | g.Below(1024));
}

// Byte offsets of the f16 scale fields of a quantized block.
std::vector<size_t> ScaleFields(TensorType t) {
  switch (t) {
    case TensorType::kQ4_1:
    case TensorType::kQ5_1:
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
      return {0, 2};  // d and m (dmin)
    case TensorType::kQ6_K:
      return {offsetof(block_q6_K, d)};
    case TensorType::kQ3_K:
      return {offsetof(block_q3_K, d)};
    case TensorType::kQ2_K:
      return {offsetof(block_q2_K, d), offsetof(block_q2_K, dmin)};
    default:
      return {0};  // d first
  }
}

// Random weight bytes of `rows` rows: every quantized level and scale pattern the format allows
// (f16 scales of both signs, a few subnormal or zero), float weights of moderate exponent.
std::vector<uint8_t> PortableWeights(TensorType t, int64_t rows, int64_t k, uint64_t seed) {
  Rng g(seed);
  const size_t rb = RowBytes(t, k);
  std::vector<uint8_t> w(rb * rows);
  for (auto& b : w) b = static_cast<uint8_t>(g.Next());
  auto scale = [&](uint8_t* p) {
    const uint32_t r = g.Below(64);
    const uint16_t h = r == 0 ? 0 : r == 1 ? RandomHalf(g, 0, 0) : RandomHalf(g, 4, 17);
    std::memcpy(p, &h, 2);
  };
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = w.data() + r * rb;
    switch (t) {
      case TensorType::kF32:
        for (int64_t i = 0; i < k; ++i) {
          const uint32_t bits = (g.Below(2) << 31) | ((119 + g.Below(10)) << 23) | g.Below(1 << 23);
          std::memcpy(row + 4 * i, &bits, 4);
        }
        break;
      case TensorType::kF16:
        for (int64_t i = 0; i < k; ++i) {
          const uint16_t h = RandomHalf(g, 7, 16);
          std::memcpy(row + 2 * i, &h, 2);
        }
        break;
      case TensorType::kBF16:
        for (int64_t i = 0; i < k; ++i) {
          const uint16_t h =
              static_cast<uint16_t>((g.Below(2) << 15) | ((119 + g.Below(10)) << 7) | g.Below(128));
          std::memcpy(row + 2 * i, &h, 2);
        }
        break;
      default: {  // quantized: random levels, then realistic f16 scale fields
        const TensorTypeInfo& ti = GetTensorTypeInfo(t);
        for (int64_t b = 0; b < k / ti.block_size; ++b)
          for (size_t f : ScaleFields(t)) scale(row + b * ti.type_size + f);
      }
    }
  }
  return w;
}

// Activations: integers in [-2^15, 2^15) times 2^-12 times a power of two per row (exact floats),
// with an all-zero 32-block and rounding ties in some rows.
std::vector<float> PortableActs(int64_t n_tok, int64_t k, uint64_t seed) {
  Rng g(seed);
  std::vector<float> x(n_tok * k);
  for (int64_t t = 0; t < n_tok; ++t) {
    const float row_scale = std::ldexp(1.0f, static_cast<int>(g.Below(12)) - 6);
    for (int64_t i = 0; i < k; ++i)
      x[t * k + i] =
          static_cast<float>(static_cast<int32_t>(g.Below(65536)) - 32768) * 0x1p-12f * row_scale;
    if (t % 3 == 1 && k >= 64)
      for (int i = 32; i < 64; ++i) x[t * k + i] = 0.0f;
    if (t % 4 == 2 && k >= 32) {  // amax 127 / 64: x * id = k + 0.5 for half the block
      x[t * k] = 127.0f / 64;
      for (int i = 1; i < 32; ++i) x[t * k + i] = (i % 2 ? 0.5f : -1.5f) / 64;
    }
  }
  return x;
}

// ---- variants against the reference, byte for byte --------------------------------------------

const Variant& Ref() { return ref::GetVariant(); }

GemmFn GemmOf(const Variant& v, TensorType t) {
  const int i = KTypeOf(t);
  return v.gemm[i] != nullptr ? v.gemm[i] : Ref().gemm[i];
}

void QuantActWith(const Variant& v, TensorType t, const float* x, void* dst, int64_t k) {
  switch (ActFormatFor(t)) {
    case ActFormat::kQ8_0:
      return v.quant_q8_0(x, dst, k);
    case ActFormat::kQ8_K:
      return v.quant_q8_K(x, dst, k);
    default:
      std::memcpy(dst, x, static_cast<size_t>(k) * 4);
  }
}

std::vector<uint8_t> QuantActsWith(const Variant& v, TensorType t, const std::vector<float>& x,
                                   int64_t n_tok, int64_t k) {
  const size_t rb = ActRowBytes(t, k);
  std::vector<uint8_t> q(rb * n_tok);
  for (int64_t i = 0; i < n_tok; ++i) QuantActWith(v, t, x.data() + i * k, q.data() + i * rb, k);
  return q;
}

bool SameBytes(const float* a, const float* b, int64_t n) {
  return std::memcmp(a, b, static_cast<size_t>(n) * sizeof(float)) == 0;
}

// Shapes per type: block counts odd, below 16, not a multiple of 16, and the 1B model's 2048 and
// 8192 (rows never a multiple of a tile).
struct Shape {
  int64_t k, rows;
};
std::vector<Shape> ShapesFor(TensorType t) {
  if (IsK(t)) return {{256, 37}, {768, 37}, {15 * 256, 21}, {17 * 256, 21}, {2048, 37}, {8192, 13}};
  if (ActFormatFor(t) == ActFormat::kQ8_0)
    return {{32, 37}, {96, 37}, {480, 37}, {544, 37}, {33 * 32, 37}, {2048, 37}, {8192, 13}};
  return {{1, 37}, {7, 37}, {16, 37}, {33, 37}, {100, 37}, {2048, 37}, {8192, 13}};
}

const int64_t kTokenCounts[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100};
constexpr int64_t kMaxTok = 100;

std::string VariantNames() {
  std::string s;
  for (const Variant* v : AvailableVariants()) s += std::string(s.empty() ? "" : ", ") + v->name;
  return s;
}

TEST(KernelQuant, ActivationQuantizersMatchReference) {
  std::printf("variants on this CPU: %s\n", VariantNames().c_str());
  for (int64_t k : {256, 512, 2048, 8192}) {
    std::vector<float> x = PortableActs(8, k, 5 + k);
    std::vector<float> n = RandomFloats(8 * k, 7 + k);  // non-portable is fine here
    x.insert(x.end(), n.begin(), n.end());
    float* special = x.data() + 15 * k;                                // last row: extremes
    for (int i = 0; i < 256; ++i) special[i] = 0x1p-140f * (i - 128);  // subnormal amax
    if (k >= 512) {
      float* s = special + 256;
      for (int i = 0; i < 32; ++i) s[i] = i == 8 ? -3e38f : 1e37f;          // huge, negative amax
      for (int i = 32; i < 64; ++i) s[i] = i == 32 ? 1.0f : -0.0f;          // signed zeros
      for (int i = 64; i < 96; ++i) s[i] = (i - 80) * (127.0f / 64) / 254;  // ties
      for (int i = 96; i < 128; ++i) s[i] = 0x1p-119f * (i - 111);          // near the cut
    }
    for (TensorType t : {TensorType::kQ8_0, TensorType::kQ4_K}) {
      const std::vector<uint8_t> want = QuantActsWith(Ref(), t, x, 16, k);
      for (const Variant* v : AvailableVariants()) {
        const std::vector<uint8_t> got = QuantActsWith(*v, t, x, 16, k);
        EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size()))
            << v->name << " " << TensorTypeName(t) << " k=" << k;
      }
      // The public entry point (the active variant) too.
      std::vector<uint8_t> pub(want.size());
      for (int64_t i = 0; i < 16; ++i)
        QuantizeActRow(t, x.data() + i * k, pub.data() + i * ActRowBytes(t, k), k);
      EXPECT_EQ(0, std::memcmp(want.data(), pub.data(), want.size())) << TensorTypeName(t);
    }
  }
}

// Every variant's GEMM equals the reference bytes for every token count (so a token's row never
// depends on the batch it came in), shape and leading dimension.
TEST(KernelGemm, VariantsMatchReferenceBytes) {
  std::printf("variants on this CPU: %s\n", VariantNames().c_str());
  for (TensorType t : kAllTypes) {
    for (const Shape& sh : ShapesFor(t)) {
      const int64_t k = sh.k, rows = sh.rows, ldy = rows + 3;
      const size_t rb = RowBytes(t, k);
      const std::vector<uint8_t> w = PortableWeights(t, rows, k, 1000 + k);
      const std::vector<float> x = PortableActs(kMaxTok, k, 2000 + k);
      const std::vector<uint8_t> xq = QuantActsWith(Ref(), t, x, kMaxTok, k);
      std::vector<float> want(kMaxTok * ldy, 0.0f);
      GemmOf(Ref(), t)(w.data(), rb, k, xq.data(), kMaxTok, want.data(), ldy, 0, rows);
      for (const Variant* v : AvailableVariants()) {
        if (v == &Ref()) continue;
        for (int64_t n_tok : kTokenCounts) {
          std::vector<float> y(n_tok * ldy, 0.0f);
          GemmOf(*v, t)(w.data(), rb, k, xq.data(), n_tok, y.data(), ldy, 0, rows);
          int bad = 0;
          for (int64_t i = 0; i < n_tok && bad < 3; ++i)
            for (int64_t r = 0; r < rows && bad < 3; ++r)
              if (!SameBytes(&y[i * ldy + r], &want[i * ldy + r], 1))
                ADD_FAILURE() << v->name << " " << TensorTypeName(t) << " k=" << k
                              << " n_tok=" << n_tok << " token " << i << " row " << r << ": "
                              << y[i * ldy + r] << " vs ref " << want[i * ldy + r] << " (" << ++bad
                              << ")";
          for (int64_t i = 0; i < n_tok; ++i)  // the gap between rows of Y is left alone
            for (int64_t r = rows; r < ldy; ++r) ASSERT_EQ(y[i * ldy + r], 0.0f);
        }
      }
    }
  }
}

// A token computed alone equals the same token inside a batch, for every variant (also implied by
// the test above; this states the property the pool relies on directly).
TEST(KernelGemm, BatchInvariance) {
  for (TensorType t : kAllTypes) {
    const int64_t k = IsK(t) ? 2048 : ActFormatFor(t) == ActFormat::kQ8_0 ? 2048 + 96 : 2048 + 5;
    const int64_t rows = 19;
    const size_t rb = RowBytes(t, k);
    const std::vector<uint8_t> w = PortableWeights(t, rows, k, 7);
    const std::vector<float> x = PortableActs(kMaxTok, k, 8);
    for (const Variant* v : AvailableVariants()) {
      const std::vector<uint8_t> xq = QuantActsWith(*v, t, x, kMaxTok, k);
      const size_t ab = ActRowBytes(t, k);
      for (int64_t n_tok : {3, 8, 33, 100}) {
        std::vector<float> y(n_tok * rows);
        GemmOf(*v, t)(w.data(), rb, k, xq.data(), n_tok, y.data(), rows, 0, rows);
        for (int64_t i : {int64_t{0}, n_tok / 2, n_tok - 1}) {
          std::vector<float> one(rows);
          GemmOf(*v, t)(w.data(), rb, k, xq.data() + i * ab, 1, one.data(), rows, 0, rows);
          EXPECT_TRUE(SameBytes(one.data(), &y[i * rows], rows))
              << v->name << " " << TensorTypeName(t) << " n_tok=" << n_tok << " token " << i;
        }
      }
    }
  }
}

// Any row range and any thread count give the reference's bytes.
TEST(KernelGemm, RowRangesAndThreadsMatchReference) {
  const int64_t rows = 203;
  for (TensorType t : kAllTypes) {
    const int64_t k = IsK(t) ? 768 : ActFormatFor(t) == ActFormat::kQ8_0 ? 352 : 333;
    const size_t rb = RowBytes(t, k);
    const std::vector<uint8_t> w = PortableWeights(t, rows, k, 3);
    const Matrix m{t, w.data(), rows, k, rb};
    for (int64_t n_tok : {1, 5, 64}) {
      const std::vector<float> x = PortableActs(n_tok, k, 11);
      const std::vector<uint8_t> xq = QuantActsWith(Ref(), t, x, n_tok, k);
      std::vector<float> want(rows * n_tok);
      GemmOf(Ref(), t)(w.data(), rb, k, xq.data(), n_tok, want.data(), rows, 0, rows);
      for (const Variant* v : AvailableVariants()) {
        // Uneven sub-ranges, including single rows, concatenated.
        std::vector<float> y(rows * n_tok, 0.0f);
        const int64_t cuts[] = {0, 1, 2, 7, 50, 51, 130, 133, rows};
        for (size_t c = 0; c + 1 < std::size(cuts); ++c)
          GemmOf(*v, t)(w.data(), rb, k, xq.data(), n_tok, y.data(), rows, cuts[c], cuts[c + 1]);
        EXPECT_TRUE(SameBytes(want.data(), y.data(), rows * n_tok))
            << v->name << " " << TensorTypeName(t) << " n_tok=" << n_tok << " sub-ranges";
      }
      // The threaded MatMul of the active variant.
      for (int nth = 1; nth <= 4; ++nth) {
        ThreadPool pool(nth);
        std::vector<uint8_t> scratch;
        std::vector<float> y(rows * n_tok);
        MatMul(pool, m, x.data(), n_tok, y.data(), scratch);
        EXPECT_TRUE(SameBytes(want.data(), y.data(), rows * n_tok))
            << ActiveVariant() << " " << TensorTypeName(t) << " n_tok=" << n_tok
            << " threads=" << nth;
      }
    }
  }
}

// The reference itself: close to the exact (double) product of the dequantized operands.
TEST(KernelGemm, ReferenceIsAccurate) {
  for (TensorType t : kAllTypes) {
    const int64_t k = IsK(t) ? 2048 : 2048 + 32 * 3;
    const int64_t rows = 9, n_tok = 3;
    const std::vector<uint8_t> w = RandomWeights(t, rows, k, 21);
    const std::vector<float> x = RandomFloats(n_tok * k, 22);
    const std::vector<uint8_t> xq = QuantActsWith(Ref(), t, x, n_tok, k);
    std::vector<float> y(rows * n_tok);
    GemmOf(Ref(), t)(w.data(), RowBytes(t, k), k, xq.data(), n_tok, y.data(), rows, 0, rows);
    std::vector<float> wr(k), xr(k);
    for (int64_t i = 0; i < n_tok; ++i) {
      const uint8_t* a = xq.data() + i * ActRowBytes(t, k);
      if (ActFormatFor(t) == ActFormat::kQ8_0) {
        DequantizeRow(TensorType::kQ8_0, a, xr.data(), k);
      } else if (ActFormatFor(t) == ActFormat::kQ8_K) {
        for (int64_t j = 0; j < k; ++j) {
          const block_q8_K& b = reinterpret_cast<const block_q8_K*>(a)[j / kQK_K];
          xr[j] = b.d * b.qs[j % kQK_K];
        }
      } else {
        std::memcpy(xr.data(), a, k * 4);
      }
      for (int64_t r = 0; r < rows; ++r) {
        DequantizeRow(t, w.data() + r * RowBytes(t, k), wr.data(), k);
        double s = 0, sa = 0;
        for (int64_t j = 0; j < k; ++j) {
          s += static_cast<double>(wr[j]) * xr[j];
          sa += std::fabs(static_cast<double>(wr[j]) * xr[j]);
        }
        EXPECT_NEAR(y[i * rows + r], s, 1e-5 * sa + 1e-6) << TensorTypeName(t) << " " << r;
      }
    }
  }
}

// ---- the reference is the same bytes on every architecture ------------------------------------

uint64_t Fnv1a(uint64_t h, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001B3ull;
  return h;
}

// FNV-1a over the reference's activation rows, GEMM outputs and weight quantizers on portable
// inputs. The constant was computed on x86-64; scripts/test.sh runs this test on aarch64 under
// qemu, so a difference in rounding between the two (an FMA contraction, a libm call) fails here.
template <typename Types>
uint64_t ReferenceDigest(const Types& types) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (TensorType t : types) {
    const int64_t k = IsK(t) ? 17 * 256 : ActFormatFor(t) == ActFormat::kQ8_0 ? 33 * 32 : 1001;
    const int64_t rows = 7, n_tok = 5;
    const std::vector<uint8_t> w = PortableWeights(t, rows, k, 77);
    const std::vector<float> x = PortableActs(n_tok, k, 78);
    const std::vector<uint8_t> xq = QuantActsWith(Ref(), t, x, n_tok, k);
    h = Fnv1a(h, xq.data(), xq.size());
    std::vector<float> y(rows * n_tok);
    GemmOf(Ref(), t)(w.data(), RowBytes(t, k), k, xq.data(), n_tok, y.data(), rows, 0, rows);
    h = Fnv1a(h, y.data(), y.size() * 4);
    const int64_t kq = IsK(t) ? 512 : 1024;  // weight quantizer, dequantizer
    std::vector<uint8_t> q(RowBytes(t, kq));
    std::vector<float> back(kq);
    QuantizeRow(t, x.data(), q.data(), kq);
    DequantizeRow(t, q.data(), back.data(), kq);
    h = Fnv1a(h, q.data(), q.size());
    h = Fnv1a(h, back.data(), back.size() * 4);
    // Every variant on this machine gives the same bytes (so the digest holds for them too).
    for (const Variant* v : AvailableVariants()) {
      std::vector<float> yv(rows * n_tok);
      GemmOf(*v, t)(w.data(), RowBytes(t, k), k, xq.data(), n_tok, yv.data(), rows, 0, rows);
      EXPECT_TRUE(SameBytes(y.data(), yv.data(), rows * n_tok))
          << v->name << " " << TensorTypeName(t);
    }
  }
  std::printf("reference digest: 0x%016llx\n", static_cast<unsigned long long>(h));
  return h;
}

TEST(KernelDigest, ReferenceIsTheSameOnEveryArchitecture) {
  EXPECT_EQ(ReferenceDigest(kFirstTypes), 0x6ea1a6217b7ee501ull);
  // The types added later, pinned separately so the first constant stays as it was.
  EXPECT_EQ(ReferenceDigest(kLaterTypes), 0x277d4e5f33c5e661ull);
}

// ---- blocks written by the reference implementation's quantizers ------------------------------

// tests/data/kernels/NAME.blocks: ggml's blocks of a 1,024-element row, then its to_float of them.
// suanli must dequantize the bytes to the same floats, and every variant's dot over them must be
// the exact dot of those floats (with the quantized activations) up to float rounding.
TEST(KernelReferenceBlocks, MatchLlamaCpp) {
  struct File {
    const char* name;
    TensorType t;
  };
  const File files[] = {{"q4_1", TensorType::kQ4_1},     {"q5_1", TensorType::kQ5_1},
                        {"iq4_nl", TensorType::kIQ4_NL}, {"iq4_xs", TensorType::kIQ4_XS},
                        {"q3_k", TensorType::kQ3_K},     {"q2_k", TensorType::kQ2_K}};
  const int64_t n = 1024;
  for (const File& f : files) {
    const std::string path = std::string(SUANLI_REPO_TESTDATA) + "/kernels/" + f.name + ".blocks";
    FILE* fp = std::fopen(path.c_str(), "rb");
    ASSERT_NE(fp, nullptr) << path;
    const size_t rb = RowBytes(f.t, n);
    std::vector<uint8_t> bytes(rb + 4 * n + 1);
    const size_t got = std::fread(bytes.data(), 1, bytes.size(), fp);
    std::fclose(fp);
    ASSERT_EQ(got, rb + 4 * n) << path;
    std::vector<float> want(n), mine(n);
    std::memcpy(want.data(), bytes.data() + rb, 4 * n);
    DequantizeRow(f.t, bytes.data(), mine.data(), n);
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 5; ++i)
      if (!SameBytes(&mine[i], &want[i], 1))
        ADD_FAILURE() << f.name << " element " << i << ": " << mine[i] << " vs llama.cpp "
                      << want[i] << " (" << ++bad << ")";
    // The dot against a deterministic activation row.
    const std::vector<float> x = PortableActs(1, n, 4242);
    const std::vector<uint8_t> xq = QuantActsWith(Ref(), f.t, x, 1, n);
    std::vector<float> xr(n);
    if (ActFormatFor(f.t) == ActFormat::kQ8_0) {
      DequantizeRow(TensorType::kQ8_0, xq.data(), xr.data(), n);
    } else {
      for (int64_t j = 0; j < n; ++j) {
        const block_q8_K& b = reinterpret_cast<const block_q8_K*>(xq.data())[j / kQK_K];
        xr[j] = b.d * b.qs[j % kQK_K];
      }
    }
    double exact = 0, mag = 0;
    for (int64_t j = 0; j < n; ++j) {
      exact += static_cast<double>(want[j]) * xr[j];
      mag += std::fabs(static_cast<double>(want[j]) * xr[j]);
    }
    for (const Variant* v : AvailableVariants()) {
      float y = 0;
      GemmOf(*v, f.t)(bytes.data(), rb, n, xq.data(), 1, &y, 1, 0, 1);
      EXPECT_NEAR(y, exact, 2e-6 * mag) << v->name << " " << f.name;
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

// Real Q4_K / Q6_K tensors: finite, sane magnitudes, and every variant == reference bytes on them.
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
    const std::vector<float> x = RandomFloats(9 * k, 17);
    const std::vector<uint8_t> xq = QuantActsWith(Ref(), ti.type, x, 9, k);
    std::vector<float> want(rows * 9);
    GemmOf(Ref(), ti.type)(ti.data, ti.row_bytes(), k, xq.data(), 9, want.data(), rows, 0, rows);
    for (const Variant* v : AvailableVariants())
      for (int64_t n_tok : {1, 3, 9}) {
        std::vector<float> y(rows * n_tok);
        GemmOf(*v, ti.type)(ti.data, ti.row_bytes(), k, xq.data(), n_tok, y.data(), rows, 0, rows);
        ASSERT_TRUE(SameBytes(want.data(), y.data(), rows * n_tok))
            << v->name << " " << ti.name << " n_tok=" << n_tok;
      }
  }
  EXPECT_GT(n_k, 0);
}

}  // namespace
}  // namespace suanli::kernels
