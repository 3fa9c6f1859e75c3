// suanli generate: stream a completion of a prompt to stdout, then one line of speeds to stderr.
#include <cstdio>

#include "base/mapped_file.h"
#include "base/progress.h"
#include "cli/common.h"
#include "cli/pool_options.h"
#include "cluster/head.h"
#include "runtime/runtime.h"

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
  auto ro = MakeRuntimeOptions(a.model);
  if (!ro.ok()) return Fail(ro.status());
  auto pool = ResolvePool(a.pool);
  if (!pool.ok()) return Fail(pool.status());
  ro->pool = *pool;
  auto opened = runtime::Runtime::Open(*ro);
  if (!opened.ok()) return Fail(opened.status());
  runtime::Runtime& rt = **opened;
  const std::string& path = rt.model().path();
  std::vector<int32_t> ids = rt.tokenizer().Encode(prompt, true, a.parse_special);
  if (ids.empty()) return Fail("the prompt is empty and the model adds no BOS token; give -p TEXT");
  if (static_cast<int64_t>(ids.size()) > rt.n_ctx())
    return Fail(path + ": the prompt has " + std::to_string(ids.size()) +
                " tokens but the context holds " + std::to_string(rt.n_ctx()) +
                " (raise it with -c/--ctx-size or shorten the prompt)");
  runtime::GenerationRequest req;
  req.prompt = ids;
  req.max_tokens = a.n_predict;
  req.sampling = a.sampling;
  req.ignore_eos = a.ignore_eos;
  auto handle = rt.Submit(std::move(req));
  if (!handle.ok()) return Fail(handle.status().WithContext(path));
  double first = 0, last = 0;
  int64_t generated = 0;
  runtime::FinishReason reason = runtime::FinishReason::kLength;
  Status error = Status::Ok();
  auto write = [](const std::string& s) {
    if (s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
  while (auto e = handle->Next()) {
    switch (e->kind) {
      case runtime::Event::Kind::kToken:
        if (generated++ == 0) first = e->seconds;
        last = e->seconds;
        write(e->text);
        break;
      case runtime::Event::Kind::kFinish:
        write(e->text);
        reason = e->finish;
        error = e->status;
        if (generated == 0) first = last = e->seconds;
        break;
      default:
        break;
    }
  }
  if (!error.ok()) return Fail(error.WithContext(path));
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (reason == runtime::FinishReason::kContextFull)
    std::fprintf(stderr, "suanli: stopped: the context of %lld tokens is full (raise -c)\n",
                 static_cast<long long>(rt.n_ctx()));
  const char* stop = reason == runtime::FinishReason::kStop          ? "end of generation"
                     : reason == runtime::FinishReason::kContextFull ? "context full"
                                                                     : "max tokens";
  // Prompt speed: until the first token (the prompt's pass); decode: between tokens.
  const double pp = first > 0 ? static_cast<double>(ids.size()) / first : 0;
  const double tg =
      generated > 1 && last > first ? static_cast<double>(generated - 1) / (last - first) : 0;
  std::fprintf(stderr,
               "prompt: %zu tokens, %.1f tok/s | generated: %lld tokens, %.1f tok/s | load: %s | "
               "stop: %s | %s\n",
               ids.size(), pp, static_cast<long long>(generated), tg,
               HumanDuration(rt.load_seconds()).c_str(), stop, rt.Describe().c_str());
  if (cluster::Pool* p = rt.pool(); p && tg > 0)
    std::fprintf(stderr, "pool: %.2f ms per token measured, %.2f ms predicted by the placement\n",
                 1e3 / tg, 1e3 * p->predicted_latency());
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
