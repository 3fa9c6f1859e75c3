#include "model/kv_cache.h"

namespace suanli {

KvCache::KvCache(const HParams& hp, int64_t n_ctx, int64_t first_layer, int64_t last_layer)
    : n_ctx_(n_ctx), kv_dim_(hp.kv_dim()), first_(first_layer) {
  int64_t last = last_layer < 0 ? hp.n_layers : last_layer;
  for (int64_t l = first_layer; l < last; ++l) {
    k_.push_back(std::make_unique_for_overwrite<float[]>(static_cast<size_t>(n_ctx * kv_dim_)));
    v_.push_back(std::make_unique_for_overwrite<float[]>(static_cast<size_t>(n_ctx * kv_dim_)));
  }
}

uint64_t KvCache::bytes() const {
  return 2ull * k_.size() * static_cast<uint64_t>(n_ctx_) * static_cast<uint64_t>(kv_dim_) *
         sizeof(float);
}

}  // namespace suanli
