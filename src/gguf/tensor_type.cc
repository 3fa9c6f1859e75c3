#include "gguf/tensor_type.h"

#include <array>
#include <cctype>
#include <string>

#include "base/check.h"

namespace suanli {
namespace {

struct Entry {
  uint32_t id;
  TensorTypeInfo info;
};

// Sizes follow the block structs in kernels/quant_blocks.h (static_asserts there keep them true).
constexpr std::array<Entry, 17> kTypes = {{
    {0, {"F32", 1, 4, true}},
    {1, {"F16", 1, 2, true}},
    {2, {"Q4_0", 32, 18, true}},
    {3, {"Q4_1", 32, 20, true}},
    {6, {"Q5_0", 32, 22, true}},
    {7, {"Q5_1", 32, 24, true}},
    {8, {"Q8_0", 32, 34, true}},
    {9, {"Q8_1", 32, 36, false}},
    {10, {"Q2_K", 256, 84, true}},
    {11, {"Q3_K", 256, 110, true}},
    {12, {"Q4_K", 256, 144, true}},
    {13, {"Q5_K", 256, 176, true}},
    {14, {"Q6_K", 256, 210, true}},
    {15, {"Q8_K", 256, 292, false}},
    {20, {"IQ4_NL", 32, 18, true}},
    {23, {"IQ4_XS", 256, 136, true}},
    {30, {"BF16", 1, 2, true}},
}};

}  // namespace

std::optional<TensorTypeInfo> LookupTensorType(uint32_t id) {
  for (const Entry& e : kTypes)
    if (e.id == id) return e.info;
  return std::nullopt;
}

const TensorTypeInfo& GetTensorTypeInfo(TensorType t) {
  for (const Entry& e : kTypes)
    if (e.id == static_cast<uint32_t>(t)) return e.info;
  SL_CHECK_MSG(false, "unknown TensorType");
  std::abort();
}

std::string SupportedTensorTypeNames() {
  std::string names;
  for (const Entry& e : kTypes)
    if (e.info.supported) names += (names.empty() ? "" : ", ") + std::string(e.info.name);
  return names;
}

std::optional<TensorType> ParseTensorType(std::string_view name) {
  std::string up;
  for (char c : name) up.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  for (const Entry& e : kTypes)
    if (e.info.name == up) return static_cast<TensorType>(e.id);
  return std::nullopt;
}

}  // namespace suanli
