// Model: a GGUF file mapped and bound — hyper-parameters plus zero-copy weight views.
#pragma once

#include <memory>
#include <string>

#include "gguf/gguf.h"
#include "model/hparams.h"
#include "model/weights.h"

namespace suanli {

class Model {
 public:
  // Opens, validates and binds `path`. Errors start with the path.
  static StatusOr<std::unique_ptr<Model>> Load(const std::string& path,
                                               const BindOptions& opts = {},
                                               LoadMode mode = LoadMode::kMmap);

  const GgufFile& file() const { return *file_; }
  const HParams& hparams() const { return hp_; }
  const ModelWeights& weights() const { return w_; }
  const std::string& path() const { return path_; }

  // Touches every weight page once (so the first token does not pay for page faults), with a
  // progress bar; returns the bytes touched.
  uint64_t Prefault() const;

 private:
  std::string path_;
  std::unique_ptr<GgufFile> file_;
  HParams hp_;
  ModelWeights w_;
};

}  // namespace suanli
