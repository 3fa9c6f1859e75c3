// KV cache: a pool of fixed-size blocks holding the keys and values of cached positions.
//
// Per layer l in [first, last): k[l] and v[l], each n_blocks blocks of kKvBlockTokens × kv_dim
// elements of `type` (f32 today); kv_dim = n_kv_heads · head_dim, head h at dimensions
// [h·head_dim, (h+1)·head_dim). A value block is [n_kv_heads][kKvBlockTokens][head_dim] (head,
// then position), so one head's values of a block are one contiguous run; a key block is
// transposed, [kv_dim][kKvBlockTokens], so attention scores a block's positions as vector lanes
// (vec::BlockScores), and one head's keys are contiguous too. A sequence's block table maps its
// position p to row p % kKvBlockTokens of block table[p / kKvBlockTokens]; sequences that share a
// prefix point at the same blocks, so the prefix is stored once. Who owns which block is the
// caller's business (runtime/kv_blocks.h); this class only stores them. Only layers [first, last)
// are allocated, so a pipeline stage holds just its own. With rings (KvLayout), a sliding-window
// layer holds the ring pool instead, and its block ids are ring block ids.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/footprint.h"
#include "model/hparams.h"

namespace suanli {

class KvCache {
 public:
  KvCache(const HParams& hp, int64_t n_blocks, int64_t first_layer = 0, int64_t last_layer = -1,
          KvType type = KvType::kF32);
  KvCache(const HParams& hp, const KvLayout& layout, int64_t first_layer = 0,
          int64_t last_layer = -1, KvType type = KvType::kF32);

  int64_t n_blocks() const { return layout_.n_blocks; }
  const KvLayout& layout() const { return layout_; }
  int64_t kv_dim() const { return kv_dim_; }
  int64_t first_layer() const { return first_; }
  int64_t last_layer() const { return first_ + static_cast<int64_t>(k_.size()); }
  KvType type() const { return type_; }
  // The start of `block` in `layer`: keys [kv_dim][kKvBlockTokens], values
  // [n_kv_heads][kKvBlockTokens][head_dim].
  float* k(int64_t layer, int32_t block) { return k_[Index(layer)].get() + Offset(block); }
  float* v(int64_t layer, int32_t block) { return v_[Index(layer)].get() + Offset(block); }
  const float* k(int64_t layer, int32_t block) const {
    return k_[Index(layer)].get() + Offset(block);
  }
  const float* v(int64_t layer, int32_t block) const {
    return v_[Index(layer)].get() + Offset(block);
  }
  uint64_t bytes() const;

 private:
  size_t Index(int64_t layer) const { return static_cast<size_t>(layer - first_); }
  size_t Offset(int32_t block) const {
    return static_cast<size_t>(block) * static_cast<size_t>(kKvBlockTokens * kv_dim_);
  }
  HParams hp_;
  KvLayout layout_;
  int64_t kv_dim_, first_;
  KvType type_;
  // Allocated without initialization: pages become resident only as positions are written.
  std::vector<std::unique_ptr<float[]>> k_, v_;
};

// The block table of a sequence that owns blocks 0..n-1 of its own cache (one-sequence users).
std::vector<int32_t> IdentityBlockTable(int64_t n_blocks);

}  // namespace suanli
