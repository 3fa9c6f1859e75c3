#include "model/arch.h"

namespace suanli {
namespace {

// As the reference implementation binds them: qwen3 is qwen2 without the biases, with per-head
// q/k norms; smollm3 is llama with every fourth layer unrotated; granite (dense) is llama with
// multipliers on the embedding, the residual branches, the attention scores and the logits;
// phi3 is neox-rotated llama with q/k/v and gate/up each in one matrix and LongRoPE factors.
// gemma2 is neox-rotated llama with GeGLU, √dim embeddings, norms after each branch, soft-capped
// attention scores and logits, and every other layer attending a sliding window; gemma3 drops
// the attention cap, makes the final one optional, adds qwen3's q/k norms and slides 5 layers
// of every 6, rotated with their own base.
// qwen3moe is qwen3 whose FFN is a mixture of experts.
// Any of them may store q, k and v fused (attn_qkv).
constexpr ArchSpec kArchs[] = {
    // name     RoPE               qkv_bias qk_norm no_rope_step multipliers fused_gate_up
    {"llama", RopeOrder::kNormal, false, false, 0, false, false},
    {"qwen2", RopeOrder::kNeox, true, false, 0, false, false},
    {"qwen3", RopeOrder::kNeox, false, true, 0, false, false},
    {"smollm3", RopeOrder::kNormal, false, false, 4, false, false},
    {"granite", RopeOrder::kNormal, false, false, 0, true, false},
    {"phi3", RopeOrder::kNeox, false, false, 0, false, true},
    {.name = "gemma2",
     .rope_order = RopeOrder::kNeox,
     .qkv_bias = false,
     .qk_norm = false,
     .no_rope_layer_step = 0,
     .multipliers = false,
     .fused_gate_up = false,
     .ffn_act = FfnAct::kGeluTanh,
     .embed_sqrt_dim = true,
     .output_tied = true,
     .post_norms = true,
     .attn_softcap = 50,
     .final_softcap = 30,
     .swa_period = 2,
     .swa_window = 4096,
     .swa_base_global = true,
     .query_scale_dim_layers = 46},
    {.name = "gemma3",
     .rope_order = RopeOrder::kNeox,
     .qkv_bias = false,
     .qk_norm = true,
     .no_rope_layer_step = 0,
     .multipliers = false,
     .fused_gate_up = false,
     .ffn_act = FfnAct::kGeluTanh,
     .embed_sqrt_dim = true,
     .output_tied = false,
     .post_norms = true,
     .attn_softcap = -1,
     .final_softcap = 0,
     .swa_period = 6,
     .swa_window = 0,
     .swa_base_global = false,
     .query_scale_dim_layers = 62},
    {.name = "qwen3moe",
     .rope_order = RopeOrder::kNeox,
     .qkv_bias = false,
     .qk_norm = true,
     .no_rope_layer_step = 0,
     .multipliers = false,
     .fused_gate_up = false,
     .moe = true,
     .moe_norm_topk = true},
};

}  // namespace

std::span<const ArchSpec> SupportedArchs() { return kArchs; }

const ArchSpec* FindArch(std::string_view name) {
  for (const ArchSpec& a : kArchs)
    if (a.name == name) return &a;
  return nullptr;
}

std::string SupportedArchNames() {
  std::string s;
  for (const ArchSpec& a : kArchs) {
    if (!s.empty()) s += ", ";
    s += a.name;
  }
  return s;
}

}  // namespace suanli
