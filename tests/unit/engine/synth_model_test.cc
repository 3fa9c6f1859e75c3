// Synthesized models of every type preset and every architecture load, run, and give finite
// logits that do not depend on the thread count or on how the prompt is batched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>

#include "base/thread_pool.h"
#include "engine/batch_runner.h"
#include "engine/session.h"
#include "model/default_model.h"
#include "model/model.h"
#include "model/synth.h"

namespace suanli {
namespace {

struct Case {
  const char* arch;
  const char* preset;
  int64_t dim;
};

class SynthModelTest : public ::testing::TestWithParam<Case> {};

TEST_P(SynthModelTest, RunsAndIsDeterministic) {
  const Case c = GetParam();
  auto vocab = EmbeddedVocab();
  ASSERT_TRUE(vocab.ok()) << vocab.status().ToString();
  SynthSpec spec;
  spec.arch = c.arch;
  spec.dim = c.dim;
  spec.n_layers = 2;
  spec.n_heads = 4;
  spec.n_kv_heads = 2;
  spec.ffn_dim = 2 * c.dim;
  spec.n_ctx = 128;
  ASSERT_TRUE(ApplyTypePreset(c.preset, &spec).ok());
  const std::string path = ::testing::TempDir() + "/synth-" + c.arch + "-" + c.preset + "-" +
                           std::to_string(getpid()) + ".gguf";
  ASSERT_TRUE(SynthesizeModel(spec, **vocab, path).ok());
  auto model = Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->hparams().n_vocab, 32000);

  const std::vector<int32_t> prompt = {1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975};
  auto run = [&](int threads, int64_t max_batch) {
    ThreadPool pool(threads);
    Session s(**model, pool, 64, max_batch);
    std::vector<float> logits;
    EXPECT_TRUE(s.Feed(prompt, true, &logits).ok());
    return logits;
  };
  const auto a = run(2, 512);
  for (float v : a) ASSERT_TRUE(std::isfinite(v));
  const auto b = run(1, 512);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  // Weights copied into huge pages compute exactly what the mapped file does.
  {
    auto copied = Model::Load(path, {}, LoadMode::kCopyHugePages);
    ASSERT_TRUE(copied.ok()) << copied.status().ToString();
    ThreadPool pool(2);
    Session s(**copied, pool, 64);
    std::vector<float> logits;
    ASSERT_TRUE(s.Feed(prompt, true, &logits).ok());
    EXPECT_EQ(0, std::memcmp(a.data(), logits.data(), a.size() * sizeof(float)));
  }
  // Splitting the prompt into batches of 4 rows changes no row by more than rounding.
  const auto c4 = run(2, 4);
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    max_diff = std::max(max_diff, double(std::fabs(a[i] - c4[i])));
  EXPECT_LT(max_diff, 1e-2);
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(
    Presets, SynthModelTest,
    ::testing::Values(Case{"llama", "q4_0", 256}, Case{"llama", "q8_0", 256},
                      Case{"llama", "q4_k_m", 256}, Case{"llama", "q5_k_m", 256},
                      Case{"llama", "f16", 128}, Case{"qwen2", "q8_0", 128},
                      Case{"qwen3", "q8_0", 128}, Case{"qwen3", "f32", 64},
                      Case{"smollm3", "q4_0", 128}, Case{"granite", "q8_0", 128},
                      Case{"phi3", "q4_k_m", 256}, Case{"qwen3moe", "q8_0", 128},
                      Case{"qwen3moe", "q4_k_m", 256},
                      // 320 is not a multiple of 256: K-quant rows fall back to Q5_0/Q8_0.
                      Case{"llama", "q4_k_m", 320}),
    [](const auto& info) {
      return std::string(info.param.arch) + "_" + info.param.preset + "_" +
             std::to_string(info.param.dim);
    });

// A SentencePiece vocabulary cut short still tokenizes (the byte pieces stay); qwen3's per-head
// norms are bound at a head width other than dim / heads, and a file without them is refused
// naming the tensor.
TEST(Synth, CutVocabularyAndQwen3HeadWidth) {
  auto vocab = EmbeddedVocab();
  ASSERT_TRUE(vocab.ok());
  SynthSpec spec;
  spec.arch = "qwen3";
  spec.dim = 64, spec.n_layers = 1, spec.n_heads = 4, spec.n_kv_heads = 2, spec.ffn_dim = 64;
  spec.head_dim = 32, spec.n_vocab = 300, spec.n_ctx = 64;
  ASSERT_TRUE(ApplyTypePreset("f32", &spec).ok());
  const std::string path =
      ::testing::TempDir() + "/synth-cut-" + std::to_string(getpid()) + ".gguf";
  ASSERT_TRUE(SynthesizeModel(spec, **vocab, path).ok());
  auto model = Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->hparams().n_vocab, 300);
  EXPECT_EQ((*model)->hparams().head_dim, 32);
  EXPECT_EQ((*model)->hparams().q_dim(), 128);
  EXPECT_TRUE((*model)->hparams().qk_norm);
  EXPECT_NE((*model)->weights().layers[0].q_norm, nullptr);
  ThreadPool pool(1);
  Session s(**model, pool, 32);
  std::vector<float> logits;
  const int32_t prompt[3] = {1, 299, 42};
  ASSERT_TRUE(s.Feed(prompt, true, &logits).ok());
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));

  // Under 259 ids the byte pieces would go.
  spec.n_vocab = 200;
  Status st = SynthesizeModel(spec, **vocab, path);
  EXPECT_NE(st.message().find("byte pieces"), std::string::npos) << st.ToString();
  spec.n_vocab = 0, spec.arch = "mamba";
  st = SynthesizeModel(spec, **vocab, path);
  EXPECT_NE(st.message().find("llama, qwen2, qwen3"), std::string::npos) << st.ToString();
  std::remove(path.c_str());
}

TEST(Session, RejectsOutOfVocabularyAndOverflow) {
  auto vocab = EmbeddedVocab();
  ASSERT_TRUE(vocab.ok());
  SynthSpec spec;
  spec.dim = 64, spec.n_layers = 1, spec.n_heads = 2, spec.n_kv_heads = 1, spec.ffn_dim = 64;
  ASSERT_TRUE(ApplyTypePreset("q8_0", &spec).ok());
  const std::string path =
      ::testing::TempDir() + "/synth-small-" + std::to_string(getpid()) + ".gguf";
  ASSERT_TRUE(SynthesizeModel(spec, **vocab, path).ok());
  auto model = Model::Load(path);
  ASSERT_TRUE(model.ok());
  ThreadPool pool(1);
  Session s(**model, pool, 4);
  std::vector<float> logits;
  const int32_t bad[1] = {32000};
  EXPECT_EQ(s.Feed(bad, false, &logits).code(), StatusCode::kInvalidArgument);
  const int32_t five[5] = {1, 2, 3, 4, 5};
  Status st = s.Feed(five, false, &logits);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.message().find("context"), std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace suanli

namespace suanli {
namespace {

// gemma3 with a window of 8 positions: 5 of its 6 layers slide.
std::unique_ptr<Model> SlidingModel(const char* preset) {
  auto vocab = EmbeddedVocab();
  EXPECT_TRUE(vocab.ok());
  SynthSpec spec;
  spec.arch = "gemma3";
  spec.dim = 64, spec.n_layers = 6, spec.n_heads = 4, spec.n_kv_heads = 2, spec.ffn_dim = 128;
  spec.head_dim = 32, spec.n_ctx = 512, spec.sliding_window = 8;
  EXPECT_TRUE(ApplyTypePreset(preset, &spec).ok());
  const std::string path =
      ::testing::TempDir() + "/synth-swa-" + preset + "-" + std::to_string(getpid()) + ".gguf";
  EXPECT_TRUE(SynthesizeModel(spec, **vocab, path).ok());
  auto model = Model::Load(path);
  std::remove(path.c_str());
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(*model) : nullptr;
}

// The ring of a sliding layer holds what its rows attend and nothing more: 150 positions fed up
// to 4 at a time wrap a ring of one block (the window's 7 earlier positions and 4 new ones fit
// in 16) many times, and every logit is the bytes of the full cache.
TEST(KvRing, SlidingLayersInARingComputeWhatTheFullCacheDoes) {
  for (const char* preset : {"f32", "q8_0"}) {
    SCOPED_TRACE(preset);
    auto model = SlidingModel(preset);
    ASSERT_TRUE(model);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 150; ++i) prompt.push_back(1 + (i * 131) % 2000);
    ThreadPool pool(2);
    auto run = [&](int64_t max_batch, bool ring, uint64_t* kv_bytes) {
      Session s(*model, pool, 256, max_batch, ring);
      std::vector<float> logits, all;
      // The prompt in pieces of 11, then one token at a time: chunks of every length <= 4.
      for (size_t i = 0; i < prompt.size(); i += 11) {
        const size_t n = std::min<size_t>(11, prompt.size() - i);
        EXPECT_TRUE(s.Feed({prompt.data() + i, n}, true, &logits).ok());
        all.insert(all.end(), logits.begin(), logits.end());
      }
      *kv_bytes = s.kv_bytes();
      return all;
    };
    uint64_t ring_bytes = 0, full_bytes = 0, one_bytes = 0;
    const auto ring = run(4, true, &ring_bytes);
    const auto full = run(4, false, &full_bytes);
    const auto one_batch = run(512, false, &one_bytes);
    ASSERT_EQ(ring.size(), full.size());
    EXPECT_EQ(0, std::memcmp(ring.data(), full.data(), ring.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(ring.data(), one_batch.data(), ring.size() * sizeof(float)));
    // 5 sliding layers of 1 block and 1 global layer of 16, against 6 × 16.
    EXPECT_EQ(full_bytes, 6 * KvBytesPerLayer(model->hparams(), 256, KvType::kF32));
    EXPECT_EQ(ring_bytes, KvBytesPerLayer(model->hparams(), 256, KvType::kF32) +
                              5 * KvBytesPerLayer(model->hparams(), 16, KvType::kF32));
  }
}

// A ring sequence can start only at position 0, and a ring taken back from an ended sequence
// holds nothing its next owner could read as its own.
TEST(KvRing, RingsStartEmptyAndAreNotInherited) {
  auto model = SlidingModel("q8_0");
  ASSERT_TRUE(model);
  ThreadPool pool(1);
  BatchRunnerConfig c;
  c.last_layer = model->hparams().n_layers;
  c.n_ctx = 256, c.n_blocks = 32, c.max_seqs = 2, c.max_batch = 40;
  BatchRunner runner(*model, c, pool);
  ASSERT_TRUE(runner.cache().layout().ring());
  auto step = [](uint64_t seq, int64_t pos, int64_t n, std::vector<int32_t> blocks) {
    SeqStep s;
    s.seq = seq, s.pos = pos, s.blocks = std::move(blocks);
    for (int64_t i = 0; i < n; ++i) s.tokens.push_back(static_cast<int32_t>(10 + pos + i));
    return s;
  };
  auto run = [&](std::vector<SeqStep> steps, std::vector<uint64_t> ended = {}) {
    StepBatch b;
    b.steps = std::move(steps);
    b.ended = std::move(ended);
    StepOutput out;
    runner.Run(b, {}, {}, &out);
    return out.outputs.at(0).status;
  };
  // Sequence 1 fills positions 0..39 (blocks 0-2).
  ASSERT_TRUE(run({step(1, 0, 40, {0, 1, 2})}).ok());
  // Sequence 2 starts at 32 on sequence 1's blocks: its window is in no ring of its own.
  Status st = run({step(2, 32, 1, {0, 1, 2})});
  EXPECT_NE(st.message().find("sliding-window ring"), std::string::npos) << st.ToString();
  // Sequence 1 ends; sequence 3 takes its ring with one token at 0, then claims position 32.
  ASSERT_TRUE(run({step(3, 0, 1, {5})}, {1}).ok());
  st = run({step(3, 32, 1, {0, 1, 2})});
  EXPECT_NE(st.message().find("sliding-window ring"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace suanli
