// Mixture-of-experts decode and prefill against the dense model it should cost as much as: a
// qwen3moe file of E experts of which K run per token, and a qwen3 file whose FFN is K experts
// wide, every other shape the same (so a decoded token reads about the same weight bytes).
// Both are synthesized into a temporary directory, mapped as `suanli generate` maps them, and
// measured in alternating rounds in one process, so a busy machine slows both alike; the ratio
// MoE / dense is what the target (decode >= 0.8x) is about.
//
// Usage: moe_bench [--type q4_0|q8_0|q4_k_m] [--threads N] [--layers N] [--experts E]
//                  [--used K] [--expert-ffn F] [--rounds R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "engine/session.h"
#include "model/default_model.h"
#include "model/model.h"
#include "model/synth.h"

using namespace suanli;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Measured {
  std::vector<double> decode, prefill;  // tok/s of each round
};

// One round: a 128-token prompt from position 0, then 64 decoded tokens.
void Round(Session& s, Measured* m) {
  std::vector<int32_t> prompt(128);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(100 + i * 37 % 5000);
  std::vector<float> logits;
  (void)s.Reset();
  double t0 = Now();
  if (!s.Feed(prompt, false, &logits).ok()) std::abort();
  m->prefill.push_back(static_cast<double>(prompt.size()) / (Now() - t0));
  const int n = 64;
  t0 = Now();
  for (int i = 0; i < n; ++i) {
    const int32_t tok =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const int32_t one[1] = {tok};
    if (!s.Feed(one, false, &logits).ok()) std::abort();
  }
  m->decode.push_back(n / (Now() - t0));
}

}  // namespace

int main(int argc, char** argv) {
  std::string type = "q4_0";
  int threads = 2, layers = 8, rounds = 5;
  int64_t experts = 32, used = 4, expert_ffn = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--type")
      type = v;
    else if (a == "--threads")
      threads = std::atoi(v.c_str());
    else if (a == "--layers")
      layers = std::atoi(v.c_str());
    else if (a == "--experts")
      experts = std::atoll(v.c_str());
    else if (a == "--used")
      used = std::atoll(v.c_str());
    else if (a == "--expert-ffn")
      expert_ffn = std::atoll(v.c_str());
    else if (a == "--rounds")
      rounds = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s (see the header of bench/moe/moe_bench.cc)\n",
                   a.c_str());
      return 2;
    }
  }
  const auto dir = std::filesystem::temp_directory_path() / ("suanli-moe-bench-" + type);
  std::filesystem::create_directories(dir);
  auto vocab = EmbeddedVocab();
  if (!vocab.ok()) return std::fprintf(stderr, "%s\n", vocab.status().ToString().c_str()), 1;
  SynthSpec spec;
  if (!ApplyShapePreset("1b", &spec).ok() || !ApplyTypePreset(type, &spec).ok())
    return std::fprintf(stderr, "unknown type %s\n", type.c_str()), 1;
  spec.n_layers = layers, spec.n_vocab = 0, spec.n_ctx = 4096;
  spec.n_expert = experts, spec.n_expert_used = used, spec.expert_ffn_dim = expert_ffn;
  spec.ffn_dim = used * expert_ffn;  // the dense model's FFN: the active experts side by side
  std::vector<std::unique_ptr<Model>> models;
  for (const char* arch : {"qwen3", "qwen3moe"}) {
    spec.arch = arch;
    const std::string path = (dir / (std::string(arch) + ".gguf")).string();
    if (!std::filesystem::exists(path)) {
      std::fprintf(stderr, "synthesizing %s\n", path.c_str());
      if (Status st = SynthesizeModel(spec, **vocab, path); !st.ok())
        return std::fprintf(stderr, "%s\n", st.ToString().c_str()), 1;
    }
    auto m = Model::Load(path);
    if (!m.ok()) return std::fprintf(stderr, "%s\n", m.status().ToString().c_str()), 1;
    models.push_back(std::move(*m));
  }
  ThreadPool pool(threads);
  Session dense(*models[0], pool, 256), moe(*models[1], pool, 256);
  Measured md, mm;
  {
    Measured warm;
    Round(dense, &warm);
    Round(moe, &warm);
  }
  for (int r = 0; r < rounds; ++r) {
    Round(dense, &md);
    Round(moe, &mm);
  }
  const double dd = Median(md.decode), dm = Median(mm.decode);
  const double pd = Median(md.prefill), pm = Median(mm.prefill);
  const auto mib = [](const Model& m) {
    return static_cast<double>(m.weights().DecodeBytesPerToken()) / (1 << 20);
  };
  std::printf("%s, %d layers, dim %lld, %lld experts x %lld wide, %lld per token, %d threads\n",
              type.c_str(), layers, static_cast<long long>(spec.dim),
              static_cast<long long>(experts), static_cast<long long>(expert_ffn),
              static_cast<long long>(used), threads);
  std::printf("  weights read per token: dense %.1f MiB, moe %.1f MiB\n", mib(*models[0]),
              mib(*models[1]));
  std::printf("  decode  tok/s: dense %7.2f  moe %7.2f  = %.2fx (target >= 0.8x)\n", dd, dm,
              dm / dd);
  std::printf("  prefill tok/s: dense %7.2f  moe %7.2f  = %.2fx (128-token prompt)\n", pd, pm,
              pm / pd);
  return 0;
}
