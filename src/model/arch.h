// The architectures suanli runs (GGUF general.architecture), one row each: what differs between
// them in how a layer computes and which tensors it binds (model/tensor_names.h names them).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace suanli {

enum class RopeOrder {
  kNormal,  // rotate adjacent pairs (x[2i], x[2i+1]): llama
  kNeox,    // rotate halves (x[i], x[i + d/2]): qwen2, qwen3, gpt-neox
};

enum class FfnAct {
  kSilu,      // silu(gate) ⊙ up (SwiGLU)
  kGeluTanh,  // gelu(gate) ⊙ up, tanh approximation (GeGLU: gemma)
};

struct ArchSpec {
  std::string_view name;
  RopeOrder rope_order;
  bool qkv_bias;  // attn_q/k/v.bias added after the projections (qwen2)
  bool qk_norm;   // attn_q_norm / attn_k_norm: RMSNorm of every head of q and k before RoPE (qwen3)
  // Every n-th layer (1-based) runs without RoPE (smollm3: 4); 0: all rotate.
  int no_rope_layer_step;
  // The four multipliers of <arch>.embedding_scale, .residual_scale, .attention.scale and
  // .logit_scale (granite; the logit one is required).
  bool multipliers;
  // ffn_up holds gate and up stacked, without an ffn_gate (phi3).
  bool fused_gate_up;
  FfnAct ffn_act = FfnAct::kSilu;
  // gemma: the embedding rows are multiplied by √dim; post_attention_norm and post_ffw_norm
  // normalize each branch's output before it joins the residual stream.
  bool embed_sqrt_dim = false;
  bool output_tied = false;  // the output projection is always token_embd (gemma2)
  bool post_norms = false;
  // Soft-capping, c·tanh(x / c), of the attention scores and of the final logits: the default
  // cap when <arch>.attn_logit_softcapping / .final_logit_softcapping is absent (0: off unless
  // the file sets it), or -1: this architecture has none and reads no key.
  float attn_softcap = -1;
  float final_softcap = -1;
  // Sliding-window attention: layers where l % swa_period < swa_period - 1 attend only the
  // last <arch>.attention.sliding_window positions (the rest are global). 0: no such layers.
  // swa_window: the window when the key is absent (0: without the key no layer slides).
  // The sliding layers rotate with <arch>.rope.freq_base_swa, by default the global base and
  // scale (swa_base_global) or 10000 unscaled.
  int64_t swa_period = 0;
  int64_t swa_window = 0;
  bool swa_base_global = false;
  // A model of this many layers scales queries by 1/√(dim / heads), not 1/√head_dim (gemma's
  // 27B, whose query_pre_attn_scalar the files do not carry). 0: never.
  int64_t query_scale_dim_layers = 0;
  // Mixture-of-experts FFN (qwen3moe): a router ffn_gate_inp picks <arch>.expert_used_count of
  // <arch>.expert_count experts per token (softmax, then top-k), whose stacked
  // ffn_gate/up/down_exps replace ffn_gate/up/down; moe_norm_topk renormalizes the k chosen
  // probabilities to sum to 1 (qwen3moe always does, as the reference does).
  bool moe = false;
  bool moe_norm_topk = false;
};

std::span<const ArchSpec> SupportedArchs();
// nullptr for an architecture suanli does not run.
const ArchSpec* FindArch(std::string_view name);
// "llama, qwen2, qwen3": for errors and --help.
std::string SupportedArchNames();

}  // namespace suanli
