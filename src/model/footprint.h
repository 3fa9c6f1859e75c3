// What a model's state costs in memory, in one place: the KV cache (used by the cache itself, a
// worker's admission check, the runtime's block budget and placement), the forward pass's scratch
// buffers, and the "does it fit the context" check. Header-only and free of kernels so placement
// can use it with nothing but the hyper-parameters.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "model/hparams.h"
#include "suanli/status.h"

namespace suanli {

// Element type of the KV cache (f16 and q8_0 arrive with the model-breadth work).
enum class KvType { kF32 };
inline const char* KvTypeName(KvType t) { return t == KvType::kF32 ? "f32" : "?"; }
inline uint64_t KvElementBytes(KvType t) { return t == KvType::kF32 ? 4 : 4; }

// The KV cache is a pool of blocks of this many positions; sequences own or share whole blocks.
inline constexpr int64_t kKvBlockTokens = 16;
inline int64_t KvBlocksFor(int64_t tokens) {
  return tokens <= 0 ? 0 : (tokens + kKvBlockTokens - 1) / kKvBlockTokens;
}

// Bytes of K and V for `tokens` positions (rounded up to whole blocks) of ONE layer whose K and V
// rows are kv_dim wide. The one formula for KV memory.
inline uint64_t KvBytesPerLayer(int64_t kv_dim, int64_t tokens, KvType type) {
  const uint64_t rows = static_cast<uint64_t>(KvBlocksFor(tokens)) * kKvBlockTokens;
  return 2 * rows * static_cast<uint64_t>(std::max<int64_t>(kv_dim, 0)) * KvElementBytes(type);
}
inline uint64_t KvBytesPerLayer(const HParams& hp, int64_t tokens, KvType type) {
  return KvBytesPerLayer(hp.kv_dim(), tokens, type);
}

// Where a KV pool keeps each layer's positions. Global layers: n_blocks blocks shared by every
// sequence through block tables. Sliding-window layers (HParams::is_swa) read only the last n_swa
// positions, so each sequence keeps them in a ring of ring_blocks blocks of its own (position p
// in ring block (p / kKvBlockTokens) % ring_blocks), ring_seqs rings in all; ring_blocks 0: no
// ring, those layers use the shared pool like the others.
struct KvLayout {
  int64_t n_blocks = 0;
  int64_t ring_blocks = 0;
  int64_t ring_seqs = 0;
  bool ring() const { return ring_blocks > 0; }
  // Blocks one layer holds.
  int64_t BlocksOf(bool sliding) const {
    return ring() && sliding ? ring_blocks * ring_seqs : n_blocks;
  }
  int64_t BlocksOf(const HParams& hp, int64_t layer) const { return BlocksOf(hp.is_swa(layer)); }
};

// The ring a sequence needs so that one step of up to max_batch positions never overwrites a
// position one of its rows still attends: a ring of R blocks holds any R·kKvBlockTokens
// consecutive positions, and a step's rows attend the n_swa - 1 before its first row and the
// step itself.
inline int64_t KvRingBlocks(int64_t n_swa, int64_t max_batch) {
  if (n_swa <= 0) return 0;
  return KvBlocksFor(n_swa + std::max<int64_t>(max_batch, 1) - 1);
}

// The layout of a pool of n_blocks for up to max_seqs sequences of at most n_ctx positions, fed
// at most max_batch rows a step: rings for the sliding layers when the model has them, `ring` is
// allowed and they take fewer blocks than the shared pool.
inline KvLayout KvLayoutFor(int64_t n_swa, int64_t n_blocks, int64_t n_ctx, int64_t max_seqs,
                            int64_t max_batch, bool ring = true) {
  KvLayout kv;
  kv.n_blocks = n_blocks;
  const int64_t r = std::min(KvRingBlocks(n_swa, max_batch), KvBlocksFor(n_ctx));
  const int64_t seqs = std::max<int64_t>(max_seqs, 1);
  if (ring && r > 0 && r * seqs < n_blocks) kv.ring_blocks = r, kv.ring_seqs = seqs;
  return kv;
}
inline KvLayout KvLayoutFor(const HParams& hp, int64_t n_blocks, int64_t n_ctx, int64_t max_seqs,
                            int64_t max_batch, bool ring = true) {
  return KvLayoutFor(hp.n_swa, n_blocks, n_ctx, max_seqs, max_batch, ring);
}

// KV bytes of layers [first, last) under a layout: the one formula placement, admission, the
// cache and the reports use.
inline uint64_t KvBytes(const HParams& hp, const KvLayout& kv, int64_t first, int64_t last,
                        KvType type) {
  uint64_t total = 0;
  for (int64_t l = std::max<int64_t>(first, 0); l < last; ++l)
    total += KvBytesPerLayer(hp, kv.BlocksOf(hp, l) * kKvBlockTokens, type);
  return total;
}

// Scratch of one forward pass over at most max_batch rows (engine/forward.h's buffers: h, q, k,
// v, att, gate, up, quantized activations, per-thread attention scores over n_ctx keys; an MoE
// layer's router, routes and its k expert rows per token) plus a stage's residual-stream
// buffers, and the logits of `logits_rows` rows when it computes them.
inline uint64_t ScratchBytes(const HParams& hp, int64_t max_batch, int64_t n_ctx, int threads,
                             int64_t logits_rows) {
  const uint64_t b = static_cast<uint64_t>(std::max<int64_t>(max_batch, 1));
  const int64_t ffn = std::max(hp.ffn_dim, hp.active_ffn_dim());
  uint64_t per_row =
      static_cast<uint64_t>(4 * hp.dim + 2 * hp.q_dim() + 2 * hp.kv_dim() + 2 * ffn) * 4 +
      static_cast<uint64_t>(std::max(hp.dim, ffn)) * 2;
  // An MoE token's router row and expert order, and its k expert rows: route (id, weight, place),
  // output, and the quantized inputs of
  // gate/up and down (at most f32's 4 bytes per element, two formats for gate and up).
  if (hp.moe())
    per_row += static_cast<uint64_t>(hp.n_expert) * 8 +
               static_cast<uint64_t>(hp.n_expert_used) *
                   static_cast<uint64_t>(16 + 4 * hp.dim + 8 * hp.dim + 4 * hp.expert_ffn_dim);
  const uint64_t scores = static_cast<uint64_t>(std::max(threads, 1)) *
                          static_cast<uint64_t>(std::max<int64_t>(n_ctx, 1)) * 4;
  const uint64_t logits = static_cast<uint64_t>(std::max<int64_t>(logits_rows, 0)) *
                          static_cast<uint64_t>(hp.n_vocab) * 4;
  return b * per_row + scores + logits;
}

// The context check every path makes before feeding tokens: n_past positions used, n_new more.
inline Status CheckFitsContext(int64_t n_past, int64_t n_new, int64_t n_ctx) {
  if (n_new < 0 || n_past < 0 || n_past + n_new > n_ctx)
    return OutOfRange(std::to_string(n_past + n_new) + " tokens do not fit the context of " +
                      std::to_string(n_ctx));
  return Status::Ok();
}

}  // namespace suanli
