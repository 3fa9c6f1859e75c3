#include "model/kv_cache.h"

#include <numeric>

namespace suanli {

KvCache::KvCache(const HParams& hp, int64_t n_blocks, int64_t first_layer, int64_t last_layer,
                 KvType type)
    : KvCache(hp, KvLayout{.n_blocks = n_blocks}, first_layer, last_layer, type) {}

KvCache::KvCache(const HParams& hp, const KvLayout& layout, int64_t first_layer, int64_t last_layer,
                 KvType type)
    : hp_(hp), layout_(layout), kv_dim_(hp.kv_dim()), first_(first_layer), type_(type) {
  const int64_t last = last_layer < 0 ? hp.n_layers : last_layer;
  for (int64_t l = first_layer; l < last; ++l) {
    const size_t elems = static_cast<size_t>(layout.BlocksOf(hp, l) * kKvBlockTokens * kv_dim_);
    k_.push_back(std::make_unique_for_overwrite<float[]>(elems));
    v_.push_back(std::make_unique_for_overwrite<float[]>(elems));
  }
}

uint64_t KvCache::bytes() const { return KvBytes(hp_, layout_, first_, last_layer(), type_); }

std::vector<int32_t> IdentityBlockTable(int64_t n_blocks) {
  std::vector<int32_t> t(static_cast<size_t>(n_blocks));
  std::iota(t.begin(), t.end(), 0);
  return t;
}

}  // namespace suanli
