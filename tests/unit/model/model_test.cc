// Hyper-parameter and weight binding checks on hostile metadata: each error names what is wrong.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>

#include <functional>

#include "gguf/gguf_writer.h"
#include "model/hparams.h"
#include "model/model.h"
#include "model/weights.h"

namespace suanli {
namespace {

// A minimal valid llama: dim 32, 1 layer, 2 heads, 1 kv head, ffn 64, vocab 8, all F32.
struct Builder {
  std::function<void(GgufWriter&)> edit_meta = [](GgufWriter&) {};
  std::string arch = "llama";
  std::string skip_tensor;
  std::string reshape_tensor;
  std::string extra_tensor;  // a [head_dim / 2] vector added (e.g. one LongRoPE factor table)
  std::vector<std::pair<std::string, std::vector<int64_t>>> extra_tensors;  // any shape

  std::string Write() {
    GgufWriter w;
    w.SetString("general.architecture", arch);
    w.SetUint32(arch + ".context_length", 128);
    w.SetUint32(arch + ".embedding_length", 32);
    w.SetUint32(arch + ".block_count", 1);
    w.SetUint32(arch + ".feed_forward_length", 64);
    w.SetUint32(arch + ".attention.head_count", 2);
    w.SetUint32(arch + ".attention.head_count_kv", 1);
    w.SetFloat32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
    edit_meta(w);
    auto add = [&](const std::string& name, std::vector<int64_t> dims) {
      if (name == skip_tensor) return;
      if (name == reshape_tensor) dims[0] += 1;
      int64_t n = 1;
      for (int64_t d : dims) n *= d;
      std::vector<float> data(static_cast<size_t>(n), 0.01f);
      EXPECT_TRUE(
          w.AddTensorBytes(name, TensorType::kF32, dims, data.data(), data.size() * 4).ok());
    };
    add("token_embd.weight", {32, 8});
    add("output_norm.weight", {32});
    add("blk.0.attn_norm.weight", {32});
    add("blk.0.attn_q.weight", {32, 32});
    add("blk.0.attn_k.weight", {32, 16});
    add("blk.0.attn_v.weight", {32, 16});
    add("blk.0.attn_output.weight", {32, 32});
    add("blk.0.ffn_norm.weight", {32});
    add("blk.0.ffn_gate.weight", {32, 64});
    add("blk.0.ffn_up.weight", {32, 64});
    add("blk.0.ffn_down.weight", {64, 32});
    if (!extra_tensor.empty()) add(extra_tensor, {8});
    for (const auto& [name, dims] : extra_tensors) add(name, dims);
    std::string path = ::testing::TempDir() + "/model-test-" + std::to_string(getpid()) + ".gguf";
    EXPECT_TRUE(w.WriteFile(path).ok());
    return path;
  }
};

Status LoadStatus(Builder b) {
  std::string path = b.Write();
  auto m = Model::Load(path);
  std::remove(path.c_str());
  return m.ok() ? Status::Ok() : m.status();
}

void ExpectError(Builder b, const std::string& fragment) {
  Status s = LoadStatus(std::move(b));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(Model, LoadsMinimalModelWithTiedOutput) {
  Builder b;
  std::string path = b.Write();
  auto m = Model::Load(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const HParams& hp = (*m)->hparams();
  EXPECT_EQ(hp.n_vocab, 8);
  EXPECT_EQ(hp.head_dim, 16);
  EXPECT_EQ(hp.kv_dim(), 16);
  EXPECT_TRUE((*m)->weights().tied_output);
  // Decode reads every layer matrix, the (tied) output matrix and one embedding row.
  const uint64_t layer = 4ull * (32 * 32 + 16 * 32 + 16 * 32 + 32 * 32 + 3 * 64 * 32);
  EXPECT_EQ((*m)->weights().DecodeBytesPerToken(), layer + 4ull * 8 * 32 + 4ull * 32);
  std::remove(path.c_str());
}

TEST(Model, RejectsHostileMetadataAndShapes) {
  Builder arch;
  arch.edit_meta = [](GgufWriter& w) { w.SetString("general.architecture", "mamba"); };
  ExpectError(
      arch,
      "unsupported architecture 'mamba' (supported: llama, qwen2, qwen3, smollm3, granite, phi3, "
      "gemma2, gemma3, qwen3moe)");

  // qwen3 binds per-head q/k norms: a llama-shaped file labelled qwen3 names the one missing.
  Builder qwen3;
  qwen3.arch = "qwen3";
  ExpectError(qwen3, "missing tensor 'blk.0.attn_q_norm.weight'");
  // granite's logit multiplier is required, and every multiplier must be positive and finite.
  Builder granite;
  granite.arch = "granite";
  ExpectError(granite, "granite.logit_scale");
  granite.edit_meta = [](GgufWriter& w) {
    w.SetFloat32("granite.logit_scale", 8.0f);
    w.SetFloat32("granite.residual_scale", -1.0f);
  };
  ExpectError(granite, "metadata granite.residual_scale out of range");

  // gemma binds the norms after each branch; its window and soft caps must be usable.
  Builder gemma2;
  gemma2.arch = "gemma2";
  ExpectError(gemma2, "missing tensor 'blk.0.post_attention_norm.weight'");
  gemma2.edit_meta = [](GgufWriter& w) { w.SetUint32("gemma2.attention.sliding_window", 0); };
  ExpectError(gemma2, "gemma2.attention.sliding_window");
  gemma2.edit_meta = [](GgufWriter& w) { w.SetFloat32("gemma2.attn_logit_softcapping", 0.0f); };
  ExpectError(gemma2, "metadata gemma2.attn_logit_softcapping out of range");
  gemma2.edit_meta = [](GgufWriter& w) {
    w.SetFloat32("gemma2.final_logit_softcapping", std::nanf(""));
  };
  ExpectError(gemma2, "metadata gemma2.final_logit_softcapping out of range");
  Builder gemma3;
  gemma3.arch = "gemma3";
  gemma3.edit_meta = [](GgufWriter& w) { w.SetFloat32("gemma3.rope.freq_base_swa", -5.0f); };
  ExpectError(gemma3, "gemma3.rope.freq_base_swa out of range");

  // qwen3moe: the expert counts are required and consistent, and the stacked experts' shapes
  // are checked (dims {cols, rows, n_expert}).
  Builder moe;
  moe.arch = "qwen3moe";
  ExpectError(moe, "qwen3moe.expert_count");
  moe.edit_meta = [](GgufWriter& w) {
    w.SetUint32("qwen3moe.expert_count", 4);
    w.SetUint32("qwen3moe.expert_used_count", 5);
  };
  ExpectError(moe, "metadata qwen3moe.expert_used_count = 5 is out of range [1, 4]");
  moe.edit_meta = [](GgufWriter& w) {
    w.SetUint32("qwen3moe.expert_count", 4);
    w.SetUint32("qwen3moe.expert_used_count", 2);
    w.SetUint32("qwen3moe.expert_feed_forward_length", 16);
  };
  ExpectError(moe, "missing tensor 'blk.0.ffn_gate_inp.weight'");
  moe.extra_tensors = {{"blk.0.ffn_gate_inp.weight", {32, 4}},
                       {"blk.0.ffn_gate_exps.weight", {32, 16, 3}}};
  ExpectError(moe,
              "tensor 'blk.0.ffn_gate_exps.weight' has shape [32, 16, 3], expected [32, 16, 4]");
  moe.extra_tensors = {
      {"blk.0.ffn_gate_inp.weight", {32, 4}},    {"blk.0.ffn_gate_exps.weight", {32, 16, 4}},
      {"blk.0.ffn_up_exps.weight", {32, 16, 4}}, {"blk.0.ffn_down_exps.weight", {16, 32, 4}},
      {"blk.0.attn_q_norm.weight", {16}},        {"blk.0.attn_k_norm.weight", {16}}};
  EXPECT_TRUE(LoadStatus(moe).ok()) << LoadStatus(moe).ToString();
  moe.edit_meta = [](GgufWriter& w) {
    w.SetUint32("qwen3moe.expert_count", 4);
    w.SetUint32("qwen3moe.expert_used_count", 2);
    w.SetInt32Array("qwen3moe.expert_feed_forward_length", {16});
  };
  ExpectError(moe, "per-layer expert widths are not supported");

  Builder heads;
  heads.edit_meta = [](GgufWriter& w) { w.SetUint32("llama.attention.head_count_kv", 3); };
  ExpectError(heads, "head_count_kv");

  Builder huge;
  huge.edit_meta = [](GgufWriter& w) { w.SetUint32("llama.embedding_length", 4000000000u); };
  ExpectError(huge, "llama.embedding_length");

  Builder no_layers;
  no_layers.edit_meta = [](GgufWriter& w) { w.SetUint32("llama.block_count", 0); };
  ExpectError(no_layers, "llama.block_count");

  Builder missing_key;
  missing_key.edit_meta = [](GgufWriter& w) { w.SetString("llama.feed_forward_length", "x"); };
  ExpectError(missing_key, "llama.feed_forward_length");

  Builder missing;
  missing.skip_tensor = "blk.0.ffn_up.weight";
  ExpectError(missing, "missing tensor 'blk.0.ffn_up.weight'");

  Builder shape;
  shape.reshape_tensor = "blk.0.attn_k.weight";
  ExpectError(shape, "tensor 'blk.0.attn_k.weight' has shape [33, 16], expected [32, 16]");

  Builder rope;
  // YaRN that stretches the context is not implemented: refused rather than run unscaled.
  rope.edit_meta = [](GgufWriter& w) {
    w.SetString("llama.rope.scaling.type", "yarn");
    w.SetFloat32("llama.rope.scaling.factor", 4.0f);
  };
  ExpectError(rope, "rope scaling type 'yarn'");
  // LongRoPE's factors come as a pair.
  Builder half_longrope;
  half_longrope.extra_tensor = "rope_factors_long.weight";
  ExpectError(half_longrope, "LongRoPE needs both");
}

}  // namespace
}  // namespace suanli
