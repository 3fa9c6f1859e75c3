#include "base/det_math.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace suanli::det {
namespace {

// 2^k for integer k in [-1074, 1023] from the exponent bits (no libm).
double Pow2(int k) {
  if (k > 1023) return std::numeric_limits<double>::infinity();
  if (k < -1074) return 0.0;
  if (k < -1022) return Pow2(k + 54) * (1.0 / 18014398509481984.0);  // subnormal: 2^(k+54)·2^-54
  const uint64_t bits = static_cast<uint64_t>(k + 1023) << 52;
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// Nearest integer of v (|v| < 2^52), ties away from zero; exact.
double Round(double v) { return v >= 0 ? std::floor(v + 0.5) : -std::floor(-v + 0.5); }

// ln 2 = kLn2Hi + kLn2Lo, kLn2Hi with 32 significant bits (k·kLn2Hi exact for |k| < 2^21).
constexpr double kLn2Hi = 0.6931471803691238;
constexpr double kLn2Lo = 1.9082149292705877e-10;
constexpr double kInvLn2 = 1.4426950408889634;
// π/2 in four parts of 26 significant bits (k·part exact for |k| < 2^27).
constexpr double kPio2[4] = {1.5707963109016418, 1.5893254712295857e-08, 6.123233932053594e-17,
                             6.36831716351095e-25};
constexpr double kTwoOverPi = 0.6366197723675814;

// Taylor series of sin r and cos r for |r| <= π/4 (error below 1e-19), Horner form.
double SinPoly(double r) {
  const double r2 = r * r;
  double p = 1.0 / 355687428096000.0;  // 1/17!
  p = p * r2 - 1.0 / 1307674368000.0;  // 1/15!
  p = p * r2 + 1.0 / 6227020800.0;     // 1/13!
  p = p * r2 - 1.0 / 39916800.0;       // 1/11!
  p = p * r2 + 1.0 / 362880.0;         // 1/9!
  p = p * r2 - 1.0 / 5040.0;
  p = p * r2 + 1.0 / 120.0;
  p = p * r2 - 1.0 / 6.0;
  return r + r * (r2 * p);
}
double CosPoly(double r) {
  const double r2 = r * r;
  double p = 1.0 / 6402373705728000.0;  // 1/18!
  p = p * r2 - 1.0 / 20922789888000.0;  // 1/16!
  p = p * r2 + 1.0 / 87178291200.0;     // 1/14!
  p = p * r2 - 1.0 / 479001600.0;       // 1/12!
  p = p * r2 + 1.0 / 3628800.0;         // 1/10!
  p = p * r2 - 1.0 / 40320.0;
  p = p * r2 + 1.0 / 720.0;
  p = p * r2 - 1.0 / 24.0;
  p = p * r2 + 0.5;
  return 1.0 - r2 * p;
}

}  // namespace

double Exp(double x) {
  if (std::isnan(x)) return x;
  if (x > 709.782712893384) return std::numeric_limits<double>::infinity();
  if (x < -745.2) return 0.0;
  // x = k·ln2 + r, |r| <= ln2/2; e^r by its Taylor series to r^14 (error ~1e-17 relative).
  const double k = Round(x * kInvLn2);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = 1.0 / 87178291200.0;  // 1/14!
  p = p * r + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const int ki = static_cast<int>(k);
  // Split the scaling so 2^k never overflows on its own near the ends of the range.
  if (ki > 1000) return p * Pow2(ki - 500) * Pow2(500);
  if (ki < -1000) return p * Pow2(ki + 500) * Pow2(-500);
  return p * Pow2(ki);
}

double Log(double x) {
  if (std::isnan(x) || x < 0) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0) return -std::numeric_limits<double>::infinity();
  if (std::isinf(x)) return x;
  // x = m·2^e with m in [√½, √2); ln m = 2·atanh(s), s = (m-1)/(m+1), |s| <= 0.1716.
  int e = 0;
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits >> 52) == 0) {     // subnormal: scale up first
    x *= 18014398509481984.0;  // 2^54
    e -= 54;
    std::memcpy(&bits, &x, sizeof bits);
  }
  e += static_cast<int>(bits >> 52) - 1023;
  bits = (bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52);
  double m;
  std::memcpy(&m, &bits, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double p = 1.0 / 27;
  for (int n = 25; n >= 1; n -= 2) p = p * s2 + 1.0 / n;
  const double lnm = 2.0 * s * p;
  const double de = static_cast<double>(e);
  return de * kLn2Hi + (lnm + de * kLn2Lo);
}

double Pow(double base, double e) {
  if (base == 1.0 || e == 0.0) return 1.0;
  return Exp(e * Log(base));
}

void SinCos(double x, double* s, double* c) {
  if (!std::isfinite(x)) {
    *s = *c = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  // x = k·π/2 + r, |r| <= π/4; the quadrant k mod 4 picks the signs and the swap.
  const double k = Round(x * kTwoOverPi);
  double r = x;
  for (double part : kPio2) r -= k * part;
  const double sr = SinPoly(r), cr = CosPoly(r);
  const int64_t q = static_cast<int64_t>(k) & 3;
  switch (q) {
    case 0:
      *s = sr, *c = cr;
      break;
    case 1:
      *s = cr, *c = -sr;
      break;
    case 2:
      *s = -sr, *c = -cr;
      break;
    default:
      *s = -cr, *c = sr;
      break;
  }
}

}  // namespace suanli::det
