// Deterministic elementary functions: the same bits on every CPU and compiler.
//
// libm's exp, log, pow, sin and cos may differ in the last bit between glibc versions, CPU
// architectures (x86_64 selects FMA variants at load time) and compilers, and a pool whose devices
// disagree by one bit is not exact. These are written with IEEE add, multiply, divide and
// comparisons only (built with -ffp-contract=off, so no fused steps sneak in): argument reduction
// by a constant split into exactly-multipliable parts, then a fixed polynomial. Accurate to about
// 1 ulp of double, which is all the engine needs (RoPE angles, the sampler's probabilities).
#pragma once

namespace suanli::det {

double Exp(double x);               // e^x; 0 below -745, +inf above 709.78
double Log(double x);               // natural log; NaN for x < 0, -inf for 0
double Pow(double base, double e);  // base^e for base > 0 (exp(e·log(base)))
// sin and cos of x for |x| < 2^27 · π/2 (larger arguments lose accuracy, still deterministic).
void SinCos(double x, double* s, double* c);

}  // namespace suanli::det
