// suanli bench: prefill and decode speed, with decode measured against the memory roofline.
//
// roofline tok/s = read bandwidth (measured in the same run: a vectorized sum over >= 1 GiB on
// all threads, best of several) / bytes of weights one decode step reads (every layer matrix and
// the output matrix, plus one embedding row). Without -m it synthesizes the Llama-3.2-1B shape in
// three quantizations (Q4_0, Q8_0, Q4_K_M) into the cache directory.
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <optional>
#include <random>
#include <thread>

#include "base/memory_usage.h"
#include "base/progress.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "cli/common.h"
#include "cli/pool_options.h"
#include "engine/session.h"
#include "kernels/kernels.h"
#include "kernels/membw.h"
#include "model/default_model.h"
#include "model/synth.h"

namespace suanli::cli {
namespace {

struct BenchArgs {
  std::string model;
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int threads = 0;
  int64_t ctx_size = 0;  // 0: just enough for the prompt or the decode run
  int repeats = 2;
  bool json = false;
  double bw_gib = 1.0;
  std::string weights = "mmap";
  int64_t parallel = 1;
  PoolFlags pool;
};

// The three 1B files, synthesized once into the cache.
StatusOr<std::vector<std::string>> DefaultBenchModels() {
  SL_ASSIGN_OR_RETURN(std::string dir, CacheDir());
  std::vector<std::string> paths;
  for (const char* preset : {"q4_0", "q8_0", "q4_k_m"}) {
    const std::string path = dir + "/bench-1b-" + preset + "-v1.gguf";
    paths.push_back(path);
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) continue;
    SL_ASSIGN_OR_RETURN(auto vocab, EmbeddedVocab());
    SynthSpec spec;
    spec.name = std::string("suanli bench 1B ") + preset + " (random weights)";
    SL_RETURN_IF_ERROR(ApplyShapePreset("1b", &spec));
    SL_RETURN_IF_ERROR(ApplyTypePreset(preset, &spec));
    std::fprintf(stderr, "suanli: synthesizing %s (Llama-3.2-1B shape, random weights)\n",
                 path.c_str());
    std::optional<ProgressBar> bar;
    SL_RETURN_IF_ERROR(SynthesizeModel(spec, *vocab, path, [&](uint64_t done, uint64_t total) {
      if (!bar) bar.emplace("synthesizing", total);
      bar->Update(done);
    }));
  }
  return paths;
}

// Through a pool (or, with --parallel, several streams at once): prefill and decode of one
// stream, then N streams decoding together; the ratio is aggregate over single-stream tok/s.
int RunPoolBench(const BenchArgs& a, const std::string& path) {
  ModelOptions mo;
  mo.model = path;
  mo.threads = a.threads;
  const bool pooled = a.pool.active();
  auto loaded = LoadModel(mo, !pooled, !pooled);
  if (!loaded.ok()) return Fail(loaded.status());
  const Loaded& l = *loaded;
  const HParams& hp = l.model->hparams();
  const int64_t n_ctx = a.ctx_size > 0 ? a.ctx_size : std::max(a.n_prompt, a.n_gen) + 16;
  auto backend = Backend::Open(l, a.pool, n_ctx, a.parallel,
                               std::min<int64_t>(512, std::max<int64_t>(1, a.n_prompt)));
  if (!backend.ok()) return Fail(backend.status());
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(hp.n_vocab - 1));
  // Greedy decode as generate runs it: the last stage samples, only token ids travel.
  SamplerParams greedy;
  greedy.temperature = 0;
  auto decode = [&](Sequence& seq, int64_t n, int32_t tok) -> StatusOr<double> {
    SL_RETURN_IF_ERROR(seq.Reset());
    const double t0 = NowSeconds();
    for (int64_t i = 0; i < n; ++i) {
      const int32_t one[1] = {tok};
      SL_ASSIGN_OR_RETURN(tok, seq.FeedAndSample(one, greedy));
    }
    return static_cast<double>(n) / (NowSeconds() - t0);
  };
  std::unique_ptr<Sequence> seq = (*backend)->NewSequence();
  std::vector<float> logits;
  {
    std::vector<int32_t> warm(16);
    for (auto& t : warm) t = pick(rng);
    if (Status st = seq->Feed(warm, false, &logits); !st.ok()) return Fail(st);
  }
  double prefill = 0, single = 0;
  if (a.n_prompt > 0) {
    std::vector<int32_t> prompt(static_cast<size_t>(a.n_prompt));
    for (auto& t : prompt) t = pick(rng);
    for (int r = 0; r < a.repeats; ++r) {
      (void)seq->Reset();
      const double t0 = NowSeconds();
      if (Status st = seq->Feed(prompt, false, &logits); !st.ok()) return Fail(st);
      prefill = std::max(prefill, static_cast<double>(a.n_prompt) / (NowSeconds() - t0));
    }
  }
  if (a.n_gen > 0)
    for (int r = 0; r < a.repeats; ++r) {
      auto d = decode(*seq, a.n_gen, pick(rng));
      if (!d.ok()) return Fail(d.status());
      single = std::max(single, *d);
    }
  double aggregate = 0;
  if (a.parallel > 1 && a.n_gen > 0) {
    seq.reset();  // its KV cache slot goes to the parallel streams
    std::vector<std::unique_ptr<Sequence>> seqs;
    for (int64_t i = 0; i < a.parallel; ++i) seqs.push_back((*backend)->NewSequence());
    for (int r = 0; r < a.repeats; ++r) {
      std::vector<Status> errors(seqs.size());
      const double t0 = NowSeconds();
      std::vector<std::thread> threads;
      for (size_t i = 0; i < seqs.size(); ++i)
        threads.emplace_back([&, i] {
          auto d = decode(*seqs[i], a.n_gen, static_cast<int32_t>(i % hp.n_vocab));
          if (!d.ok()) errors[i] = d.status();
        });
      for (auto& t : threads) t.join();
      for (const Status& e : errors)
        if (!e.ok()) return Fail(e);
      aggregate =
          std::max(aggregate, static_cast<double>(a.n_gen * a.parallel) / (NowSeconds() - t0));
    }
  }
  cluster::Pool* pool = (*backend)->pool();
  const double predicted = pool ? pool->plan().tokens_per_second : 0;
  const double predicted_single =
      pool && pool->predicted_latency() > 0 ? 1 / pool->predicted_latency() : 0;
  if (a.json) {
    nlohmann::json j;
    j["model"] = path;
    j["backend"] = (*backend)->Describe();
    j["n_prompt"] = a.n_prompt;
    j["n_gen"] = a.n_gen;
    j["prefill_tok_s"] = prefill;
    j["decode_tok_s"] = single;
    j["parallel"] = a.parallel;
    j["parallel_tok_s"] = aggregate;
    j["parallel_speedup"] = single > 0 ? aggregate / single : 0;
    j["predicted_decode_tok_s"] = predicted_single;
    j["predicted_throughput_tok_s"] = predicted;
    std::puts(j.dump().c_str());
  } else {
    std::printf("%s (%s)\n  prefill %lld tokens: %.1f tok/s\n  decode %lld tokens: %.2f tok/s",
                path.c_str(), (*backend)->Describe().c_str(), static_cast<long long>(a.n_prompt),
                prefill, static_cast<long long>(a.n_gen), single);
    if (pool) std::printf(" (placement predicted %.2f tok/s)", predicted_single);
    std::printf("\n");
    if (a.parallel > 1)
      std::printf("  %lld streams: %.2f tok/s in all = %.2fx one stream\n",
                  static_cast<long long>(a.parallel), aggregate,
                  single > 0 ? aggregate / single : 0);
  }
  std::fflush(stdout);
  return 0;
}

int RunBench(const BenchArgs& a) {
  std::vector<std::string> paths;
  if (!a.model.empty()) {
    paths.push_back(a.model);
  } else {
    auto p = DefaultBenchModels();
    if (!p.ok()) return Fail(p.status());
    paths = *p;
  }
  if (a.pool.active() || a.parallel > 1) {
    if (!a.pool.active())
      return Fail("--parallel needs a pool (--workers): one device runs one stream at a time");
    for (const std::string& path : paths)
      if (int rc = RunPoolBench(a, path); rc != 0) return rc;
    return 0;
  }
  const int threads = a.threads > 0 ? a.threads : ThreadPool::HardwareThreads();
  ThreadPool pool(threads);
  // Shared machines' bandwidth drifts, so it is measured right before and after each decode run
  // and the higher reading is the roofline (the conservative fraction).
  const size_t bw_bytes = static_cast<size_t>(a.bw_gib * 1024 * 1024 * 1024);
  auto measure_bw = [&] { return kernels::MeasureReadBandwidthGBs(pool, bw_bytes, 3); };
  if (!a.json)
    std::printf("CPU kernels: %s, threads: %d, memory read bandwidth: %.1f GB/s\n",
                kernels::ActiveVariant().c_str(), threads, measure_bw());
  for (const std::string& path : paths) {
    auto mode = ParseLoadMode(a.weights);
    if (!mode.ok()) return Fail(mode.status());
    auto m = Model::Load(path, {}, *mode);
    if (!m.ok()) return Fail(m.status());
    const Model& model = **m;
    model.Prefault();
    const HParams& hp = model.hparams();
    const int64_t n_ctx = a.ctx_size > 0 ? a.ctx_size : std::max(a.n_prompt, a.n_gen) + 16;
    if (n_ctx < std::max(a.n_prompt, a.n_gen) + 16)
      return Fail("-c/--ctx-size " + std::to_string(n_ctx) + " is too small for -p " +
                  std::to_string(a.n_prompt) + " and -n " + std::to_string(a.n_gen));
    if (n_ctx > hp.n_ctx_train)
      std::fprintf(stderr, "suanli: note: bench context %lld exceeds the model's %lld\n",
                   static_cast<long long>(n_ctx), static_cast<long long>(hp.n_ctx_train));
    Session session(model, pool, n_ctx, std::min<int64_t>(512, std::max<int64_t>(1, a.n_prompt)));
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(hp.n_vocab - 1));
    std::vector<float> logits;
    // Warm-up: caches, thread spin-up, first-touch of scratch buffers.
    {
      std::vector<int32_t> warm(
          static_cast<size_t>(std::min<int64_t>(16, a.n_prompt > 0 ? a.n_prompt : 16)));
      for (auto& t : warm) t = pick(rng);
      if (Status st = session.Feed(warm, false, &logits); !st.ok()) return Fail(st);
    }
    double prefill = 0, decode = 0;
    if (a.n_prompt > 0) {
      std::vector<int32_t> prompt(static_cast<size_t>(a.n_prompt));
      for (auto& t : prompt) t = pick(rng);
      for (int r = 0; r < a.repeats; ++r) {
        (void)session.Reset();
        double t0 = NowSeconds();
        if (Status st = session.Feed(prompt, false, &logits); !st.ok()) return Fail(st);
        prefill = std::max(prefill, static_cast<double>(a.n_prompt) / (NowSeconds() - t0));
      }
    }
    double bw = measure_bw();
    if (a.n_gen > 0) {
      for (int r = 0; r < a.repeats; ++r) {
        (void)session.Reset();
        int32_t tok = pick(rng);
        double t0 = NowSeconds();
        for (int64_t i = 0; i < a.n_gen; ++i) {
          const int32_t one[1] = {tok};
          if (Status st = session.Feed(one, false, &logits); !st.ok()) return Fail(st);
          tok = Sampler::Argmax(logits.data(), hp.n_vocab);
        }
        decode = std::max(decode, static_cast<double>(a.n_gen) / (NowSeconds() - t0));
      }
    }
    bw = std::max(bw, measure_bw());
    const double bytes = static_cast<double>(model.weights().DecodeBytesPerToken());
    // Weights are mapped, not copied: anonymous memory is KV cache, scratch and the tokenizer.
    const MemoryUsage mem = ReadMemoryUsage();
    const double roofline = bw * 1e9 / bytes;
    const double fraction = decode / roofline;
    if (a.json) {
      nlohmann::json j;
      j["model"] = path;
      j["threads"] = threads;
      j["n_prompt"] = a.n_prompt;
      j["n_gen"] = a.n_gen;
      j["prefill_tok_s"] = prefill;
      j["decode_tok_s"] = decode;
      j["bandwidth_gb_s"] = bw;
      j["decode_bytes_per_token"] = bytes;
      j["roofline_tok_s"] = roofline;
      j["roofline_fraction"] = fraction;
      j["kernels"] = kernels::ActiveVariant();
      j["weights"] = a.weights;
      j["rss_file_bytes"] = mem.rss_file_bytes;
      j["rss_anon_bytes"] = mem.rss_anon_bytes;
      j["kv_cache_bytes"] = session.kv_bytes();
      std::puts(j.dump().c_str());
    } else {
      std::printf(
          "%s\n  prefill %lld tokens: %.1f tok/s\n  decode %lld tokens: %.2f tok/s = %.1f%% of "
          "roofline (%.2f tok/s: %.1f GB/s / %s per token)\n  memory: %s mapped weights "
          "resident, %s allocated (KV cache %s)\n",
          path.c_str(), static_cast<long long>(a.n_prompt), prefill,
          static_cast<long long>(a.n_gen), decode, 100 * fraction, roofline, bw,
          HumanBytes(bytes).c_str(), HumanBytes(static_cast<double>(mem.rss_file_bytes)).c_str(),
          HumanBytes(static_cast<double>(mem.rss_anon_bytes)).c_str(),
          HumanBytes(static_cast<double>(session.kv_bytes())).c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

void AddBenchCommand(CLI::App& app, RunFn* run) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand(
      "bench", "Measure prefill and decode tok/s and decode's fraction of the memory roofline");
  sub->add_option("-m,--model", a->model,
                  "GGUF model (default: Llama-3.2-1B-shaped Q4_0, Q8_0 and Q4_K_M files, "
                  "synthesized on first use)");
  sub->add_option("-p,--n-prompt", a->n_prompt, "Prompt tokens for prefill (default 512)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 16));
  sub->add_option("-n,--n-gen", a->n_gen, "Tokens to decode from an empty context (default 128)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 16));
  sub->add_option("-t,--threads", a->threads, "Threads (default: all cores)")
      ->check(CLI::Range(1, 1024));
  sub->add_option("-c,--ctx-size", a->ctx_size,
                  "KV cache size in tokens (default: enough for -p and -n)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  sub->add_option("-r,--repeats", a->repeats,
                  "Runs of each measurement; the best counts (default 2)")
      ->check(CLI::Range(1, 100));
  sub->add_option("--bandwidth-gib", a->bw_gib,
                  "Buffer for the bandwidth measurement (default 1 GiB)")
      ->check(CLI::Range(0.01, 64.0));
  sub->add_flag("--json", a->json, "One JSON object per model, one per line");
  AddWeightsOption(sub, &a->weights);
  sub->add_option("--parallel", a->parallel,
                  "Also run N streams at once through the pool and report the aggregate tok/s")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  AddPoolOptions(sub, &a->pool);
  sub->callback([a, run] { *run = [a] { return RunBench(*a); }; });
}

}  // namespace suanli::cli
