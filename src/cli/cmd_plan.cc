// suanli plan: the placement for described devices and links, without running anything.
// Reads only the model's metadata and tensor table (no weights), and the devices file whose
// schema docs/cluster.md documents.
#include <cstdio>
#include <cstdlib>

#include "base/mapped_file.h"
#include "base/progress.h"
#include "cli/common.h"
#include "cluster/model_cost.h"
#include "gguf/gguf.h"
#include "model/default_model.h"
#include "model/hparams.h"
#include "placement/devices_json.h"
#include "suanli/placement.h"

namespace suanli::cli {
namespace {

struct PlanArgs {
  std::string model;
  std::string devices;
  std::string objective = "latency";
  int64_t ctx_size = 0;  // 0: the smaller of the model's and 4096
  std::string act = "f16";
  std::string split;
  int64_t parallel = 1;
  double min_battery = 0.2;
  bool json = false;
};

int RunPlan(const PlanArgs& a) {
  std::string path = a.model;
  if (path.empty()) {
    auto p = EnsureDefaultModel();
    if (!p.ok()) return Fail(p.status());
    path = *p;
  }
  auto act = placement::ParseActFormat(a.act);
  if (!act) return Fail("--act: '" + a.act + "' is not one of f32, f16, q8_0");
  auto file = GgufFile::Open(path);
  if (!file.ok()) return Fail(file.status());
  auto hp = ReadHParams(**file);
  if (!hp.ok()) return Fail(hp.status().WithContext(path));
  auto cost = cluster::ModelCostFromFile(**file, *hp, *act);
  if (!cost.ok()) return Fail(cost.status());

  auto text = ReadFileToString(a.devices);
  if (!text.ok()) return Fail(text.status());
  auto cluster = placement::ParseDevicesJson(*text);
  if (!cluster.ok()) return Fail(cluster.status().WithContext(a.devices));

  placement::PlanOptions o;
  o.objective = a.objective == "throughput" ? placement::Objective::kThroughput
                                            : placement::Objective::kLatency;
  o.n_ctx = a.ctx_size > 0 ? a.ctx_size : std::min<int64_t>(hp->n_ctx_train, 4096);
  o.n_seqs = a.parallel;
  o.min_battery = a.min_battery;
  if (!a.split.empty()) {
    auto split = ParseLayerCounts(a.split);
    if (!split.ok()) return Fail(split.status());
    o.forced_split = *split;
  }
  auto plan = placement::PlanPlacement(*cost, *cluster, o);
  if (!plan.ok()) return Fail(plan.status());

  if (a.json) {
    nlohmann::json j = placement::PlanToJson(*plan, *cluster);
    j["model"] = path;
    j["n_ctx"] = o.n_ctx;
    j["act"] = a.act;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  uint64_t weights = cost->embd_bytes + (cost->tied_output ? 0 : cost->output_bytes);
  for (uint64_t b : cost->layer_bytes) weights += b;
  std::printf("model: %s (%s, %lld layers, %s of weights); context %lld x %lld, activations %s\n",
              path.c_str(), hp->arch.c_str(), static_cast<long long>(hp->n_layers),
              HumanBytes(static_cast<double>(weights)).c_str(), static_cast<long long>(o.n_ctx),
              static_cast<long long>(o.n_seqs), a.act.c_str());
  std::fputs(placement::RenderPlan(*plan, *cluster).c_str(), stdout);
  return 0;
}

}  // namespace

void AddPlanCommand(CLI::App& app, RunFn* run) {
  auto a = std::make_shared<PlanArgs>();
  CLI::App* sub = app.add_subcommand(
      "plan", "Print the placement of a model's layers on described devices (docs/cluster.md)");
  sub->add_option("-m,--model", a->model,
                  "GGUF model file; only its metadata is read (default: the default model)");
  sub->add_option("--devices", a->devices, "Devices and links, JSON (schema: docs/cluster.md)")
      ->required();
  sub->add_option("--objective", a->objective,
                  "latency: fastest single stream; throughput: most tokens/s over many streams")
      ->check(CLI::IsMember({"latency", "throughput"}));
  sub->add_option("-c,--ctx-size", a->ctx_size,
                  "Context size each stage holds KV cache for (default: the smaller of the "
                  "model's and 4096)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  sub->add_option("--act", a->act, "Activation format between stages: f32, f16, q8_0 (default f16)")
      ->check(CLI::IsMember({"f32", "f16", "q8_0"}));
  sub->add_option("--split", a->split,
                  "Force layer counts per device that runs layers, in file order (e.g. 3,5,8)");
  sub->add_option("--parallel", a->parallel,
                  "Sequences each stage holds a KV cache for (default 1)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  sub->add_option("--min-battery", a->min_battery,
                  "Leave out devices on battery, not charging, below this level (default 0.2)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_flag("--json", a->json, "Print the plan as JSON");
  sub->callback([a, run] { *run = [a] { return RunPlan(*a); }; });
}

}  // namespace suanli::cli
