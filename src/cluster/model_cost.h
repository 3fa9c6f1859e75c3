// What running a model file costs, for placement: per-layer weight bytes and the sizes of the
// embedding and output, read from the GGUF tensor table (no weights are touched).
#pragma once

#include <string_view>

#include "gguf/gguf.h"
#include "model/hparams.h"
#include "suanli/placement.h"

namespace suanli::cluster {

// N for a tensor named "blk.N.<anything>", else -1.
int64_t TensorLayer(std::string_view name);

StatusOr<placement::ModelCost> ModelCostFromFile(const GgufFile& f, const HParams& hp,
                                                 placement::ActFormat act);

}  // namespace suanli::cluster
