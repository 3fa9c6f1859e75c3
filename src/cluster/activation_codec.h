// Activations on the wire between pipeline stages: n rows of dim floats (the residual stream
// [n × dim]) in f32 (exact), f16 (half the bytes; the default) or q8_0 (≈ a quarter: blocks of 32
// int8 with one f16 scale, dim must be a multiple of 32).
#pragma once

#include <cstdint>
#include <string>

#include "suanli/placement.h"
#include "suanli/status.h"

namespace suanli::cluster {

using placement::ActFormat;

// Whether rows of `dim` can travel in `f` (InvalidArgument naming the constraint if not).
Status CheckActFormat(ActFormat f, int64_t dim);
// x[n × dim] → bytes (appends nothing else; the size is n · ActivationBytes(f, dim)).
void EncodeActivations(ActFormat f, const float* x, int64_t n, int64_t dim, std::string* out);
// bytes → x[n × dim]. Errors: a byte count that is not n rows of dim in f.
Status DecodeActivations(ActFormat f, const std::string& bytes, int64_t n, int64_t dim, float* x);

}  // namespace suanli::cluster
