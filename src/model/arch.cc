#include "model/arch.h"

namespace suanli {
namespace {

// As the reference implementation binds them: qwen3 is qwen2 without the biases, with per-head
// q/k norms; smollm3 is llama with every fourth layer unrotated; granite (dense) is llama with
// multipliers on the embedding, the residual branches, the attention scores and the logits;
// phi3 is neox-rotated llama with q/k/v and gate/up each in one matrix and LongRoPE factors.
// Any of them may store q, k and v fused (attn_qkv).
constexpr ArchSpec kArchs[] = {
    // name     RoPE               qkv_bias qk_norm no_rope_step multipliers fused_gate_up
    {"llama", RopeOrder::kNormal, false, false, 0, false, false},
    {"qwen2", RopeOrder::kNeox, true, false, 0, false, false},
    {"qwen3", RopeOrder::kNeox, false, true, 0, false, false},
    {"smollm3", RopeOrder::kNormal, false, false, 4, false, false},
    {"granite", RopeOrder::kNormal, false, false, 0, true, false},
    {"phi3", RopeOrder::kNeox, false, false, 0, false, true},
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
