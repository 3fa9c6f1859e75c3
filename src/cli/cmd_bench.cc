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
#include "cluster/head.h"
#include "kernels/kernels.h"
#include "kernels/membw.h"
#include "model/default_model.h"
#include "model/footprint.h"
#include "model/synth.h"
#include "runtime/runtime.h"

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

// One request's timing: seconds from submission to its first and last token.
struct Timing {
  double first = 0, last = 0;
  int64_t tokens = 0;
};

StatusOr<Timing> RunRequest(runtime::Runtime& rt, std::vector<int32_t> prompt, int64_t n) {
  runtime::GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = n;
  r.ignore_eos = true;
  r.sampling.temperature = 0;  // greedy, drawn where the logits are (the last stage of a pool)
  SL_ASSIGN_OR_RETURN(runtime::RequestHandle h, rt.Submit(std::move(r)));
  Timing t;
  Status st = Status::Ok();
  while (auto e = h.Next()) {
    if (e->kind == runtime::Event::Kind::kToken) {
      if (t.tokens++ == 0) t.first = e->seconds;
      t.last = e->seconds;
    }
    if (e->kind == runtime::Event::Kind::kFinish && !e->status.ok()) st = e->status;
  }
  SL_RETURN_IF_ERROR(st);
  return t;
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
  auto pool_opts = ResolvePool(a.pool);
  if (!pool_opts.ok()) return Fail(pool_opts.status());
  const bool pooled = pool_opts->has_value();
  const int threads = a.threads > 0 ? a.threads : ThreadPool::HardwareThreads();
  // The bandwidth measurement's own threads (the runtime's are idle while it runs). Shared
  // machines' bandwidth drifts, so it is measured right before and after each decode run and the
  // higher reading is the roofline (the conservative fraction).
  std::unique_ptr<ThreadPool> bw_pool;
  const size_t bw_bytes = static_cast<size_t>(a.bw_gib * 1024 * 1024 * 1024);
  auto measure_bw = [&] { return kernels::MeasureReadBandwidthGBs(*bw_pool, bw_bytes, 3); };
  if (!pooled) {
    bw_pool = std::make_unique<ThreadPool>(threads);
    if (!a.json)
      std::printf("CPU kernels: %s, threads: %d, memory read bandwidth: %.1f GB/s\n",
                  kernels::ActiveVariant().c_str(), threads, measure_bw());
  }
  for (const std::string& path : paths) {
    runtime::RuntimeOptions ro;
    ro.model.path = path;
    auto mode = ParseLoadMode(a.weights);
    if (!mode.ok()) return Fail(mode.status());
    ro.model.weights = *mode;
    ro.threads = threads;
    ro.n_ctx = a.ctx_size > 0 ? a.ctx_size : std::max(a.n_prompt, a.n_gen) + 16;
    if (ro.n_ctx < std::max(a.n_prompt, a.n_gen) + 16)
      return Fail("-c/--ctx-size " + std::to_string(ro.n_ctx) + " is too small for -p " +
                  std::to_string(a.n_prompt) + " and -n " + std::to_string(a.n_gen));
    ro.max_seqs = a.parallel;
    ro.step_tokens = std::min<int64_t>(512, std::max<int64_t>(1, a.n_prompt));
    ro.prefix_cache = false;  // every measurement computes its whole prompt
    ro.pool = *pool_opts;
    auto opened = runtime::Runtime::Open(ro);
    if (!opened.ok()) return Fail(opened.status());
    runtime::Runtime& rt = **opened;
    const HParams& hp = rt.model().hparams();
    if (ro.n_ctx > hp.n_ctx_train)
      std::fprintf(stderr, "suanli: note: bench context %lld exceeds the model's %lld\n",
                   static_cast<long long>(ro.n_ctx), static_cast<long long>(hp.n_ctx_train));
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(hp.n_vocab - 1));
    auto random_prompt = [&](int64_t n) {
      std::vector<int32_t> p(static_cast<size_t>(n));
      for (auto& t : p) t = pick(rng);
      return p;
    };
    // Warm-up: caches, thread spin-up, first touch of scratch buffers.
    if (auto w = RunRequest(
            rt, random_prompt(std::min<int64_t>(16, std::max<int64_t>(1, a.n_prompt))), 1);
        !w.ok())
      return Fail(w.status());
    double prefill = 0, decode = 0, aggregate = 0;
    // Prefill: a prompt until its first token (one forward pass over the prompt and one draw).
    if (a.n_prompt > 0)
      for (int r = 0; r < a.repeats; ++r) {
        auto t = RunRequest(rt, random_prompt(a.n_prompt), 1);
        if (!t.ok()) return Fail(t.status());
        prefill = std::max(prefill, static_cast<double>(a.n_prompt) / t->first);
      }
    double bw = bw_pool ? measure_bw() : 0;
    // Decode from an empty context: tokens after the first, over the time between them.
    if (a.n_gen > 1)
      for (int r = 0; r < a.repeats; ++r) {
        auto t = RunRequest(rt, random_prompt(1), a.n_gen);
        if (!t.ok()) return Fail(t.status());
        if (t->last > t->first)
          decode = std::max(decode, static_cast<double>(t->tokens - 1) / (t->last - t->first));
      }
    if (bw_pool) bw = std::max(bw, measure_bw());
    // --parallel: N streams decoding at once (continuous batching); aggregate tokens/s.
    if (a.parallel > 1 && a.n_gen > 0)
      for (int r = 0; r < a.repeats; ++r) {
        std::vector<StatusOr<Timing>> results(static_cast<size_t>(a.parallel), Timing{});
        std::vector<std::vector<int32_t>> prompts;
        for (int64_t i = 0; i < a.parallel; ++i) prompts.push_back(random_prompt(1));
        const double t0 = NowSeconds();
        std::vector<std::thread> clients;
        for (int64_t i = 0; i < a.parallel; ++i)
          clients.emplace_back([&, i] {
            results[static_cast<size_t>(i)] =
                RunRequest(rt, prompts[static_cast<size_t>(i)], a.n_gen);
          });
        for (auto& c : clients) c.join();
        const double took = NowSeconds() - t0;
        for (const auto& res : results)
          if (!res.ok()) return Fail(res.status());
        aggregate = std::max(aggregate, static_cast<double>(a.n_gen * a.parallel) / took);
      }
    cluster::Pool* pool = rt.pool();
    const double predicted = pool ? pool->plan().tokens_per_second : 0;
    const double predicted_single =
        pool && pool->predicted_latency() > 0 ? 1 / pool->predicted_latency() : 0;
    const double bytes = static_cast<double>(rt.model().weights().DecodeBytesPerToken());
    const MemoryUsage mem = ReadMemoryUsage();
    const double roofline = bw > 0 ? bw * 1e9 / bytes : 0;
    const double fraction = roofline > 0 ? decode / roofline : 0;
    const uint64_t kv_bytes = KvBytes(hp, rt.executor().lane(0).kv, 0, hp.n_layers, KvType::kF32);
    if (a.json) {
      nlohmann::json j;
      j["model"] = path;
      j["backend"] = rt.Describe();
      j["threads"] = threads;
      j["n_prompt"] = a.n_prompt;
      j["n_gen"] = a.n_gen;
      j["prefill_tok_s"] = prefill;
      j["decode_tok_s"] = decode;
      j["kernels"] = kernels::ActiveVariant();
      if (!pooled) {
        j["bandwidth_gb_s"] = bw;
        j["decode_bytes_per_token"] = bytes;
        j["roofline_tok_s"] = roofline;
        j["roofline_fraction"] = fraction;
        j["weights"] = a.weights;
        j["rss_file_bytes"] = mem.rss_file_bytes;
        j["rss_anon_bytes"] = mem.rss_anon_bytes;
        j["kv_cache_bytes"] = kv_bytes;
      } else {
        j["predicted_decode_tok_s"] = predicted_single;
        j["predicted_throughput_tok_s"] = predicted;
      }
      j["parallel"] = a.parallel;
      j["parallel_tok_s"] = aggregate;
      j["parallel_speedup"] = decode > 0 ? aggregate / decode : 0;
      std::puts(j.dump().c_str());
    } else if (!pooled) {
      std::printf(
          "%s\n  prefill %lld tokens: %.1f tok/s\n  decode %lld tokens: %.2f tok/s = %.1f%% of "
          "roofline (%.2f tok/s: %.1f GB/s / %s per token)\n  memory: %s mapped weights "
          "resident, %s allocated (KV cache up to %s)\n",
          path.c_str(), static_cast<long long>(a.n_prompt), prefill,
          static_cast<long long>(a.n_gen), decode, 100 * fraction, roofline, bw,
          HumanBytes(bytes).c_str(), HumanBytes(static_cast<double>(mem.rss_file_bytes)).c_str(),
          HumanBytes(static_cast<double>(mem.rss_anon_bytes)).c_str(),
          HumanBytes(static_cast<double>(kv_bytes)).c_str());
    } else {
      std::printf(
          "%s (%s)\n  prefill %lld tokens: %.1f tok/s\n  decode %lld tokens: %.2f tok/s "
          "(placement predicted %.2f tok/s)\n",
          path.c_str(), rt.Describe().c_str(), static_cast<long long>(a.n_prompt), prefill,
          static_cast<long long>(a.n_gen), decode, predicted_single);
    }
    if (!a.json && a.parallel > 1)
      std::printf("  %lld streams: %.2f tok/s in all = %.2fx one stream\n",
                  static_cast<long long>(a.parallel), aggregate,
                  decode > 0 ? aggregate / decode : 0);
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
                  "Also run N streams at once (batched on this device, or through the pool) and "
                  "report the aggregate tok/s")
      ->check(CLI::Range(int64_t{1}, int64_t{256}));
  AddPoolOptions(sub, &a->pool);
  sub->callback([a, run] { *run = [a] { return RunBench(*a); }; });
}

}  // namespace suanli::cli
