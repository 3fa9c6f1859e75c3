// The runtime on this device with a real (tiny, random-weight) model: batch invariance — a
// sequence's logits do not depend on the other sequences of its batch, on how its prompt is
// chunked, or on whether its prefix came from the prefix cache — and agreement with the plain
// one-sequence Session that `generate` used before.
#include "runtime/runtime.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "engine/session.h"
#include "kernels/kernels.h"
#include "model/default_model.h"
#include "model/synth.h"

namespace suanli::runtime {
namespace {

// A 2-layer tiny Q8_0 model, `edit` applied to its spec, synthesized once per process.
std::string SynthTiny(const std::string& file, void (*edit)(SynthSpec&)) {
  const std::string dir = std::filesystem::temp_directory_path() / "suanli-runtime-test";
  std::filesystem::create_directories(dir);
  const std::string p = dir + "/" + file;
  auto vocab = EmbeddedVocab();
  EXPECT_TRUE(vocab.ok());
  SynthSpec spec;
  EXPECT_TRUE(ApplyShapePreset("tiny", &spec).ok());
  EXPECT_TRUE(ApplyTypePreset("q8_0", &spec).ok());
  spec.n_layers = 2;
  edit(spec);
  EXPECT_TRUE(SynthesizeModel(spec, **vocab, p).ok());
  return p;
}

const std::string& TinyModel() {
  static const std::string path = SynthTiny("tiny-q8_0.gguf", [](SynthSpec&) {});
  return path;
}

// A mixture of experts: 8 experts of which each token runs 2 (rows of one step pick different
// ones, so the grouped expert products mix sequences).
const std::string& TinyMoeModel() {
  static const std::string path = SynthTiny("tiny-moe-q8_0.gguf", [](SynthSpec& s) {
    s.arch = "qwen3moe";
    s.n_expert = 8, s.n_expert_used = 2, s.expert_ffn_dim = 128;
  });
  return path;
}

// gemma3 with a window of 8: 5 of its 6 layers slide, in rings when the batch is small enough
// (model/footprint.h KvLayoutFor): steps of 7 tokens ring, steps of 512 do not.
const std::string& TinySlidingModel() {
  static const std::string path = SynthTiny("tiny-swa-q8_0.gguf", [](SynthSpec& s) {
    s.arch = "gemma3";
    s.n_layers = 6, s.sliding_window = 8, s.head_dim = 32;
  });
  return path;
}

std::unique_ptr<Runtime> Open(int64_t step_tokens, int64_t max_seqs, bool prefix = true,
                              const std::string& model = TinyModel()) {
  RuntimeOptions o;
  o.model.path = model;
  o.threads = 2;
  o.n_ctx = 256;
  o.max_seqs = max_seqs;
  o.step_tokens = step_tokens;
  o.prefix_cache = prefix;
  auto rt = Runtime::Open(o);
  EXPECT_TRUE(rt.ok()) << rt.status().ToString();
  return std::move(*rt);
}

std::vector<int32_t> Prompt(int n, int salt) {
  std::vector<int32_t> p = {1};
  for (int i = 1; i < n; ++i) p.push_back(100 + (i * 37 + salt * 101) % 5000);
  return p;
}

struct Rows {
  std::vector<float> logits;  // every row: prompt positions, then one per generated token
  std::vector<int32_t> tokens;
};

GenerationRequest EvalRequest(std::vector<int32_t> prompt, int64_t n) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = n;
  r.ignore_eos = true;
  r.sampling.temperature = 0;
  r.logits = LogitsWant::kAll;
  return r;
}

Rows Drain(RequestHandle h) {
  Rows r;
  while (auto e = h.Next(std::chrono::seconds(60))) {
    if (e->kind == Event::Kind::kPromptLogits || e->kind == Event::Kind::kToken)
      r.logits.insert(r.logits.end(), e->logits.begin(), e->logits.end());
    if (e->kind == Event::Kind::kToken) r.tokens.push_back(e->token);
    EXPECT_TRUE(e->kind != Event::Kind::kFinish || e->status.ok()) << e->status.ToString();
    if (e->kind == Event::Kind::kDone) break;
  }
  return r;
}

// Batch invariance holds on every kernel variant (they all follow the canonical reduction order
// of kernels/kernels.h), so each test runs once per variant this CPU has.
class Invariance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { old_ = kernels::UseVariant(GetParam()); }
  void TearDown() override { kernels::UseVariant(old_); }
  std::string old_;
};
INSTANTIATE_TEST_SUITE_P(Variants, Invariance,
                         ::testing::ValuesIn(kernels::AvailableVariantNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

void ExpectAloneChunkedAndMixedAgree(const std::string& model) {
  const auto prompt = Prompt(45, 1);
  Rows alone;
  {
    auto rt = Open(512, 4, true, model);
    alone = Drain(*rt->Submit(EvalRequest(prompt, 6)));
  }
  ASSERT_EQ(alone.logits.size(), (45u + 5u) * 32000u);
  // Prompt chunks of 7 tokens, three other sequences prefilling and decoding beside it.
  auto rt = Open(7, 4, true, model);
  std::vector<RequestHandle> others;
  for (int i = 2; i < 5; ++i) others.push_back(*rt->Submit(EvalRequest(Prompt(20 + i * 9, i), 9)));
  Rows mixed = Drain(*rt->Submit(EvalRequest(prompt, 6)));
  for (auto& h : others) Drain(h);
  EXPECT_EQ(mixed.tokens, alone.tokens);
  ASSERT_EQ(mixed.logits.size(), alone.logits.size());
  EXPECT_EQ(
      std::memcmp(mixed.logits.data(), alone.logits.data(), alone.logits.size() * sizeof(float)),
      0);
}

TEST_P(Invariance, AloneChunkedAndInAMixedBatchGiveTheSameLogits) {
  ExpectAloneChunkedAndMixedAgree(TinyModel());
}
TEST_P(Invariance, MixtureOfExpertsAloneChunkedAndMixedGiveTheSameLogits) {
  ExpectAloneChunkedAndMixedAgree(TinyMoeModel());
}
TEST_P(Invariance, SlidingWindowRingsAloneChunkedAndMixedGiveTheSameLogits) {
  {
    auto rt = Open(7, 4, true, TinySlidingModel());
    ASSERT_TRUE(rt->executor().lane(0).kv.ring());
    auto alone = Open(512, 4, true, TinySlidingModel());
    ASSERT_FALSE(alone->executor().lane(0).kv.ring());
  }
  ExpectAloneChunkedAndMixedAgree(TinySlidingModel());
}

// A lane with rings shares no prefix (each window is in its own sequence's ring): a repeated
// prompt is computed again, with the same logits, and n > 1 choices each prefill their own.
TEST(Runtime, SlidingWindowRingsComputeEveryPrompt) {
  auto rt = Open(16, 2, true, TinySlidingModel());
  ASSERT_TRUE(rt->executor().lane(0).kv.ring());
  const auto prompt = Prompt(70, 3);
  Rows a = Drain(*rt->Submit(EvalRequest(prompt, 3)));
  Rows b = Drain(*rt->Submit(EvalRequest(prompt, 3)));
  EXPECT_EQ(rt->Stats().prefix_hit_blocks, 0u);
  EXPECT_EQ(a.tokens, b.tokens);
  ASSERT_EQ(a.logits.size(), b.logits.size());
  EXPECT_EQ(std::memcmp(a.logits.data(), b.logits.data(), a.logits.size() * sizeof(float)), 0);
  GenerationRequest two = EvalRequest(prompt, 3);
  two.n = 2;
  two.logits = LogitsWant::kNone;
  RequestHandle h = *rt->Submit(two);
  int tokens = 0;
  while (auto e = h.Next(std::chrono::seconds(60))) {
    if (e->kind == Event::Kind::kToken) ++tokens;
    EXPECT_TRUE(e->kind != Event::Kind::kFinish || e->status.ok()) << e->status.ToString();
    if (e->kind == Event::Kind::kDone) break;
  }
  EXPECT_EQ(tokens, 6);
}

TEST_P(Invariance, PrefixCacheGivesTheSameLogitsAsComputing) {
  auto base = Prompt(70, 3);
  auto longer = base;
  for (int i = 0; i < 9; ++i) longer.push_back(2000 + i);
  Rows cold, warm;
  {
    auto rt = Open(512, 2, /*prefix=*/false);
    cold = Drain(*rt->Submit(EvalRequest(longer, 4)));
  }
  {
    auto rt = Open(512, 2, /*prefix=*/true);
    Drain(*rt->Submit(EvalRequest(base, 3)));
    RequestHandle h = *rt->Submit(EvalRequest(longer, 4));
    warm = Drain(h);
    EXPECT_GT(rt->Stats().prefix_hit_blocks, 0u);
  }
  EXPECT_EQ(warm.tokens, cold.tokens);
  // The cached request returns rows only for the positions it computed (from 64 on).
  const size_t vocab = 32000, skip = 64 * vocab;
  ASSERT_EQ(warm.logits.size() + skip, cold.logits.size());
  EXPECT_EQ(std::memcmp(warm.logits.data(), cold.logits.data() + skip,
                        warm.logits.size() * sizeof(float)),
            0);
}

// Device invariance: a forward pass on every variant gives the scalar reference's bytes (so a pool
// of an AVX2 laptop and an AVX-512 desktop computes exactly what one device would).
void ExpectVariantsAgree(const std::string& model) {
  const auto prompt = Prompt(37, 7);
  std::vector<Rows> got;
  const auto names = kernels::AvailableVariantNames();
  for (const auto& name : names) {
    const std::string old = kernels::UseVariant(name);
    {
      auto rt = Open(16, 2, true, model);
      got.push_back(Drain(*rt->Submit(EvalRequest(prompt, 5))));
    }
    kernels::UseVariant(old);
  }
  ASSERT_EQ(names.front(), "scalar");
  ASSERT_EQ(got[0].logits.size(), (37u + 4u) * 32000u);
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_EQ(got[i].tokens, got[0].tokens) << names[i];
    ASSERT_EQ(got[i].logits.size(), got[0].logits.size()) << names[i];
    EXPECT_EQ(std::memcmp(got[i].logits.data(), got[0].logits.data(),
                          got[0].logits.size() * sizeof(float)),
              0)
        << names[i] << " differs from the scalar reference";
  }
}

TEST(DeviceInvariance, EveryVariantGivesTheReferenceLogits) {
  for (const std::string& model : {TinyModel(), TinyMoeModel(), TinySlidingModel()})
    ExpectVariantsAgree(model);
}

// Greedy generation through the runtime is exactly what the one-sequence Session generates.
TEST(Runtime, MatchesSessionGreedy) {
  auto rt = Open(512, 2);
  const auto prompt = Prompt(30, 5);
  GenerationRequest r;
  r.prompt = prompt;
  r.max_tokens = 20;
  r.ignore_eos = true;
  r.sampling.temperature = 0;
  Rows got = Drain(*rt->Submit(r));

  ThreadPool pool(2);
  Session session(rt->model(), pool, 256);
  SamplerParams greedy;
  greedy.temperature = 0;
  std::vector<int32_t> want;
  auto t = session.FeedAndSample(prompt, greedy);
  for (int i = 0; i < 20 && t.ok(); ++i) {
    want.push_back(*t);
    const int32_t one[1] = {*t};
    if (i + 1 < 20) t = session.FeedAndSample(one, greedy);
  }
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(got.tokens, want);
}

// One sequence at a time: requests queue and each runs once the previous one has left (its
// sampler state is dropped before the next sequence's first step — this once failed with "more
// than 1 sequences in flight").
TEST(Runtime, OneSequenceAtATimeQueues) {
  auto rt = Open(512, 1);
  std::vector<RequestHandle> hs;
  for (int i = 0; i < 4; ++i) {
    GenerationRequest r;
    r.prompt = Prompt(10 + i, i);
    r.max_tokens = 5;
    r.ignore_eos = true;
    r.sampling.temperature = 0;
    hs.push_back(*rt->Submit(r));
  }
  for (auto& h : hs) EXPECT_EQ(Drain(h).tokens.size(), 5u);
}

TEST(Runtime, SeededSamplingIsReproducibleAndChoicesDiffer) {
  auto rt = Open(512, 4);
  GenerationRequest r;
  r.prompt = Prompt(12, 9);
  r.max_tokens = 16;
  r.ignore_eos = true;
  r.sampling.temperature = 1.0f;
  r.sampling.top_k = 0;
  r.sampling.top_p = 1.0f;
  r.sampling.min_p = 0;
  r.sampling.seed = 1234;
  r.n = 2;
  auto collect = [&](RequestHandle h) {
    std::vector<std::vector<int32_t>> t(2);
    while (auto e = h.Next(std::chrono::seconds(60))) {
      if (e->kind == Event::Kind::kToken) t[static_cast<size_t>(e->choice)].push_back(e->token);
      if (e->kind == Event::Kind::kDone) break;
    }
    return t;
  };
  auto a = collect(*rt->Submit(r));
  auto b = collect(*rt->Submit(r));
  EXPECT_EQ(a, b);
  EXPECT_NE(a[0], a[1]);  // choice i draws with seed + i
  EXPECT_EQ(a[0].size(), 16u);
}

}  // namespace
}  // namespace suanli::runtime
