// Synthesizes random-weight GGUF models of any supported architecture and shape (`suanli model
// synth`), for tests, benchmarks and the quick start. Weights are random (seeded), so the text they
// produce is gibberish; the shapes, tensor types and tokenizer are real.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "gguf/gguf.h"
#include "gguf/tensor_type.h"
#include "suanli/status.h"

namespace suanli {

struct SynthSpec {
  std::string arch = "llama";  // a row of SupportedArchs() (model/arch.h)
  std::string name = "suanli-synth";
  int64_t dim = 256;
  int64_t n_layers = 4;
  int64_t n_heads = 8;
  int64_t n_kv_heads = 4;
  int64_t ffn_dim = 768;
  int64_t head_dim = 0;  // 0: dim / n_heads; else written as attention.key_length (qwen3: 128)
  int64_t n_ctx = 2048;
  int64_t n_vocab = 0;  // 0: the vocabulary's own size; larger: padded with unused tokens;
                        // smaller: a SentencePiece vocabulary cut to its first n_vocab pieces
  bool tied_output = true;
  uint64_t seed = 1;
  float rope_base = 10000.0f;
  float rope_linear = 0;  // > 0: rope.scaling.type linear with this factor
  // gemma: the window of the sliding layers (0: the architecture's, gemma2 4096, gemma3 512) and
  // the soft caps (0: gemma2's 50 and 30; gemma3 has no attention cap and a final one only
  // when given).
  int64_t sliding_window = 0;
  float attn_softcap = 0;
  float final_softcap = 0;
  // qwen3moe: experts per layer, chosen per token, and one expert's width (0: ffn_dim / used).
  int64_t n_expert = 8;
  int64_t n_expert_used = 2;
  int64_t expert_ffn_dim = 0;
  TensorType matrix_type = TensorType::kQ8_0;  // layer matrices
  TensorType embd_type = TensorType::kQ8_0;    // token_embd
  TensorType output_type = TensorType::kQ8_0;  // output.weight when not tied
  TensorType norm_type = TensorType::kF32;     // norms and biases
  // Q4_K_M-style: attn_v and ffn_down of the first and last eighth of the layers, and every third
  // layer between, use this type instead (unset: no exception).
  bool mixed_v_down = false;
  TensorType v_down_type = TensorType::kQ6_K;
};

// Presets: "q4_0" (matrices Q4_0, token_embd Q6_K), "q4_1", "q5_1", "iq4_nl" (the same with
// Q4_1, Q5_1, IQ4_NL matrices), "q8_0" (all Q8_0), "q4_k_m" (Q4_K, Q6_K for token_embd and a share
// of attn_v/ffn_down), "q5_k_m" (same with Q5_K), llama.cpp's mixes as far as mixed_v_down goes:
// "q2_k" (Q2_K matrices and token_embd, Q6_K output, Q3_K for a share of attn_v/ffn_down),
// "q3_k_m" (Q3_K, Q6_K output, Q4_K for a share of attn_v/ffn_down), "iq4_xs" (IQ4_XS matrices
// and token_embd, Q6_K output), "f16", "f32". Row lengths a type cannot hold fall back (Fit).
Status ApplyTypePreset(const std::string& preset, SynthSpec* spec);
// Shape presets: "tiny" (the quick-start default), "1b" (Llama-3.2-1B: 2048 dim, 16 layers,
// 32 heads, 8 kv heads, 8192 ffn, 128256 vocab, tied).
Status ApplyShapePreset(const std::string& preset, SynthSpec* spec);

// granite files get granite-3.x's multipliers (embedding 12, residual 0.22, logits 8) and an
// attention scale of 0.15; phi3 files fuse q/k/v and gate/up and carry LongRoPE factors (long
// ones beyond half of n_ctx) with an attn_factor of 1.19; gemma files get post-norms and (gemma3)
// q/k norms around 1, gemma2's always tied output, the sliding window and the soft caps;
// qwen3moe files an f32 router and stacked experts.
// Writes the model to `path`, copying every tokenizer.* key from `vocab`. Errors for a shape the
// chosen types cannot hold (a width that is not a multiple of a K-quant's 256 falls back to
// Q8_0 / Q5_0 rows, as real quantizers do). progress(bytes done, total).
Status SynthesizeModel(const SynthSpec& spec, const GgufFile& vocab, const std::string& path,
                       const std::function<void(uint64_t, uint64_t)>& progress = nullptr);

}  // namespace suanli
