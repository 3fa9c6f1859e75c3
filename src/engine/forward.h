// Forward pass of a llama-family transformer over a batch of consecutive tokens.
//
// Per layer, for n tokens at positions pos..pos+n-1 (x is the residual stream [n × dim]):
//   h = rmsnorm(x)·attn_norm;  q = h·Wqᵀ(+bq) [n × q_dim];  k, v = h·Wk,vᵀ(+b) [n × kv_dim]
//   rope(q, k);  cache k, v;  a = softmax(q·kᵀ/√head_dim, causal)·v  [n × q_dim]
//   x += a·Woᵀ;  h = rmsnorm(x)·ffn_norm;  x += (silu(h·Wgateᵀ) ⊙ h·Wupᵀ)·Wdownᵀ
// A mixture-of-experts FFN (qwen3moe) routes each row instead: p = softmax(h·Wrouterᵀ)
// [n × n_expert], the n_expert_used largest (ties: the lower expert) with weights p_e (divided by
// their sum with moe_norm_topk), and x += Σ_j p_j·FFN_{e_j}(h) summed in that order. Rows are
// grouped by expert so each chosen expert's matrices are read once per call.
// then logits = rmsnorm(x)·output_norm·Woutᵀ [n × n_vocab] for the rows asked for.
// The architecture table (model/arch.h) varies it: biases, per-head q/k norms, unrotated
// layers, multipliers; gemma's GeGLU, norms of each branch before its residual add
// (x += rmsnorm(a·Woᵀ)·post_attention_norm), soft-capped scores and logits, and sliding-window
// layers whose rows attend only the last n_swa positions (blocks before them are never read).
// The three stages (Embed, RunLayers, Logits) are separate so a pipeline stage can run only its
// own layers.
//
// Every row's result depends only on its own token, position and cached keys and values: not on
// the other rows of the batch, the number of threads, or the CPU (RoPE angles come from
// base/det_math, the kernels follow one reduction order), so a sequence computes the same bits
// alone, in any batch, on any device.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace suanli {

class Forward {
 public:
  // max_batch: the most tokens one call processes (longer prompts are split by the caller).
  // n_ctx: the most positions of one sequence (it picks LongRoPE's long or short factors, as the
  // reference implementation does).
  Forward(const HParams& hp, const ModelWeights& w, ThreadPool& pool, int64_t max_batch,
          int64_t n_ctx);

  int64_t max_batch() const { return max_batch_; }

  // x[n × dim] = embedding rows of tokens (ids must be < n_vocab: checked by the caller).
  void Embed(const int32_t* tokens, int64_t n, float* x);
  // Several sequences in one pass: slice i is the next n_i rows of x, tokens at positions
  // pos_i..pos_i+n_i-1 of the sequence whose block table is `blocks` (at least
  // KvBlocksFor(pos_i + n_i) entries, block ids < cache.n_blocks(): checked by the caller). The
  // matrix products run once over all Σn_i ≤ max_batch rows (weights are read once for the
  // batch); attention stays per sequence. K and V of the new positions are written into their
  // blocks before any row attends, so two slices must not write the same (block, row).
  // With rings (cache.layout().ring()), `ring` names the sequence's ring_len ring blocks, and
  // its sliding-window layers keep position p in ring[(p / kKvBlockTokens) % ring_len] (ids
  // below the ring pool; ring_len big enough for the step: checked by the caller).
  struct Slice {
    const int32_t* blocks = nullptr;
    int64_t pos = 0;
    int64_t n = 0;
    const int32_t* ring = nullptr;
    int64_t ring_len = 0;
  };
  void RunLayersBatch(float* x, std::span<const Slice> slices, KvCache& cache, int64_t first,
                      int64_t last);
  // One sequence: layers [first, last) on x[n × dim] in place, for positions pos..pos+n-1.
  void RunLayers(float* x, int64_t n, int64_t pos, const int32_t* blocks, int64_t first,
                 int64_t last, KvCache& cache, const int32_t* ring = nullptr, int64_t ring_len = 0);
  // logits[rows × n_vocab] for the last `rows` of the n rows of x (x is not modified).
  void Logits(const float* x, int64_t n, int64_t rows, float* logits);

 private:
  // Causal attention of every row over its own sequence's cached positions.
  void Attention(const KvCache& cache, int64_t layer, int64_t n);
  // fn(t) for each row t < n, rows split across the pool (inline when n == 1).
  template <typename F>
  void ParallelRows(int64_t n, F&& fn);
  void RmsNormRows(const float* x, const float* w, float* y, int64_t n);
  void Rope(float* v, int64_t n, int64_t n_heads, int64_t pos, const float* inv_freq);
  void Linear(const kernels::Matrix& w, const float* x, int64_t n, float* y);
  // Several matrices reading the same input x (Q/K/V, gate/up): quantizes x once.
  void LinearShared(std::initializer_list<const kernels::Matrix*> ws, const float* x, int64_t n,
                    std::initializer_list<float*> ys);
  // The mixture-of-experts FFN of h_[n × dim] (already normed), written back into h_.
  void MoeFfn(const LayerWeights& L, int64_t n);

  const HParams& hp_;
  const ModelWeights& w_;
  ThreadPool& pool_;
  int64_t max_batch_;
  std::vector<float> rope_inv_freq_;      // [rope_dims / 2]
  std::vector<float> rope_inv_freq_swa_;  // [rope_dims / 2] sliding-window layers (if any)
  // Scratch, sized for max_batch rows (model/footprint.h ScratchBytes counts them).
  std::vector<float> h_;     // [max_batch × dim] normed input, then a product's output
  std::vector<float> q_;     // [max_batch × q_dim]
  std::vector<float> k_;     // [max_batch × kv_dim]
  std::vector<float> v_;     // [max_batch × kv_dim]
  std::vector<float> att_;   // [max_batch × q_dim] attention output
  std::vector<float> gate_;  // [max_batch × ffn_dim]
  std::vector<float> up_;    // [max_batch × ffn_dim]
  std::vector<std::vector<float>> scores_;  // per thread [keys of the longest row]
  std::vector<uint8_t> actq_;               // quantized activations of one product's input
  std::vector<const int32_t*> row_blocks_;  // [max_batch] block table of each row's sequence
  std::vector<int64_t> row_pos_;            // [max_batch] position of each row
  std::vector<const int32_t*> row_ring_;    // [max_batch] ring of each row's sequence (or null)
  std::vector<int64_t> row_ring_len_;       // [max_batch]
  // Mixture of experts (k = n_expert_used; gate_ and up_ then hold k rows per token, grouped by
  // expert).
  std::vector<float> router_;         // [max_batch × n_expert] router logits, then probabilities
  std::vector<int32_t> order_;        // [max_batch × n_expert] experts by probability (top-k)
  std::vector<int32_t> chosen_;       // [max_batch × k] expert of each slot, best first
  std::vector<float> chosen_w_;       // [max_batch × k] its weight
  std::vector<int32_t> grouped_;      // [max_batch × k] where slot (t, j) sits in expert order
  std::vector<int32_t> grouped_row_;  // [max_batch × k] the token of each grouped row
  std::vector<float> moe_out_;        // [max_batch × k × dim] each grouped row's expert output
  std::vector<uint8_t> moe_xq_, moe_xq2_;  // grouped rows quantized for gate (and up if it differs)
};

}  // namespace suanli
