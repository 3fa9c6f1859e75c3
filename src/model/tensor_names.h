// The GGUF tensor names suanli binds, and the rules every reader of a tensor table shares (which
// tensors a stage needs, whether the output is tied to the embedding). The one place these names
// are written: the binder, the pipeline's stage split, placement's cost table and the model
// synthesizer all read them from here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace suanli {

class GgufFile;

namespace tensor_names {

// Outside the layers.
inline constexpr std::string_view kTokenEmbd = "token_embd.weight";    // [n_vocab × dim]
inline constexpr std::string_view kOutputNorm = "output_norm.weight";  // [dim]
inline constexpr std::string_view kOutput = "output.weight";           // [n_vocab × dim]
inline constexpr std::string_view kRopeFreqs = "rope_freqs.weight";    // [rope_dims / 2]
// LongRoPE (phi3): per-dimension factors for contexts beyond / within the original one.
inline constexpr std::string_view kRopeLong = "rope_factors_long.weight";    // [rope_dims / 2]
inline constexpr std::string_view kRopeShort = "rope_factors_short.weight";  // [rope_dims / 2]

// Inside layer N, as "blk.N." + suffix.
inline constexpr std::string_view kAttnNorm = "attn_norm.weight";  // [dim]
inline constexpr std::string_view kAttnQ = "attn_q.weight";        // [q × dim]
inline constexpr std::string_view kAttnK = "attn_k.weight";        // [kv × dim]
inline constexpr std::string_view kAttnV = "attn_v.weight";        // [kv × dim]
// q, k and v stacked in one matrix (phi3; any file may use it): [(q + 2·kv) × dim]
inline constexpr std::string_view kAttnQkv = "attn_qkv.weight";
inline constexpr std::string_view kAttnOut = "attn_output.weight";    // [dim × q]
inline constexpr std::string_view kAttnQBias = "attn_q.bias";         // [q]
inline constexpr std::string_view kAttnKBias = "attn_k.bias";         // [kv]
inline constexpr std::string_view kAttnVBias = "attn_v.bias";         // [kv]
inline constexpr std::string_view kAttnQNorm = "attn_q_norm.weight";  // [head_dim]
inline constexpr std::string_view kAttnKNorm = "attn_k_norm.weight";  // [head_dim]
inline constexpr std::string_view kFfnNorm = "ffn_norm.weight";       // [dim]
inline constexpr std::string_view kFfnGate = "ffn_gate.weight";       // [ffn × dim]
inline constexpr std::string_view kFfnUp = "ffn_up.weight";           // [ffn × dim]
                                                                      // fused (no ffn_gate, phi3):
                                                             // gate then up, [2·ffn × dim]
inline constexpr std::string_view kFfnDown = "ffn_down.weight";  // [dim × ffn]
// gemma: RMSNorm weights of the attention and FFN outputs, before the residual add.
inline constexpr std::string_view kAttnPostNorm = "post_attention_norm.weight";  // [dim]
inline constexpr std::string_view kFfnPostNorm = "post_ffw_norm.weight";         // [dim]
// Mixture of experts (qwen3moe): the router, and every expert's FFN matrices stacked (expert e's
// rows are the e-th slice).
inline constexpr std::string_view kFfnGateInp = "ffn_gate_inp.weight";    // [n_expert × dim]
inline constexpr std::string_view kFfnGateExps = "ffn_gate_exps.weight";  // [n_expert × eff × dim]
inline constexpr std::string_view kFfnUpExps = "ffn_up_exps.weight";  // [n_expert × eff × dim]
inline constexpr std::string_view kFfnDownExps = "ffn_down_exps.weight";  // [n_expert × dim × eff]

// "blk.<layer>.<suffix>"
std::string Layer(int64_t layer, std::string_view suffix);
// N for a tensor named "blk.N.<anything>", else -1.
int64_t LayerOf(std::string_view name);

// Whether a tensor holds stacked experts (one decode step reads only the chosen ones).
bool IsExperts(std::string_view name);

// The tied-output rule: without its own output.weight, the output projection is token_embd;
// an architecture whose output is always the embedding (gemma2) ignores an output.weight.
bool OutputTied(const GgufFile& f);

// Whether a pipeline stage running layers [first, last) with the chosen ends needs a tensor.
// The last stage reads token_embd only when the output is tied to it; global tables (RoPE
// frequency factors) go everywhere.
bool StageNeeds(std::string_view name, bool output_tied, int64_t first, int64_t last,
                bool with_embedding, bool with_output);

}  // namespace tensor_names
}  // namespace suanli
