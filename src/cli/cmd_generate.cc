// suanli generate: stream a completion of a prompt to stdout, then one line of speeds to stderr.
#include <cstdio>

#include "base/progress.h"
#include "base/thread_pool.h"
#include "cli/common.h"
#include "cli/pool_options.h"
#include "engine/generate.h"

namespace suanli::cli {
namespace {

struct GenerateArgs {
  ModelOptions model;
  std::string prompt;
  std::string prompt_file;
  int64_t n_predict = 128;
  SamplerParams sampling;
  bool ignore_eos = false;
  bool parse_special = false;
  PoolFlags pool;
};

int RunGenerate(const GenerateArgs& a) {
  std::string prompt = a.prompt;
  if (!a.prompt_file.empty()) {
    auto text = ReadFileToString(a.prompt_file);
    if (!text.ok()) return Fail(text.status());
    prompt = *text;
  }
  const bool pooled = a.pool.active();
  auto loaded = LoadModel(a.model, !pooled, !pooled);
  if (!loaded.ok()) return Fail(loaded.status());
  Loaded& l = *loaded;
  std::vector<int32_t> ids = l.tokenizer->Encode(prompt, true, a.parse_special);
  if (ids.empty()) return Fail("the prompt is empty and the model adds no BOS token; give -p TEXT");
  if (static_cast<int64_t>(ids.size()) > l.n_ctx)
    return Fail(l.model->path() + ": the prompt has " + std::to_string(ids.size()) +
                " tokens but the context holds " + std::to_string(l.n_ctx) +
                " (raise it with -c/--ctx-size or shorten the prompt)");
  auto backend = Backend::Open(l, a.pool, l.n_ctx, 1);
  if (!backend.ok()) return Fail(backend.status());
  std::unique_ptr<Sequence> session = (*backend)->NewSequence();
  GenerateOptions opts;
  opts.n_predict = a.n_predict;
  opts.sampling = a.sampling;
  opts.stop_at_eog = !a.ignore_eos;
  auto res = Generate(*session, *l.tokenizer, ids, opts, [](int32_t, std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  if (!res.ok()) return Fail(res.status().WithContext(l.model->path()));
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const GenerateResult& r = *res;
  if (r.stop == StopReason::kContextFull)
    std::fprintf(stderr, "suanli: stopped: the context of %lld tokens is full (raise -c)\n",
                 static_cast<long long>(l.n_ctx));
  const double pp = r.prompt_seconds > 0 ? static_cast<double>(r.n_prompt) / r.prompt_seconds : 0;
  const double tg =
      r.generate_seconds > 0 ? static_cast<double>(r.decode_steps) / r.generate_seconds : 0;
  std::fprintf(stderr,
               "prompt: %lld tokens, %.1f tok/s | generated: %zu tokens, %.1f tok/s | load: %s | "
               "stop: %s | %s\n",
               static_cast<long long>(r.n_prompt), pp, r.tokens.size(), tg,
               HumanDuration(l.load_seconds).c_str(), StopReasonText(r.stop),
               (*backend)->Describe().c_str());
  if (cluster::Pool* pool = (*backend)->pool(); pool && tg > 0)
    std::fprintf(stderr, "pool: %.2f ms per token measured, %.2f ms predicted by the placement\n",
                 1e3 / tg, 1e3 * pool->predicted_latency());
  return 0;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, RunFn* run) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* sub = app.add_subcommand("generate", "Generate text from a prompt (streams to stdout)");
  AddModelOptions(sub, &a->model);
  auto* p = sub->add_option("-p,--prompt", a->prompt, "Prompt text");
  sub->add_option("-f,--file", a->prompt_file, "Read the prompt from a file")->excludes(p);
  sub->add_option("-n,--n-predict", a->n_predict,
                  "Tokens to generate; -1 = until end of generation or context end (default 128)")
      ->check(CLI::Range(int64_t{-1}, int64_t{1} << 24));
  AddSamplingOptions(sub, &a->sampling);
  sub->add_flag("--ignore-eos", a->ignore_eos, "Keep generating past end-of-generation tokens");
  sub->add_flag("--parse-special", a->parse_special,
                "Turn special-token text such as <|im_start|> in the prompt into its token");
  AddPoolOptions(sub, &a->pool);
  sub->callback([a, run] { *run = [a] { return RunGenerate(*a); }; });
}

}  // namespace suanli::cli
