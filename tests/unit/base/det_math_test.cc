// Deterministic math: close to libm everywhere it is used, and the same bits on every CPU (the
// digest below is checked natively and on aarch64 under qemu).
#include "base/det_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace suanli {
namespace {

double Ulps(double a, double b) {
  if (a == b) return 0;
  return std::fabs(a - b) / std::fabs(std::nextafter(b, INFINITY) - b);
}

TEST(DetMath, ExpMatchesLibm) {
  for (double x = -740; x < 709; x += 0.37) EXPECT_LE(Ulps(det::Exp(x), std::exp(x)), 2) << x;
  for (double x = -2; x < 2; x += 1e-3) EXPECT_LE(Ulps(det::Exp(x), std::exp(x)), 2) << x;
  EXPECT_EQ(det::Exp(0), 1.0);
  EXPECT_EQ(det::Exp(-1000), 0.0);
  EXPECT_TRUE(std::isinf(det::Exp(1000)));
  EXPECT_TRUE(std::isnan(det::Exp(NAN)));
}

TEST(DetMath, LogAndPowMatchLibm) {
  for (double x = 1e-300; x < 1e300; x *= 1.37) EXPECT_LE(Ulps(det::Log(x), std::log(x)), 2) << x;
  for (double x = 0.5; x < 2; x += 1e-4) EXPECT_NEAR(det::Log(x), std::log(x), 3e-16) << x;
  EXPECT_EQ(det::Log(1), 0.0);
  EXPECT_TRUE(std::isinf(det::Log(0)));
  EXPECT_TRUE(std::isnan(det::Log(-1)));
  EXPECT_LE(Ulps(det::Log(4.9e-324), std::log(4.9e-324)), 2);
  // RoPE frequencies: base^(-2i/d).
  for (double base : {10000.0, 500000.0, 1e6})
    for (int i = 0; i < 64; ++i) {
      const double e = -2.0 * i / 128;
      EXPECT_LE(Ulps(det::Pow(base, e), std::pow(base, e)), 16) << base << " " << i;
    }
}

TEST(DetMath, SinCosMatchLibm) {
  for (double x = -1e5; x < 1e5; x += 9.7) {
    double s, c;
    det::SinCos(x, &s, &c);
    EXPECT_NEAR(s, std::sin(x), 1e-15 * std::max(1.0, std::fabs(x) * 1e-5)) << x;
    EXPECT_NEAR(c, std::cos(x), 1e-15 * std::max(1.0, std::fabs(x) * 1e-5)) << x;
  }
  for (double x = -7; x < 7; x += 1e-3) {
    double s, c;
    det::SinCos(x, &s, &c);
    EXPECT_NEAR(s, std::sin(x), 4e-16) << x;
    EXPECT_NEAR(c, std::cos(x), 4e-16) << x;
  }
  // Float RoPE angles up to a 16M-token context: within a float ulp of libm's sinf.
  for (int p = 1; p < (1 << 24); p = p * 3 + 1) {
    const float theta = static_cast<float>(p) * 0.7071f;
    double s, c;
    det::SinCos(theta, &s, &c);
    const float want = std::sin(theta);
    EXPECT_LE(std::fabs(static_cast<float>(s) - want), std::fabs(std::nextafter(want, 2.0f) - want))
        << theta;
  }
}

// FNV-1a over the bytes of results on a fixed grid: the same constant on x86_64 and aarch64.
TEST(DetMath, SameBitsOnEveryCpu) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](double v) {
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    for (int i = 0; i < 8; ++i) {
      h ^= (b >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  for (int i = -2000; i < 2000; ++i) {
    const double x = i * 0.173;
    double s, c;
    det::SinCos(x * 31, &s, &c);
    mix(det::Exp(x * 0.3));
    mix(det::Log(std::fabs(x) + 1e-3));
    mix(s);
    mix(c);
  }
  EXPECT_EQ(h, 0xb46f59c2d50e9921ull) << "digest 0x" << std::hex << h;
}

}  // namespace
}  // namespace suanli
