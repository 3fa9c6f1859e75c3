// What running a model file costs, for placement: per-layer weight bytes and the sizes of the
// embedding and output, read from the GGUF tensor table (no weights are touched).
#pragma once

#include "gguf/gguf.h"
#include "model/hparams.h"
#include "suanli/placement.h"

namespace suanli::cluster {

StatusOr<placement::ModelCost> ModelCostFromFile(const GgufFile& f, const HParams& hp,
                                                 placement::ActFormat act);

}  // namespace suanli::cluster
