#include "model/synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/thread_pool.h"
#include "gguf/gguf_writer.h"
#include "kernels/kernels.h"
#include "model/arch.h"
#include "model/tensor_names.h"

namespace suanli {
namespace {

uint64_t SplitMix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A type the row length can hold: K-quants need multiples of 256, the others 32 (as real
// quantizers fall back for widths such as 896 or 4864).
TensorType Fit(TensorType t, int64_t cols) {
  const int64_t bs = GetTensorTypeInfo(t).block_size;
  if (cols % bs == 0) return t;
  TensorType fb = t == TensorType::kQ6_K ? TensorType::kQ8_0 : TensorType::kQ5_0;
  if (t == TensorType::kQ4_0 || t == TensorType::kQ5_0 || t == TensorType::kQ8_0)
    fb = TensorType::kF16;
  return cols % GetTensorTypeInfo(fb).block_size == 0 ? fb : TensorType::kF16;
}

struct TensorPlan {
  std::string name;
  TensorType type;
  int64_t rows, cols;  // rows == 1 for vectors; of one expert for stacked experts
  bool vector;
  float stddev;    // random values ~ N(0, stddev²) approximately
  float constant;  // for vectors filled with a constant (norms): value, else NaN
  float mean = 0;  // added to the random values
  int64_t experts = 0;  // > 0: this many rows × cols matrices stacked (dims {cols, rows, experts})
};

void FillTensor(const TensorPlan& p, uint64_t seed, uint64_t index, ThreadPool& pool,
                uint8_t* dst) {
  const size_t row_bytes = RowBytes(p.type, p.cols);
  pool.Run([&](int tid, int nth) {
    std::vector<float> row(static_cast<size_t>(p.cols));
    Range r = SplitRange(p.rows * std::max<int64_t>(p.experts, 1), tid, nth);
    for (int64_t i = r.begin; i < r.end; ++i) {
      uint64_t s = seed * 0x100000001b3ull ^ (index << 40) ^ static_cast<uint64_t>(i);
      for (int64_t j = 0; j < p.cols; ++j) {
        if (!std::isnan(p.constant)) {
          row[static_cast<size_t>(j)] = p.constant;
          continue;
        }
        // Sum of four uniforms: close enough to a normal, cheap and bounded.
        uint64_t a = SplitMix64(s), b = SplitMix64(s);
        float u = static_cast<float>(a & 0xffffffff) + static_cast<float>(a >> 32) +
                  static_cast<float>(b & 0xffffffff) + static_cast<float>(b >> 32);
        u = u / 4294967296.0f - 2.0f;  // mean 0, variance 1/3
        row[static_cast<size_t>(j)] = p.mean + u * 1.7320508f * p.stddev;
      }
      kernels::QuantizeRow(p.type, row.data(), dst + static_cast<size_t>(i) * row_bytes, p.cols);
    }
  });
}

}  // namespace

Status ApplyTypePreset(const std::string& preset, SynthSpec* s) {
  s->mixed_v_down = false;
  if (preset == "q4_0") {
    s->matrix_type = TensorType::kQ4_0;
    s->embd_type = s->output_type = TensorType::kQ6_K;
  } else if (preset == "q8_0") {
    s->matrix_type = s->embd_type = s->output_type = TensorType::kQ8_0;
  } else if (preset == "q4_k_m" || preset == "q5_k_m") {
    s->matrix_type = preset == "q4_k_m" ? TensorType::kQ4_K : TensorType::kQ5_K;
    s->embd_type = s->output_type = TensorType::kQ6_K;
    s->mixed_v_down = true;
    s->v_down_type = TensorType::kQ6_K;
  } else if (preset == "q4_1" || preset == "q5_1" || preset == "iq4_nl") {
    s->matrix_type = preset == "q4_1"   ? TensorType::kQ4_1
                     : preset == "q5_1" ? TensorType::kQ5_1
                                        : TensorType::kIQ4_NL;
    s->embd_type = s->output_type = TensorType::kQ6_K;  // as q4_0
  } else if (preset == "q2_k") {
    // llama.cpp's Q2_K mix: Q2_K matrices and token_embd, Q6_K output, attn_v / ffn_down /
    // attn_output in Q3_K. The mixed_v_down mechanism gives attn_v and ffn_down Q3_K in its share
    // of the layers only (attn_output stays Q2_K).
    s->matrix_type = s->embd_type = TensorType::kQ2_K;
    s->output_type = TensorType::kQ6_K;
    s->mixed_v_down = true;
    s->v_down_type = TensorType::kQ3_K;
  } else if (preset == "q3_k_m") {
    // llama.cpp's Q3_K_M: Q3_K matrices and token_embd, Q6_K output, attn_v / ffn_down /
    // attn_output mostly Q4_K (Q5_K in the first layers). Here: attn_v and ffn_down Q4_K in the
    // mixed_v_down share of the layers.
    s->matrix_type = s->embd_type = TensorType::kQ3_K;
    s->output_type = TensorType::kQ6_K;
    s->mixed_v_down = true;
    s->v_down_type = TensorType::kQ4_K;
  } else if (preset == "iq4_xs") {
    // llama.cpp's IQ4_XS without an importance matrix: IQ4_XS matrices and token_embd, Q6_K
    // output (its Q5_K attn_v for n_gqa >= 4 and first-eighth ffn_down are not emulated).
    s->matrix_type = s->embd_type = TensorType::kIQ4_XS;
    s->output_type = TensorType::kQ6_K;
  } else if (preset == "f16") {
    s->matrix_type = s->embd_type = s->output_type = TensorType::kF16;
  } else if (preset == "f32") {
    s->matrix_type = s->embd_type = s->output_type = TensorType::kF32;
  } else {
    return InvalidArgument("unknown type preset '" + preset +
                           "' (use q4_0, q4_1, q5_1, q8_0, iq4_nl, iq4_xs, q2_k, q3_k_m, q4_k_m, "
                           "q5_k_m, f16 or f32)");
  }
  return Status::Ok();
}

Status ApplyShapePreset(const std::string& preset, SynthSpec* s) {
  if (preset == "tiny") {
    s->dim = 256, s->n_layers = 4, s->n_heads = 8, s->n_kv_heads = 4, s->ffn_dim = 768;
    // Separate output: tied random embeddings make every token predict itself (e·e ≫ e·e').
    s->n_ctx = 2048, s->tied_output = false, s->n_vocab = 0;
  } else if (preset == "1b") {
    s->dim = 2048, s->n_layers = 16, s->n_heads = 32, s->n_kv_heads = 8, s->ffn_dim = 8192;
    s->n_ctx = 131072, s->tied_output = true, s->n_vocab = 128256, s->rope_base = 500000.0f;
  } else {
    return InvalidArgument("unknown shape preset '" + preset + "' (use tiny or 1b)");
  }
  return Status::Ok();
}

Status SynthesizeModel(const SynthSpec& spec, const GgufFile& vocab, const std::string& path,
                       const std::function<void(uint64_t, uint64_t)>& progress) {
  const ArchSpec* arch = FindArch(spec.arch);
  if (!arch)
    return InvalidArgument("arch must be one of " + SupportedArchNames() + ", not '" + spec.arch +
                           "'");
  if (spec.dim <= 0 || spec.n_layers <= 0 || spec.n_heads <= 0 || spec.n_kv_heads <= 0 ||
      spec.ffn_dim <= 0 || spec.n_ctx <= 0)
    return InvalidArgument("every dimension must be positive");
  if (arch->moe && (spec.n_expert < 1 || spec.n_expert_used < 1 ||
                    spec.n_expert_used > spec.n_expert || spec.expert_ffn_dim < 0))
    return InvalidArgument("a mixture of experts needs 1 <= experts-used <= experts");
  if (spec.head_dim < 0 || (spec.head_dim == 0 && spec.dim % spec.n_heads != 0))
    return InvalidArgument("dim " + std::to_string(spec.dim) + " is not a multiple of heads " +
                           std::to_string(spec.n_heads) + " (or give the head width)");
  if (spec.n_heads % spec.n_kv_heads != 0)
    return InvalidArgument("heads must be a multiple of kv heads");
  const int64_t head_dim = spec.head_dim > 0 ? spec.head_dim : spec.dim / spec.n_heads;
  if (head_dim % 2 != 0) return InvalidArgument("head dimension must be even");

  auto tokens = vocab.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens.ok()) return tokens.status().WithContext(vocab.name() + ": no tokenizer");
  const int64_t vocab_tokens = static_cast<int64_t>(tokens->size());
  const int64_t n_vocab = spec.n_vocab > 0 ? spec.n_vocab : vocab_tokens;
  // A SentencePiece vocabulary may be cut to its first n_vocab pieces (small test models): what
  // is left still tokenizes any text, through shorter pieces and the byte fallback. A BPE one
  // cannot (its merges name the pieces cut).
  auto model = vocab.GetString("tokenizer.ggml.model");
  const bool spm = model.ok() && *model == "llama";
  if (n_vocab < vocab_tokens && (!spm || n_vocab < 259))
    return InvalidArgument("n_vocab " + std::to_string(n_vocab) + " is smaller than the " +
                           std::to_string(vocab_tokens) + " tokens of " + vocab.name() +
                           (spm ? " and below the 259 ids that hold the byte pieces"
                                : ", which only a SentencePiece vocabulary can be cut to"));

  GgufWriter w;
  const std::string a = spec.arch + ".";
  w.SetString("general.architecture", spec.arch);
  w.SetString("general.name", spec.name);
  w.SetUint32(a + "context_length", static_cast<uint32_t>(spec.n_ctx));
  w.SetUint32(a + "embedding_length", static_cast<uint32_t>(spec.dim));
  w.SetUint32(a + "block_count", static_cast<uint32_t>(spec.n_layers));
  w.SetUint32(a + "feed_forward_length", static_cast<uint32_t>(spec.ffn_dim));
  w.SetUint32(a + "attention.head_count", static_cast<uint32_t>(spec.n_heads));
  w.SetUint32(a + "attention.head_count_kv", static_cast<uint32_t>(spec.n_kv_heads));
  if (spec.head_dim > 0) {
    w.SetUint32(a + "attention.key_length", static_cast<uint32_t>(head_dim));
    w.SetUint32(a + "attention.value_length", static_cast<uint32_t>(head_dim));
  }
  w.SetUint32(a + "rope.dimension_count", static_cast<uint32_t>(head_dim));
  w.SetFloat32(a + "rope.freq_base", spec.rope_base);
  w.SetFloat32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  w.SetUint32(a + "vocab_size", static_cast<uint32_t>(n_vocab));
  if (arch->fused_gate_up) {
    // LongRoPE: the long factors apply to contexts over half the training one.
    w.SetString(a + "rope.scaling.type", "longrope");
    w.SetUint32(a + "rope.scaling.original_context_length",
                static_cast<uint32_t>(std::max<int64_t>(1, spec.n_ctx / 2)));
    w.SetFloat32(a + "rope.scaling.attn_factor", 1.19f);
  }
  const int64_t expert_ffn =
      spec.expert_ffn_dim > 0
          ? spec.expert_ffn_dim
          : std::max<int64_t>(1, spec.ffn_dim / std::max<int64_t>(spec.n_expert_used, 1));
  if (arch->moe) {
    w.SetUint32(a + "expert_count", static_cast<uint32_t>(spec.n_expert));
    w.SetUint32(a + "expert_used_count", static_cast<uint32_t>(spec.n_expert_used));
    w.SetUint32(a + "expert_feed_forward_length", static_cast<uint32_t>(expert_ffn));
  }
  if (arch->multipliers) {
    // granite-3.x's values, but for the attention scale, which differs from 1/√head_dim here
    // so that using the default instead shows.
    w.SetFloat32(a + "embedding_scale", 12.0f);
    w.SetFloat32(a + "residual_scale", 0.22f);
    w.SetFloat32(a + "attention.scale", 0.15f);
    w.SetFloat32(a + "logit_scale", 8.0f);
  }
  if (spec.rope_linear > 0) {
    w.SetString(a + "rope.scaling.type", "linear");
    w.SetFloat32(a + "rope.scaling.factor", spec.rope_linear);
  }
  if (arch->swa_period > 0) {
    const int64_t window = spec.sliding_window > 0 ? spec.sliding_window
                           : arch->swa_window > 0  ? arch->swa_window
                                                   : 512;
    w.SetUint32(a + "attention.sliding_window", static_cast<uint32_t>(window));
  }
  // A cap is written when given, or when the architecture has a default one (gemma2's).
  for (auto [key, given, dflt] :
       {std::tuple{"attn_logit_softcapping", spec.attn_softcap, arch->attn_softcap},
        std::tuple{"final_logit_softcapping", spec.final_softcap, arch->final_softcap}})
    if (dflt >= 0 && (given > 0 || dflt > 0)) w.SetFloat32(a + key, given > 0 ? given : dflt);
  for (const GgufKV& kv : vocab.metadata()) {
    if (!kv.key.starts_with("tokenizer.")) continue;
    // A special token cut from the vocabulary is left out rather than pointing past its end.
    if (n_vocab < vocab_tokens && kv.key.ends_with("_token_id")) {
      auto id = vocab.GetUint(kv.key);
      if (!id.ok() || *id >= static_cast<uint64_t>(n_vocab)) continue;
    }
    w.SetValue(kv.key, kv.value);
  }
  if (n_vocab < vocab_tokens) {
    const size_t n = static_cast<size_t>(n_vocab);
    w.SetStringArray("tokenizer.ggml.tokens",
                     std::vector<std::string>(tokens->begin(), tokens->begin() + n));
    if (auto sc = vocab.GetFloatArray("tokenizer.ggml.scores"); sc.ok() && sc->size() >= n) {
      sc->resize(n);
      w.SetFloat32Array("tokenizer.ggml.scores", *sc);
    }
    if (auto ty = vocab.GetIntArray("tokenizer.ggml.token_type"); ty.ok() && ty->size() >= n) {
      std::vector<int32_t> t32(ty->begin(), ty->begin() + static_cast<ptrdiff_t>(n));
      w.SetInt32Array("tokenizer.ggml.token_type", t32);
    }
  }
  if (n_vocab > vocab_tokens) {
    // Pad the vocabulary with control tokens no text produces.
    std::vector<std::string> toks(tokens->begin(), tokens->end());
    for (int64_t i = vocab_tokens; i < n_vocab; ++i)
      toks.push_back("<|pad_" + std::to_string(i) + "|>");
    w.SetStringArray("tokenizer.ggml.tokens", toks);
    if (auto sc = vocab.GetFloatArray("tokenizer.ggml.scores"); sc.ok()) {
      sc->resize(static_cast<size_t>(n_vocab), 0.0f);
      w.SetFloat32Array("tokenizer.ggml.scores", *sc);
    }
    if (auto ty = vocab.GetIntArray("tokenizer.ggml.token_type"); ty.ok()) {
      std::vector<int32_t> t32(ty->begin(), ty->end());
      t32.resize(static_cast<size_t>(n_vocab), 3);  // CONTROL
      w.SetInt32Array("tokenizer.ggml.token_type", t32);
    }
  }

  const float nan = std::nanf("");
  std::vector<TensorPlan> plan;
  auto matrix = [&](std::string name, TensorType t, int64_t rows, int64_t cols, float sd) {
    plan.push_back({std::move(name), Fit(t, cols), rows, cols, false, sd, nan});
  };
  auto vector = [&](std::string name, int64_t n, float constant, float sd, float mean = 0) {
    plan.push_back({std::move(name), spec.norm_type, 1, n, true, sd, constant, mean});
  };
  namespace tn = tensor_names;
  const int64_t q_dim = spec.n_heads * head_dim, kv_dim = spec.n_kv_heads * head_dim;
  const float sd_in = 1.0f / std::sqrt(static_cast<float>(spec.dim));
  const float sd_ffn = 1.0f / std::sqrt(static_cast<float>(spec.ffn_dim));
  matrix(std::string(tn::kTokenEmbd), spec.embd_type, n_vocab, spec.dim, 1.0f);
  vector(std::string(tn::kOutputNorm), spec.dim, 1.0f, 0);
  if (!spec.tied_output && !arch->output_tied)
    matrix(std::string(tn::kOutput), spec.output_type, n_vocab, spec.dim, sd_in);
  if (arch->fused_gate_up) {
    // phi3's LongRoPE factors (positive: around 1 within the original context, larger beyond).
    vector(std::string(tn::kRopeLong), head_dim / 2, nan, 1.0f, 4.0f);
    vector(std::string(tn::kRopeShort), head_dim / 2, nan, 0.1f, 1.0f);
  }
  const float sd_q = 1.0f / std::sqrt(static_cast<float>(q_dim));
  for (int64_t l = 0; l < spec.n_layers; ++l) {
    auto name = [l](std::string_view suffix) { return tn::Layer(l, suffix); };
    const int64_t L = spec.n_layers;
    const bool more_bits =
        spec.mixed_v_down && (l < L / 8 || l >= 7 * L / 8 || (l - L / 8) % 3 == 2);
    const TensorType vd = more_bits ? spec.v_down_type : spec.matrix_type;
    vector(name(tn::kAttnNorm), spec.dim, 1.0f, 0);
    if (arch->fused_gate_up) {  // phi3 files fuse both
      matrix(name(tn::kAttnQkv), spec.matrix_type, q_dim + 2 * kv_dim, spec.dim, sd_in);
    } else {
      matrix(name(tn::kAttnQ), spec.matrix_type, q_dim, spec.dim, sd_in);
      matrix(name(tn::kAttnK), spec.matrix_type, kv_dim, spec.dim, sd_in);
      matrix(name(tn::kAttnV), vd, kv_dim, spec.dim, sd_in);
    }
    matrix(name(tn::kAttnOut), spec.matrix_type, spec.dim, q_dim, sd_q);
    if (arch->qkv_bias) {
      vector(name(tn::kAttnQBias), q_dim, nan, 0.1f);
      vector(name(tn::kAttnKBias), kv_dim, nan, 0.1f);
      vector(name(tn::kAttnVBias), kv_dim, nan, 0.1f);
    }
    if (arch->qk_norm) {
      // Around 1 with some spread, so a norm applied to the wrong head or dimension shows.
      vector(name(tn::kAttnQNorm), head_dim, nan, 0.3f, 1.0f);
      vector(name(tn::kAttnKNorm), head_dim, nan, 0.3f, 1.0f);
    }
    if (arch->post_norms) {
      vector(name(tn::kAttnPostNorm), spec.dim, nan, 0.3f, 1.0f);
      vector(name(tn::kFfnPostNorm), spec.dim, nan, 0.3f, 1.0f);
    }
    vector(name(tn::kFfnNorm), spec.dim, 1.0f, 0);
    if (arch->moe) {
      // The router stays f32, as the reference's quantizer leaves it.
      plan.push_back(
          {name(tn::kFfnGateInp), TensorType::kF32, spec.n_expert, spec.dim, false, sd_in, nan});
      const float sd_eff = 1.0f / std::sqrt(static_cast<float>(expert_ffn));
      for (auto [suffix, t, rows, cols, sd] :
           {std::tuple{tn::kFfnGateExps, spec.matrix_type, expert_ffn, spec.dim, sd_in},
            std::tuple{tn::kFfnUpExps, spec.matrix_type, expert_ffn, spec.dim, sd_in},
            std::tuple{tn::kFfnDownExps, vd, spec.dim, expert_ffn, sd_eff}})
        plan.push_back(
            {name(suffix), Fit(t, cols), rows, cols, false, sd, nan, 0.0f, spec.n_expert});
      continue;
    }
    if (arch->fused_gate_up) {
      matrix(name(tn::kFfnUp), spec.matrix_type, 2 * spec.ffn_dim, spec.dim, sd_in);
    } else {
      matrix(name(tn::kFfnGate), spec.matrix_type, spec.ffn_dim, spec.dim, sd_in);
      matrix(name(tn::kFfnUp), spec.matrix_type, spec.ffn_dim, spec.dim, sd_in);
    }
    matrix(name(tn::kFfnDown), vd, spec.dim, spec.ffn_dim, sd_ffn);
  }

  ThreadPool pool(ThreadPool::HardwareThreads());
  for (size_t i = 0; i < plan.size(); ++i) {
    const TensorPlan& p = plan[i];
    std::vector<int64_t> dims =
        p.vector ? std::vector<int64_t>{p.cols} : std::vector<int64_t>{p.cols, p.rows};
    if (p.experts > 0) dims.push_back(p.experts);
    SL_RETURN_IF_ERROR(w.AddTensor(
        p.name, p.type, dims,
        [&p, &pool, &spec, i](uint8_t* dst, size_t) { FillTensor(p, spec.seed, i, pool, dst); }));
  }
  return w.WriteFile(path, progress);
}

}  // namespace suanli
