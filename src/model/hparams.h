// Model hyper-parameters read from GGUF metadata. Kept free of kernels and threads so the
// placement code can reason about a model's shape without linking the engine.
#pragma once

#include <cstdint>
#include <string>

#include "model/arch.h"
#include "suanli/status.h"

namespace suanli {

class GgufFile;

struct HParams {
  std::string arch;  // general.architecture: a row of SupportedArchs()
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t dim = 0;  // embedding width
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // < n_heads for grouped-query attention
  int64_t head_dim = 0;    // width of one head (key_length)
  int64_t ffn_dim = 0;
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  int64_t rope_dims = 0;         // leading dims of each head that rotate (usually head_dim)
  RopeOrder rope_order = RopeOrder::kNormal;
  bool qkv_bias = false;           // ArchSpec::qkv_bias
  bool qk_norm = false;            // ArchSpec::qk_norm
  int64_t no_rope_layer_step = 0;  // ArchSpec::no_rope_layer_step
  bool fused_gate_up = false;      // ArchSpec::fused_gate_up
  // rope.scaling.attn_factor: multiplies the rotation's cos and sin (LongRoPE's magnitude fix).
  float rope_attn_factor = 1.0f;
  // rope.scaling.original_context_length (default: context_length): a context longer than this
  // selects LongRoPE's long factors.
  int64_t n_ctx_orig = 0;
  // granite's multipliers (1 elsewhere): the embedding rows, each residual branch (attention and
  // FFN outputs) and the logits (divided) are scaled; attention_scale replaces 1/√head_dim.
  float embedding_scale = 1.0f;
  float residual_scale = 1.0f;
  float attention_scale = 0.0f;  // 0: 1/√head_dim
  float logit_scale = 1.0f;
  // gemma (ArchSpec): GeGLU, branch post-norms, soft caps (0: none).
  FfnAct ffn_act = FfnAct::kSilu;
  bool post_norms = false;
  float attn_softcap = 0.0f;
  float final_softcap = 0.0f;
  // Sliding-window layers (ArchSpec::swa_period; n_swa 0: none) attend positions
  // p - n_swa + 1 .. p only, and rotate with their own base and scale.
  int64_t n_swa = 0;
  int64_t swa_period = 0;
  float rope_base_swa = 10000.0f;
  float rope_freq_scale_swa = 1.0f;
  // Mixture of experts (ArchSpec::moe; n_expert 0: a dense FFN): each token runs
  // n_expert_used of n_expert experts, each an FFN expert_ffn_dim wide; moe_norm_topk
  // renormalizes the chosen experts' weights.
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t expert_ffn_dim = 0;
  bool moe_norm_topk = false;

  // Whether layer l rotates q and k.
  bool rope_at(int64_t l) const {
    return no_rope_layer_step <= 0 || (l + 1) % no_rope_layer_step != 0;
  }

  // Whether layer l attends a sliding window rather than every earlier position.
  bool is_swa(int64_t l) const {
    return n_swa > 0 && (swa_period <= 0 || l % swa_period < swa_period - 1);
  }

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  bool moe() const { return n_expert > 0; }
  // Width of the FFN one token runs: ffn_dim, or its experts' together.
  int64_t active_ffn_dim() const { return moe() ? n_expert_used * expert_ffn_dim : ffn_dim; }
  // Parameters one token multiplies with in a layer (an MoE layer: the router and the active
  // experts), so ≈ half a layer's FLOPs per token.
  int64_t n_params_per_layer() const {
    return dim * q_dim() + 2 * dim * kv_dim() + q_dim() * dim + 3 * dim * active_ffn_dim() +
           (moe() ? dim * n_expert : 0);
  }
  // Parameters a layer stores (an MoE layer: every expert).
  int64_t n_params_per_layer_stored() const {
    return n_params_per_layer() +
           (moe() ? 3 * dim * (n_expert - n_expert_used) * expert_ffn_dim : 0);
  }
};

// Reads and validates the hyper-parameters. Errors name the key. n_vocab comes from the
// token_embd tensor when the vocab_size key is absent.
StatusOr<HParams> ReadHParams(const GgufFile& file);

}  // namespace suanli
