#include "cluster/model_cost.h"

#include <string>

#include "model/tensor_names.h"

namespace suanli::cluster {

namespace tn = tensor_names;

// Per-layer weight bytes, embedding and output sizes from the tensor table.
StatusOr<placement::ModelCost> ModelCostFromFile(const GgufFile& f, const HParams& hp,
                                                 placement::ActFormat act) {
  std::vector<uint64_t> layer(static_cast<size_t>(hp.n_layers), 0);
  std::vector<uint64_t> read(layer.size(), 0);  // an MoE layer reads its active experts only
  uint64_t embd = 0, output = 0, output_norm = 0;
  bool has_embd = false, has_output = false;
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name.starts_with("blk.")) {
      const int64_t n = tn::LayerOf(t.name);
      if (n < 0 || n >= hp.n_layers)
        return InvalidArgument(f.name() + ": tensor '" + std::string(t.name) +
                               "' is not in a layer below block_count " +
                               std::to_string(hp.n_layers));
      layer[static_cast<size_t>(n)] += t.size_bytes;
      read[static_cast<size_t>(n)] += tn::IsExperts(t.name) && hp.moe()
                                          ? t.size_bytes / static_cast<uint64_t>(hp.n_expert) *
                                                static_cast<uint64_t>(hp.n_expert_used)
                                          : t.size_bytes;
    } else if (t.name == tn::kTokenEmbd) {
      embd = t.size_bytes, has_embd = true;
    } else if (t.name == tn::kOutput) {
      output = t.size_bytes, has_output = true;
    } else if (t.name == tn::kOutputNorm) {
      output_norm = t.size_bytes;
    }
  }
  if (!has_embd)
    return NotFound(f.name() + ": tensor '" + std::string(tn::kTokenEmbd) + "' not found");
  // The one tied-output rule: gemma2 projects through token_embd even beside an output.weight.
  const bool tied = tn::OutputTied(f) || !has_output;
  const uint64_t out_bytes = output_norm + (tied ? embd : output);
  return placement::MakeModelCost(hp, std::move(layer), embd, out_bytes, tied, act,
                                  hp.moe() ? std::move(read) : std::vector<uint64_t>{});
}

}  // namespace suanli::cluster
