// The whole runtime (scheduler, PoolExecutor, Pool) over three in-process workers on the fake
// network (cluster/fake_transport.h): a worker killed, frozen or cut off mid-request, and every
// request still ends with exactly the tokens of the undisturbed run (--act f32).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cluster/fake_transport.h"
#include "cluster/worker.h"
#include "model/default_model.h"
#include "model/synth.h"
#include "runtime/runtime.h"

namespace suanli::runtime {
namespace {

namespace fs = std::filesystem;
constexpr const char* kToken = "pool-fake-test-token";

class PoolFakeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        (fs::path(::testing::TempDir()) / ("suanli-poolfake-" + std::to_string(getpid())))
            .string());
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ + "/models");
    auto vocab = EmbeddedVocab();
    ASSERT_TRUE(vocab.ok());
    SynthSpec spec;
    ASSERT_TRUE(ApplyShapePreset("tiny", &spec).ok());
    ASSERT_TRUE(ApplyTypePreset("q8_0", &spec).ok());
    ASSERT_TRUE(SynthesizeModel(spec, **vocab, *dir_ + "/models/m.gguf").ok());
    spec.arch = "qwen3moe";
    spec.n_expert = 8, spec.n_expert_used = 2, spec.expert_ffn_dim = 128;
    ASSERT_TRUE(SynthesizeModel(spec, **vocab, *dir_ + "/models/moe.gguf").ok());
    spec.arch = "gemma3";  // 5 sliding layers of 6, a window of 8
    spec.n_layers = 6, spec.sliding_window = 8, spec.head_dim = 32;
    ASSERT_TRUE(SynthesizeModel(spec, **vocab, *dir_ + "/models/swa.gguf").ok());
  }
  static void TearDownTestSuite() { fs::remove_all(*dir_); }
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      const std::string name = std::string(1, 'w') + std::to_string(i + 1);
      cluster::WorkerOptions o;
      o.listen = name + ":0";
      o.threads = 1;
      o.transport = net_.Node(name);
      o.security.token = kToken;
      o.model_dir = *dir_ + "/models";
      o.cache_dir = *dir_ + "/" + name;
      o.profile_cache_dir = *dir_ + "/profile";
      o.profile.seconds_per_kernel = 0.005;
      o.profile.matvec_bytes = 4 << 20;
      o.profile.bandwidth_bytes = 4 << 20;
      auto w = cluster::WorkerServer::Start(o);
      ASSERT_TRUE(w.ok()) << w.status().message();
      workers_.push_back(std::move(*w));
    }
  }
  std::unique_ptr<Runtime> Open(const std::string& model = "m", bool pool = true,
                                int64_t step_tokens = 512) {
    RuntimeOptions o;
    o.model.path = *dir_ + "/models/" + model + ".gguf";
    o.n_ctx = 256;
    o.max_seqs = 2;
    o.step_tokens = step_tokens;
    if (!pool) {
      auto rt = Runtime::Open(o);
      EXPECT_TRUE(rt.ok()) << rt.status().message();
      return rt.ok() ? std::move(*rt) : nullptr;
    }
    PoolOptions p;
    for (auto& w : workers_) p.workers.push_back(w->address());
    p.split = model == "swa" ? std::vector<int64_t>{2, 2, 2} : std::vector<int64_t>{2, 1, 1};
    p.act = placement::ActFormat::kF32;
    p.security.token = kToken;
    p.detect_seconds = 1;
    p.recovery_seconds = 20;
    p.transport = net_.Node("head");
    o.pool = p;
    auto rt = Runtime::Open(o);
    EXPECT_TRUE(rt.ok()) << rt.status().message();
    return rt.ok() ? std::move(*rt) : nullptr;
  }
  static GenerationRequest Request(int salt) {
    GenerationRequest r;
    r.prompt = {1};
    for (int i = 1; i < 12; ++i) r.prompt.push_back(100 + (i * 37 + salt * 101) % 5000);
    r.max_tokens = 60;
    r.ignore_eos = true;
    r.sampling.temperature = salt == 0 ? 0 : 0.8;  // greedy and seeded
    r.sampling.seed = 7;
    return r;
  }
  // Runs two requests; `disturb` is called once each has 10 tokens.
  std::vector<std::vector<int32_t>> Run(Runtime& rt, const std::function<void()>& disturb) {
    std::vector<RequestHandle> hs;
    for (int s = 0; s < 2; ++s) hs.push_back(*rt.Submit(Request(s)));
    std::vector<std::vector<int32_t>> out(2);
    bool disturbed = false;
    for (int s = 0; s < 2; ++s) {
      while (auto e = hs[s].Next(std::chrono::seconds(60))) {
        if (e->kind == Event::Kind::kToken) out[s].push_back(e->token);
        EXPECT_TRUE(e->kind != Event::Kind::kFinish || e->status.ok()) << e->status.ToString();
        if (e->kind == Event::Kind::kDone) break;
        if (!disturbed && out[s].size() == 10) {
          disturbed = true;
          disturb();
        }
      }
    }
    return out;
  }

  static std::string* dir_;
  cluster::FakeNetwork net_;
  std::vector<std::unique_ptr<cluster::WorkerServer>> workers_;
};
std::string* PoolFakeTest::dir_ = nullptr;

// A mixture of experts split over three workers computes what one device does (each stage binds
// its layers' stacked experts), here through a killed stage's recovery too.
TEST_F(PoolFakeTest, MixtureOfExpertsThroughThePoolGivesTheLocalTokens) {
  std::vector<std::vector<int32_t>> want;
  {
    auto rt = Open("moe", /*pool=*/false);
    ASSERT_TRUE(rt);
    want = Run(*rt, [] {});
    ASSERT_EQ(want[0].size(), 60u);
  }
  auto rt = Open("moe");
  ASSERT_TRUE(rt);
  EXPECT_EQ(Run(*rt, [&] { net_.Kill("w2"); }), want);
  rt->Shutdown();
  rt.reset();
  net_.Revive("w2");
}

// Sliding-window rings on every stage (steps of 8 tokens make them smaller than the shared
// pool): the pool computes what one device does with its own rings, through a killed stage too.
TEST_F(PoolFakeTest, SlidingWindowRingsThroughThePoolGiveTheLocalTokens) {
  std::vector<std::vector<int32_t>> want;
  {
    auto rt = Open("swa", /*pool=*/false, 8);
    ASSERT_TRUE(rt);
    ASSERT_TRUE(rt->executor().lane(0).kv.ring());
    want = Run(*rt, [] {});
    ASSERT_EQ(want[0].size(), 60u);
  }
  auto rt = Open("swa", /*pool=*/true, 8);
  ASSERT_TRUE(rt);
  ASSERT_TRUE(rt->executor().lane(0).kv.ring());
  EXPECT_EQ(Run(*rt, [&] { net_.Kill("w2"); }), want);
  rt->Shutdown();
  rt.reset();
  net_.Revive("w2");
}

TEST_F(PoolFakeTest, EveryFaultGivesTheUndisturbedTokens) {
  std::vector<std::vector<int32_t>> want;
  {
    auto rt = Open();
    ASSERT_TRUE(rt);
    want = Run(*rt, [] {});
    ASSERT_EQ(want[0].size(), 60u);
    ASSERT_EQ(want[1].size(), 60u);
  }
  struct Fault {
    const char* name;
    std::function<void()> cause, undo;
  };
  const std::vector<Fault> faults = {
      {"kill stage 2", [&] { net_.Kill("w2"); }, [&] { net_.Revive("w2"); }},
      {"freeze stage 3", [&] { net_.Freeze("w3"); }, [&] { net_.Thaw("w3"); }},
      {"cut stage 1 from stage 2", [&] { net_.Partition("w1", "w2"); },
       [&] { net_.Heal("w1", "w2"); }},
  };
  for (const Fault& f : faults) {
    SCOPED_TRACE(f.name);
    auto rt = Open();
    ASSERT_TRUE(rt);
    EXPECT_EQ(Run(*rt, f.cause), want);
    rt->Shutdown();
    rt.reset();
    f.undo();
  }
}

}  // namespace
}  // namespace suanli::runtime
