#include "cli/common.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "base/thread_pool.h"

namespace suanli::cli {

int Fail(const Status& s) { return Fail(s.message()); }

int Fail(const std::string& message) {
  std::fprintf(stderr, "suanli: error: %s\n", message.c_str());
  return kExitFailure;
}

void AddModelOptions(CLI::App* app, ModelOptions* o, bool with_ctx) {
  app->add_option(
      "-m,--model", o->model,
      "GGUF model file (default: a small random-weight model synthesized on first use)");
  app->add_option("-t,--threads", o->threads, "Threads (default: all cores)")
      ->check(CLI::Range(1, 1024));
  if (with_ctx)
    app->add_option("-c,--ctx-size", o->ctx_size,
                    "Context size in tokens (default: the smaller of the model's and 4096)")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  AddWeightsOption(app, &o->weights);
}

void AddWeightsOption(CLI::App* app, std::string* weights) {
  app->add_option("--weights", *weights,
                  "mmap: map the file, zero copy (default); copy: read weights into private "
                  "memory on 2 MiB pages, faster decode where TLB misses limit streaming")
      ->check(CLI::IsMember({"mmap", "copy"}));
}

StatusOr<LoadMode> ParseLoadMode(const std::string& s) {
  if (s == "mmap") return LoadMode::kMmap;
  if (s == "copy") return LoadMode::kCopyHugePages;
  return InvalidArgument("--weights must be mmap or copy, not '" + s + "'");
}

StatusOr<runtime::RuntimeOptions> MakeRuntimeOptions(const ModelOptions& o) {
  runtime::RuntimeOptions r;
  r.model.path = o.model;
  SL_ASSIGN_OR_RETURN(r.model.weights, ParseLoadMode(o.weights));
  r.threads = o.threads;
  r.n_ctx = o.ctx_size;
  return r;
}

void AddSamplingOptions(CLI::App* app, SamplerParams* p) {
  app->add_option("--temp", p->temperature, "Temperature; 0 = greedy (default 0.8)");
  app->add_option("--top-k", p->top_k, "Keep the k most likely tokens; 0 = off (default 40)");
  app->add_option("--top-p", p->top_p,
                  "Nucleus: keep tokens up to this mass; 1 = off (default 0.95)")
      ->check(CLI::Range(0.0f, 1.0f));
  app->add_option("--min-p", p->min_p,
                  "Drop tokens below min-p x the top probability; 0 = off (default 0.05)")
      ->check(CLI::Range(0.0f, 1.0f));
  app->add_option("--repeat-penalty", p->repeat_penalty,
                  "Penalty for recently seen tokens; 1 = off (default 1.0)")
      ->check(CLI::Range(0.0f, 10.0f));
  app->add_option("--repeat-last-n", p->repeat_last_n,
                  "How many recent tokens the penalty looks at (default 64)")
      ->check(CLI::Range(0, 1 << 20));
  app->add_option("-s,--seed", p->seed, "Random seed (default 0)");
}

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    parts.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

namespace {
// Comma-separated integers in [0, max]; `what` names one item in errors.
StatusOr<std::vector<int64_t>> ParseCounts(const std::string& s, int64_t max, const char* what) {
  std::vector<int64_t> out;
  if (s.empty()) return out;
  for (const std::string& part : SplitCommas(s)) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || errno != 0 || v < 0 || v > max)
      return InvalidArgument("'" + part + "' is not " + what +
                             " (expected comma-separated integers)");
    out.push_back(v);
  }
  return out;
}
}  // namespace

StatusOr<std::vector<int32_t>> ParseIdList(const std::string& s) {
  SL_ASSIGN_OR_RETURN(auto v, ParseCounts(s, INT32_MAX, "a token id"));
  return std::vector<int32_t>(v.begin(), v.end());
}

StatusOr<std::vector<int64_t>> ParseLayerCounts(const std::string& s) {
  auto v = ParseCounts(s, int64_t{1} << 20, "a layer count");
  if (!v.ok()) return v.status().WithContext("--split");
  return v;
}

}  // namespace suanli::cli
