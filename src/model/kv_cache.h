// KV cache: per layer, the keys and values of every position seen so far.
//   k[layer] [n_ctx × kv_dim] f32, v[layer] [n_ctx × kv_dim] f32 (row = one position;
//   kv_dim = n_kv_heads · head_dim, head h at columns [h·head_dim, (h+1)·head_dim)).
// Only layers [first, last) are allocated, so a pipeline stage holds just its own.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/hparams.h"

namespace suanli {

class KvCache {
 public:
  KvCache(const HParams& hp, int64_t n_ctx, int64_t first_layer = 0, int64_t last_layer = -1);

  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }
  float* k(int64_t layer, int64_t pos) { return k_[Index(layer)].get() + pos * kv_dim_; }
  float* v(int64_t layer, int64_t pos) { return v_[Index(layer)].get() + pos * kv_dim_; }
  uint64_t bytes() const;

 private:
  size_t Index(int64_t layer) const { return static_cast<size_t>(layer - first_); }
  int64_t n_ctx_, kv_dim_, first_;
  // Allocated without initialization: pages become resident only as positions are written.
  std::vector<std::unique_ptr<float[]>> k_, v_;
};

}  // namespace suanli
