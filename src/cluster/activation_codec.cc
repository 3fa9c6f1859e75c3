#include "cluster/activation_codec.h"

#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "kernels/kernels.h"

namespace suanli::cluster {

Status CheckActFormat(ActFormat f, int64_t dim) {
  if (f == ActFormat::kQ8_0 && dim % 32 != 0)
    return InvalidArgument("q8_0 activations need a model dimension divisible by 32; this one is " +
                           std::to_string(dim) + " (use f16)");
  return Status::Ok();
}

void EncodeActivations(ActFormat f, const float* x, int64_t n, int64_t dim, std::string* out) {
  const size_t row = placement::ActivationBytes(f, dim);
  const size_t base = out->size();
  out->resize(base + row * static_cast<size_t>(n));
  uint8_t* dst = reinterpret_cast<uint8_t*>(out->data()) + base;
  for (int64_t t = 0; t < n; ++t, dst += row) {
    const float* src = x + t * dim;
    switch (f) {
      case ActFormat::kF32:
        std::memcpy(dst, src, row);
        break;
      case ActFormat::kF16:
        for (int64_t i = 0; i < dim; ++i) {
          const uint16_t h = Fp32ToFp16(src[i]);
          std::memcpy(dst + 2 * i, &h, 2);
        }
        break;
      case ActFormat::kQ8_0:
        kernels::QuantizeRow(TensorType::kQ8_0, src, dst, dim);
        break;
    }
  }
}

Status DecodeActivations(ActFormat f, const std::string& bytes, int64_t n, int64_t dim, float* x) {
  const size_t row = placement::ActivationBytes(f, dim);
  if (n < 0 || bytes.size() != row * static_cast<size_t>(n))
    return InvalidArgument("activations: " + std::to_string(bytes.size()) + " bytes, expected " +
                           std::to_string(n) + " rows of " + std::to_string(row));
  const uint8_t* src = reinterpret_cast<const uint8_t*>(bytes.data());
  for (int64_t t = 0; t < n; ++t, src += row) {
    float* dst = x + t * dim;
    switch (f) {
      case ActFormat::kF32:
        std::memcpy(dst, src, row);
        break;
      case ActFormat::kF16:
        for (int64_t i = 0; i < dim; ++i) {
          uint16_t h;
          std::memcpy(&h, src + 2 * i, 2);
          dst[i] = Fp16ToFp32(h);
        }
        break;
      case ActFormat::kQ8_0:
        kernels::DequantizeRow(TensorType::kQ8_0, src, dst, dim);
        break;
    }
    // A peer's NaN or infinity would poison every later layer (and the sampler) silently.
    for (int64_t i = 0; i < dim; ++i)
      if (!std::isfinite(dst[i]))
        return InvalidArgument("activations: row " + std::to_string(t) + " holds NaN or infinity");
  }
  return Status::Ok();
}

}  // namespace suanli::cluster
