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
};

std::span<const ArchSpec> SupportedArchs();
// nullptr for an architecture suanli does not run.
const ArchSpec* FindArch(std::string_view name);
// "llama, qwen2, qwen3": for errors and --help.
std::string SupportedArchNames();

}  // namespace suanli
