#include "cluster/model_cost.h"

#include <string>

namespace suanli::cluster {

int64_t TensorLayer(std::string_view name) {
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

// Per-layer weight bytes, embedding and output sizes from the tensor table.
StatusOr<placement::ModelCost> ModelCostFromFile(const GgufFile& f, const HParams& hp,
                                                 placement::ActFormat act) {
  std::vector<uint64_t> layer(static_cast<size_t>(hp.n_layers), 0);
  uint64_t embd = 0, output = 0, output_norm = 0;
  bool has_embd = false, has_output = false;
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name.starts_with("blk.")) {
      const int64_t n = TensorLayer(t.name);
      if (n < 0 || n >= hp.n_layers)
        return InvalidArgument(f.name() + ": tensor '" + std::string(t.name) +
                               "' is not in a layer below block_count " +
                               std::to_string(hp.n_layers));
      layer[static_cast<size_t>(n)] += t.size_bytes;
    } else if (t.name == "token_embd.weight") {
      embd = t.size_bytes, has_embd = true;
    } else if (t.name == "output.weight") {
      output = t.size_bytes, has_output = true;
    } else if (t.name == "output_norm.weight") {
      output_norm = t.size_bytes;
    }
  }
  if (!has_embd) return NotFound(f.name() + ": tensor 'token_embd.weight' not found");
  const uint64_t out_bytes = output_norm + (has_output ? output : embd);
  return placement::MakeModelCost(hp, std::move(layer), embd, out_bytes, !has_output, act);
}

}  // namespace suanli::cluster
