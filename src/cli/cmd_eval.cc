// suanli eval: prompt ids and greedy continuation as JSON, optionally every logits row.
//
// --logits-out writes little-endian float32 rows [n_prompt + N][n_vocab]: one per prompt
// position, then one after feeding each of the N tokens.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "cli/common.h"
#include "cli/pool_options.h"
#include "engine/sampler.h"

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
  const bool pooled = a.pool.active();
  auto loaded = LoadModel(a.model, !pooled, !pooled);
  if (!loaded.ok()) return Fail(loaded.status());
  Loaded& l = *loaded;
  const int64_t n_vocab = l.model->hparams().n_vocab;
  for (int32_t id : forced)
    if (id >= n_vocab)
      return Fail("--force: token id " + std::to_string(id) + " is outside the vocabulary of " +
                  std::to_string(n_vocab));
  std::vector<int32_t> ids = l.tokenizer->Encode(a.prompt, true, a.parse_special);
  if (ids.empty()) return Fail("the prompt is empty and the model adds no BOS token; give -p TEXT");
  if (static_cast<int64_t>(ids.size()) + n > l.n_ctx)
    return Fail(l.model->path() + ": the prompt (" + std::to_string(ids.size()) + " tokens) plus " +
                std::to_string(n) + " steps exceed the context of " + std::to_string(l.n_ctx) +
                " (raise it with -c/--ctx-size)");
  auto backend = Backend::Open(l, a.pool, l.n_ctx, 1);
  if (!backend.ok()) return Fail(backend.status());
  std::unique_ptr<Sequence> seq = (*backend)->NewSequence();
  Sequence& session = *seq;
  const bool want_rows = !a.logits_out.empty();
  std::FILE* out = nullptr;
  if (want_rows) {
    out = std::fopen(a.logits_out.c_str(), "wb");
    if (!out) return Fail(a.logits_out + ": cannot create: " + std::strerror(errno));
  }
  auto write_rows = [&](const std::vector<float>& rows) {
    return !out || std::fwrite(rows.data(), sizeof(float), rows.size(), out) == rows.size();
  };
  std::vector<float> logits;
  Status st = session.Feed(ids, want_rows, &logits);
  bool io_ok = true;
  std::vector<int32_t> greedy;
  if (st.ok()) {
    io_ok = write_rows(logits);
    const float* last = logits.data() + logits.size() - static_cast<size_t>(n_vocab);
    for (int64_t i = 0; i < n && st.ok() && io_ok; ++i) {
      int32_t g = Sampler::Argmax(last, n_vocab);
      greedy.push_back(g);
      const int32_t next[1] = {forced.empty() ? g : forced[static_cast<size_t>(i)]};
      st = session.Feed(next, false, &logits);
      if (st.ok()) io_ok = write_rows(logits);
      last = logits.data();
    }
  }
  if (out && std::fclose(out) != 0) io_ok = false;
  if (!st.ok()) return Fail(st.WithContext(l.model->path()));
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
