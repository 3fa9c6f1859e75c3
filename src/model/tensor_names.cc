#include "model/tensor_names.h"

#include "gguf/gguf.h"
#include "model/arch.h"

namespace suanli::tensor_names {

std::string Layer(int64_t layer, std::string_view suffix) {
  std::string s = "blk." + std::to_string(layer) + ".";
  s += suffix;
  return s;
}

int64_t LayerOf(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return -1;
  int64_t n = 0;
  size_t i = 4;
  if (i >= name.size() || name[i] < '0' || name[i] > '9') return -1;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
    n = n * 10 + (name[i] - '0');
    if (n > (int64_t{1} << 30)) return -1;
  }
  return i < name.size() && name[i] == '.' ? n : -1;
}

bool IsExperts(std::string_view name) {
  if (LayerOf(name) < 0) return false;
  const std::string_view suffix = name.substr(name.find('.', 4) + 1);
  return suffix == kFfnGateExps || suffix == kFfnUpExps || suffix == kFfnDownExps;
}

bool OutputTied(const GgufFile& f) {
  auto arch = f.GetString("general.architecture");
  if (const ArchSpec* a = arch.ok() ? FindArch(*arch) : nullptr; a && a->output_tied) return true;
  return f.FindTensor(kOutput) == nullptr;
}

bool StageNeeds(std::string_view name, bool output_tied, int64_t first, int64_t last,
                bool with_embedding, bool with_output) {
  if (const int64_t b = LayerOf(name); b >= 0) return b >= first && b < last;
  if (name == kTokenEmbd) return with_embedding || (with_output && output_tied);
  if (name == kOutputNorm || name == kOutput) return with_output;
  return name == kRopeFreqs || name == kRopeLong || name == kRopeShort;
}

}  // namespace suanli::tensor_names
