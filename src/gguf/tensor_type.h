// Tensor element types as GGUF numbers them (ggml_type ids), and their block layout.
//
// A row of n elements of a quantized type is n / block_size blocks of type_size bytes each;
// n must be a multiple of block_size. Block formulas live in kernels/quant_blocks.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace suanli {

enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ4_NL = 20,
  kIQ4_XS = 23,
  kBF16 = 30,
};

struct TensorTypeInfo {
  std::string_view name;  // as llama.cpp prints it: "Q4_K"
  int64_t block_size;     // elements per block
  size_t type_size;       // bytes per block
  bool supported;         // this engine can compute with it
};

// Info for a raw GGUF type id; nullopt for ids this build does not know at all.
std::optional<TensorTypeInfo> LookupTensorType(uint32_t id);
const TensorTypeInfo& GetTensorTypeInfo(TensorType t);
inline std::string_view TensorTypeName(TensorType t) { return GetTensorTypeInfo(t).name; }
// The names of every type this engine computes with, in GGUF id order: "F32, F16, Q4_0, ...".
std::string SupportedTensorTypeNames();
// Parses "q4_k", "Q8_0", "f16" ... (case-insensitive).
std::optional<TensorType> ParseTensorType(std::string_view name);

// Bytes of one row of n elements; requires n % block_size == 0.
inline size_t RowBytes(TensorType t, int64_t n) {
  const TensorTypeInfo& i = GetTensorTypeInfo(t);
  return static_cast<size_t>(n / i.block_size) * i.type_size;
}

}  // namespace suanli
