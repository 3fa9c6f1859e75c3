// suanli eval: prompt ids and greedy continuation as JSON, optionally every logits row.
//
// --logits-out writes little-endian float32 rows [n_prompt + N][n_vocab]: one per prompt
// position, then one after feeding each of the N tokens.
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/common.h"
#include "cli/pool_options.h"
#include "runtime/runtime.h"

namespace suanli::cli {
namespace {

struct EvalArgs {
  ModelOptions model;
  std::string prompt;
  int64_t n = -1;
  std::string force;
  std::string logits_out;
  bool parse_special = false;
  PoolFlags pool;
};

int RunEval(const EvalArgs& a) {
  std::vector<int32_t> forced;
  if (!a.force.empty()) {
    auto f = ParseIdList(a.force);
    if (!f.ok()) return Fail(f.status().WithContext("--force"));
    forced = *f;
  }
  int64_t n = a.n >= 0 ? a.n : (forced.empty() ? 16 : static_cast<int64_t>(forced.size()));
  if (!forced.empty() && static_cast<int64_t>(forced.size()) < n)
    return Fail("--force gives " + std::to_string(forced.size()) + " ids but -n asks for " +
                std::to_string(n) + " steps");
  auto ro = MakeRuntimeOptions(a.model);
  if (!ro.ok()) return Fail(ro.status());
  auto pool = ResolvePool(a.pool);
  if (!pool.ok()) return Fail(pool.status());
  ro->pool = *pool;
  ro->prefix_cache = false;
  auto opened = runtime::Runtime::Open(*ro);
  if (!opened.ok()) return Fail(opened.status());
  runtime::Runtime& rt = **opened;
  const std::string& path = rt.model().path();
  const int64_t n_vocab = rt.model().hparams().n_vocab;
  for (int32_t id : forced)
    if (id >= n_vocab)
      return Fail("--force: token id " + std::to_string(id) + " is outside the vocabulary of " +
                  std::to_string(n_vocab));
  std::vector<int32_t> ids = rt.tokenizer().Encode(a.prompt, true, a.parse_special);
  if (ids.empty()) return Fail("the prompt is empty and the model adds no BOS token; give -p TEXT");
  if (static_cast<int64_t>(ids.size()) + n > rt.n_ctx())
    return Fail(path + ": the prompt (" + std::to_string(ids.size()) + " tokens) plus " +
                std::to_string(n) + " steps exceed the context of " + std::to_string(rt.n_ctx()) +
                " (raise it with -c/--ctx-size)");
  const bool want_rows = !a.logits_out.empty();
  std::FILE* out = nullptr;
  if (want_rows) {
    out = std::fopen(a.logits_out.c_str(), "wb");
    if (!out) return Fail(a.logits_out + ": cannot create: " + std::strerror(errno));
  }
  // N greedy steps: the prompt's last row gives the first token, feeding each of the N tokens
  // gives the next row, so N + 1 draws (the last one is not fed).
  runtime::GenerationRequest req;
  req.prompt = ids;
  req.max_tokens = n + 1;
  req.sampling.temperature = 0;
  req.sampling.repeat_penalty = 1;
  req.ignore_eos = true;
  req.logits = want_rows ? LogitsWant::kAll : LogitsWant::kNone;
  forced.resize(std::min<size_t>(forced.size(), static_cast<size_t>(n)));
  req.forced = forced;
  auto handle = rt.Submit(std::move(req));
  if (!handle.ok()) return Fail(handle.status().WithContext(path));
  bool io_ok = true;
  Status st = Status::Ok();
  std::vector<int32_t> greedy;
  auto write_rows = [&](const std::vector<float>& rows) {
    if (out && std::fwrite(rows.data(), sizeof(float), rows.size(), out) != rows.size())
      io_ok = false;
  };
  while (auto e = handle->Next()) {
    if (e->kind == runtime::Event::Kind::kPromptLogits) write_rows(e->logits);
    if (e->kind == runtime::Event::Kind::kToken) {
      write_rows(e->logits);
      if (static_cast<int64_t>(greedy.size()) < n) greedy.push_back(e->token);
    }
    if (e->kind == runtime::Event::Kind::kFinish && !e->status.ok()) st = e->status;
  }
  if (out && std::fclose(out) != 0) io_ok = false;
  if (!st.ok()) return Fail(st.WithContext(path));
  if (!io_ok) return Fail(a.logits_out + ": write failed");
  nlohmann::ordered_json j;
  j["prompt_tokens"] = ids;
  j["greedy_tokens"] = greedy;
  std::puts(j.dump().c_str());
  return 0;
}

}  // namespace

void AddEvalCommand(CLI::App& app, RunFn* run) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Print prompt ids and N greedy tokens as JSON; optionally dump every logits row");
  AddModelOptions(sub, &a->model);
  sub->add_option("-p,--prompt", a->prompt, "Prompt text")->required();
  sub->add_option("-n,--n-predict", a->n,
                  "Greedy steps (default: the number of --force ids, else 16)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  sub->add_option("--force", a->force,
                  "Comma-separated ids to feed instead of the argmax (teacher forcing)");
  sub->add_option("--logits-out", a->logits_out,
                  "Write float32 logits rows [n_prompt + N][n_vocab] to this file");
  sub->add_flag("--parse-special", a->parse_special, "Parse special-token text in the prompt");
  AddPoolOptions(sub, &a->pool);
  sub->callback([a, run] { *run = [a] { return RunEval(*a); }; });
}

}  // namespace suanli::cli
