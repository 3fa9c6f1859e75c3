// Binds a GGUF file's tensors (named in model/tensor_names.h) to the transformer's weights,
// checking every shape.
//
// Matrices stay in the mmapped file (zero copy); only small vectors (norm weights, biases,
// RoPE frequency factors) are converted to f32 when the file stores them in another type.
// Shapes (rows × cols, cols contiguous), with q = n_heads·head_dim and kv = n_kv_heads·head_dim:
//   token_embd [n_vocab × dim]   output [n_vocab × dim] (absent: tied to token_embd)
//   attn_q [q × dim]  attn_k [kv × dim]  attn_v [kv × dim]  attn_output [dim × q]
//   ffn_gate [ffn × dim]  ffn_up [ffn × dim]  ffn_down [dim × ffn]
//   attn_norm, ffn_norm, output_norm [dim]; qwen2 biases attn_q.bias [q], attn_k/v.bias [kv]
//   qwen3 attn_q_norm, attn_k_norm [head_dim] (one RMSNorm weight shared by every head)
//   gemma post_attention_norm, post_ffw_norm [dim]
//   qwen3moe, in place of ffn_gate/up/down (eff = expert_ffn_dim): ffn_gate_inp [n_expert × dim],
//   ffn_gate_exps, ffn_up_exps [n_expert × eff × dim], ffn_down_exps [n_expert × dim × eff]
//   rope_freqs [rope_dims / 2] (Llama 3 frequency factors, optional)
//   rope_factors_long, rope_factors_short [rope_dims / 2] (LongRoPE, optional)
// A fused attn_qkv [(q + 2kv) × dim] and phi3's fused ffn_up [2·ffn × dim] (gate rows first) are
// bound as views of their rows, so the forward pass sees separate matrices.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "model/hparams.h"

namespace suanli {

struct LayerWeights {
  kernels::Matrix wq, wk, wv, wo;
  kernels::Matrix w_gate, w_up, w_down;
  const float* attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  const float* bq = nullptr;  // qwen2 only
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // qwen3 only
  const float* k_norm = nullptr;
  const float* attn_post_norm = nullptr;  // gemma only
  const float* ffn_post_norm = nullptr;
  // Mixture of experts: the router and the experts stacked, each `rows` = n_expert × the rows of
  // one expert (Expert() views one); w_gate, w_up and w_down stay unbound.
  kernels::Matrix router, gate_exps, up_exps, down_exps;
};

// Expert e of a stacked matrix of n_expert experts (a view, no copy).
kernels::Matrix Expert(const kernels::Matrix& stacked, int64_t n_expert, int64_t e);

struct ModelWeights {
  kernels::Matrix token_embd;
  kernels::Matrix output;  // == token_embd when tied
  bool tied_output = false;
  const float* output_norm = nullptr;
  const float* rope_freqs = nullptr;  // nullptr when absent
  const float* rope_long = nullptr;   // LongRoPE (phi3): both or neither
  const float* rope_short = nullptr;
  std::vector<LayerWeights> layers;
  // Owns f32 copies of vectors the file stored as F16/BF16.
  std::vector<std::unique_ptr<std::vector<float>>> owned;

  // Bytes of weights one decode step reads: every layer matrix (of an MoE layer the router and
  // n_expert_used / n_expert of the experts), the output matrix and one embedding row (the
  // roofline's denominator).
  uint64_t DecodeBytesPerToken() const;
  double expert_share = 1.0;  // n_expert_used / n_expert (1: dense)
  uint64_t TotalMatrixBytes() const;
  // Every bound matrix once (a tied output is the embedding, visited once).
  void ForEachMatrix(const std::function<void(const kernels::Matrix&)>& fn) const;
};

// Binds layers [first_layer, last_layer) (the whole model by default); with_embedding and
// with_output select the ends, so a pipeline stage binds only what it runs.
struct BindOptions {
  int64_t first_layer = 0;
  int64_t last_layer = -1;  // -1: n_layers
  bool with_embedding = true;
  bool with_output = true;
};
StatusOr<ModelWeights> BindWeights(const GgufFile& file, const HParams& hp,
                                   const BindOptions& opts = {});

}  // namespace suanli
