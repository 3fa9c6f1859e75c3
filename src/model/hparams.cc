#include "model/hparams.h"

#include <cmath>

#include "gguf/gguf.h"
#include "model/tensor_names.h"

namespace suanli {
namespace {

// Upper bounds that no real model approaches; they keep hostile metadata from driving
// allocations (KV cache, scratch) to absurd sizes.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxCtx = 1 << 24;
constexpr int64_t kMaxExperts = 1 << 12;

Status CheckRange(const std::string& key, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    return InvalidArgument("metadata " + key + " = " + std::to_string(v) + " is out of range [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return Status::Ok();
}

}  // namespace

StatusOr<HParams> ReadHParams(const GgufFile& f) {
  HParams hp;
  SL_ASSIGN_OR_RETURN(hp.arch, f.GetString("general.architecture"));
  const ArchSpec* spec = FindArch(hp.arch);
  if (!spec)
    return Unimplemented("unsupported architecture '" + hp.arch +
                         "' (supported: " + SupportedArchNames() + ")");
  const std::string a = hp.arch + ".";
  auto get_int = [&](const std::string& key, int64_t* out, int64_t lo, int64_t hi) -> Status {
    auto v = f.GetUint(a + key);
    if (!v.ok()) return v.status();
    if (*v > static_cast<uint64_t>(hi)) return CheckRange(a + key, hi + 1, lo, hi);
    *out = static_cast<int64_t>(*v);
    return CheckRange(a + key, *out, lo, hi);
  };
  SL_RETURN_IF_ERROR(get_int("context_length", &hp.n_ctx_train, 1, kMaxCtx));
  SL_RETURN_IF_ERROR(get_int("embedding_length", &hp.dim, 1, kMaxDim));
  SL_RETURN_IF_ERROR(get_int("block_count", &hp.n_layers, 1, kMaxLayers));
  SL_RETURN_IF_ERROR(get_int("feed_forward_length", &hp.ffn_dim, 1, 1 << 20));
  SL_RETURN_IF_ERROR(get_int("attention.head_count", &hp.n_heads, 1, kMaxHeads));
  hp.n_kv_heads = hp.n_heads;
  if (f.Find(a + "attention.head_count_kv"))
    SL_RETURN_IF_ERROR(get_int("attention.head_count_kv", &hp.n_kv_heads, 1, kMaxHeads));
  if (hp.n_heads % hp.n_kv_heads != 0)
    return InvalidArgument("metadata " + a + "attention.head_count (" + std::to_string(hp.n_heads) +
                           ") is not a multiple of head_count_kv (" +
                           std::to_string(hp.n_kv_heads) + ")");
  hp.head_dim = hp.dim / hp.n_heads;
  if (f.Find(a + "attention.key_length"))
    SL_RETURN_IF_ERROR(get_int("attention.key_length", &hp.head_dim, 1, 4096));
  if (f.Find(a + "attention.value_length")) {
    int64_t vl = 0;
    SL_RETURN_IF_ERROR(get_int("attention.value_length", &vl, 1, 4096));
    if (vl != hp.head_dim)
      return Unimplemented("attention.value_length != key_length is not supported");
  }
  if (hp.head_dim % 2 != 0 || hp.head_dim < 2)
    return InvalidArgument("head dimension " + std::to_string(hp.head_dim) + " must be even");
  hp.rope_dims = hp.head_dim;
  if (f.Find(a + "rope.dimension_count"))
    SL_RETURN_IF_ERROR(get_int("rope.dimension_count", &hp.rope_dims, 2, hp.head_dim));
  if (hp.rope_dims % 2 != 0) return InvalidArgument(a + "rope.dimension_count must be even");

  if (f.Find(a + "attention.layer_norm_rms_epsilon")) {
    SL_ASSIGN_OR_RETURN(double eps, f.GetFloat(a + "attention.layer_norm_rms_epsilon"));
    if (!(eps > 0 && eps < 1))
      return InvalidArgument(a + "attention.layer_norm_rms_epsilon out of range");
    hp.rms_eps = static_cast<float>(eps);
  }
  if (f.Find(a + "rope.freq_base")) {
    SL_ASSIGN_OR_RETURN(double base, f.GetFloat(a + "rope.freq_base"));
    if (!(base > 1 && std::isfinite(base)))
      return InvalidArgument(a + "rope.freq_base out of range");
    hp.rope_base = static_cast<float>(base);
  }
  std::string scaling = "none";
  if (f.Find(a + "rope.scaling.type")) {
    SL_ASSIGN_OR_RETURN(scaling, f.GetString(a + "rope.scaling.type"));
  }
  double factor = 1.0;
  if (f.Find(a + "rope.scaling.factor")) {
    SL_ASSIGN_OR_RETURN(factor, f.GetFloat(a + "rope.scaling.factor"));
  }
  hp.n_ctx_orig = hp.n_ctx_train;
  if (f.Find(a + "rope.scaling.original_context_length"))
    SL_RETURN_IF_ERROR(get_int("rope.scaling.original_context_length", &hp.n_ctx_orig, 1, kMaxCtx));
  if (f.Find(a + "rope.scaling.attn_factor")) {
    SL_ASSIGN_OR_RETURN(double af, f.GetFloat(a + "rope.scaling.attn_factor"));
    if (!(af > 0 && af < 100)) return InvalidArgument(a + "rope.scaling.attn_factor out of range");
    hp.rope_attn_factor = static_cast<float>(af);
  }
  if (scaling == "longrope") {
    // The factors are tensors (rope_factors_long / _short), bound with the weights.
  } else if (scaling == "linear") {
    if (!(factor > 0 && std::isfinite(factor)))
      return InvalidArgument(a + "rope.scaling.factor out of range");
    hp.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none" && !(scaling == "yarn" && factor <= 1.0)) {
    return Unimplemented("rope scaling type '" + scaling + "' is not supported");
  }
  hp.rope_order = spec->rope_order;
  hp.qkv_bias = spec->qkv_bias;
  hp.qk_norm = spec->qk_norm;
  hp.no_rope_layer_step = spec->no_rope_layer_step;
  hp.fused_gate_up = spec->fused_gate_up;
  if (spec->multipliers) {
    // Positive and finite, as a hostile file could make them anything.
    auto get_scale = [&](const std::string& key, bool required, float* out) -> Status {
      if (!required && !f.Find(a + key)) return Status::Ok();
      SL_ASSIGN_OR_RETURN(double v, f.GetFloat(a + key));
      if (!(v > 0 && v < 1e6)) return InvalidArgument("metadata " + a + key + " out of range");
      *out = static_cast<float>(v);
      return Status::Ok();
    };
    SL_RETURN_IF_ERROR(get_scale("embedding_scale", false, &hp.embedding_scale));
    SL_RETURN_IF_ERROR(get_scale("residual_scale", false, &hp.residual_scale));
    SL_RETURN_IF_ERROR(get_scale("attention.scale", false, &hp.attention_scale));
    SL_RETURN_IF_ERROR(get_scale("logit_scale", true, &hp.logit_scale));
  }

  hp.ffn_act = spec->ffn_act;
  hp.post_norms = spec->post_norms;
  if (spec->embed_sqrt_dim) hp.embedding_scale = std::sqrt(static_cast<float>(hp.dim));
  // A cap must be positive and finite: the reference divides by it.
  auto get_cap = [&](const std::string& key, float dflt, float* out) -> Status {
    if (dflt < 0) return Status::Ok();
    *out = dflt;
    if (!f.Find(a + key)) return Status::Ok();
    SL_ASSIGN_OR_RETURN(double v, f.GetFloat(a + key));
    if (v == 0 && dflt == 0) return Status::Ok();  // gemma3 writes 0 for "none" too
    if (!(v > 0 && v < 1e6)) return InvalidArgument("metadata " + a + key + " out of range");
    *out = static_cast<float>(v);
    return Status::Ok();
  };
  SL_RETURN_IF_ERROR(get_cap("attn_logit_softcapping", spec->attn_softcap, &hp.attn_softcap));
  SL_RETURN_IF_ERROR(get_cap("final_logit_softcapping", spec->final_softcap, &hp.final_softcap));
  if (spec->swa_period > 0) {
    hp.swa_period = spec->swa_period;
    hp.n_swa = spec->swa_window;
    if (f.Find(a + "attention.sliding_window"))
      SL_RETURN_IF_ERROR(get_int("attention.sliding_window", &hp.n_swa, 1, kMaxCtx));
    // A per-layer array is not read, as the reference reads only a period here.
    if (const GgufValue* v = f.Find(a + "attention.sliding_window_pattern");
        v && v->type != GgufValueType::kArray)
      SL_RETURN_IF_ERROR(
          get_int("attention.sliding_window_pattern", &hp.swa_period, 0, kMaxLayers));
    hp.rope_base_swa = spec->swa_base_global ? hp.rope_base : 10000.0f;
    hp.rope_freq_scale_swa = spec->swa_base_global ? hp.rope_freq_scale : 1.0f;
    if (f.Find(a + "rope.freq_base_swa")) {
      SL_ASSIGN_OR_RETURN(double base, f.GetFloat(a + "rope.freq_base_swa"));
      if (!(base > 1 && std::isfinite(base)))
        return InvalidArgument(a + "rope.freq_base_swa out of range");
      hp.rope_base_swa = static_cast<float>(base);
    }
  }
  if (spec->moe) {
    SL_RETURN_IF_ERROR(get_int("expert_count", &hp.n_expert, 1, kMaxExperts));
    SL_RETURN_IF_ERROR(get_int("expert_used_count", &hp.n_expert_used, 1, hp.n_expert));
    // Without its own key an expert is ffn_dim / n_expert_used wide, as the reference reads it.
    hp.expert_ffn_dim = hp.ffn_dim / hp.n_expert_used;
    if (const GgufValue* v = f.Find(a + "expert_feed_forward_length");
        v && v->type == GgufValueType::kArray)
      return Unimplemented("metadata " + a +
                           "expert_feed_forward_length: per-layer expert widths are not supported");
    else if (v)
      SL_RETURN_IF_ERROR(get_int("expert_feed_forward_length", &hp.expert_ffn_dim, 1, 1 << 20));
    if (hp.expert_ffn_dim < 1)
      return InvalidArgument("metadata " + a + "feed_forward_length (" +
                             std::to_string(hp.ffn_dim) + ") is narrower than expert_used_count (" +
                             std::to_string(hp.n_expert_used) +
                             ") and no expert_feed_forward_length is given");
    hp.moe_norm_topk = spec->moe_norm_topk;
  }
  if (spec->query_scale_dim_layers > 0 && hp.n_layers == spec->query_scale_dim_layers)
    hp.attention_scale = 1.0f / std::sqrt(static_cast<float>(hp.dim / hp.n_heads));

  if (f.Find(a + "vocab_size")) {
    SL_RETURN_IF_ERROR(get_int("vocab_size", &hp.n_vocab, 1, 1 << 24));
  } else if (const GgufTensorInfo* t = f.FindTensor(tensor_names::kTokenEmbd);
             t && t->dims.size() == 2) {
    hp.n_vocab = t->dims[1];
  } else {
    return NotFound("cannot tell the vocabulary size: no vocab_size key and no token_embd.weight");
  }
  return hp;
}

}  // namespace suanli
