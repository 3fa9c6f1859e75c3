// suanli profile: measure and print what this device would report to a pool.
#include <cstdio>

#include "base/progress.h"
#include "cli/common.h"
#include "cluster/device_profile.h"
#include "model/default_model.h"

namespace suanli::cli {
namespace {

struct ProfileArgs {
  int threads = 0;
  std::string model_dir;
  bool json = false;
  bool fresh = false;
  double seconds_per_kernel = 0.2;
  double matvec_mib = 0;
};

int RunProfile(const ProfileArgs& a) {
  auto cache = CacheDir();
  if (!cache.ok()) return Fail(cache.status());
  ProfileOptions o;
  o.threads = a.threads;
  o.seconds_per_kernel = a.seconds_per_kernel;
  o.matvec_bytes = static_cast<size_t>(a.matvec_mib * (1 << 20));
  auto p = LoadOrMeasureProfile(o, *cache, a.fresh ? 0 : 24 * 3600);
  if (!p.ok()) return Fail(p.status());
  if (!a.model_dir.empty()) {
    auto models = ScanModelDir(a.model_dir, *cache);
    if (!models.ok()) return Fail(models.status());
    p->models = *models;
  }
  if (a.json) {
    std::puts(ProfileToJson(*p).c_str());
    return 0;
  }
  std::printf("host %s: %s, %s, %s\n", p->hostname.c_str(), p->os.c_str(), p->arch.c_str(),
              p->cpu_model.c_str());
  std::printf("cores %d, computing with %d threads (%s kernels)\n", p->cores, p->threads,
              p->kernels.c_str());
  std::printf("memory %s total, %s available, read bandwidth %.1f GB/s\n",
              HumanBytes(static_cast<double>(p->total_ram_bytes)).c_str(),
              HumanBytes(static_cast<double>(p->available_ram_bytes)).c_str(),
              p->mem_bandwidth_gbs);
  if (p->battery.present)
    std::printf("battery %.0f%%, %s\n", p->battery.level * 100,
                p->battery.charging ? "charging" : "discharging");
  else
    std::printf("battery: none (mains powered)\n");
  if (p->thermal.known)
    std::printf("thermal: hottest zone %.1f C%s\n", p->thermal.max_temp_c,
                p->thermal.throttled ? ", throttling" : "");
  std::printf("%-6s %14s %16s\n", "type", "decode GB/s", "prefill GFLOP/s");
  for (const auto& [type, s] : p->speed)
    std::printf("%-6s %14.1f %16.1f\n", type.c_str(), s.matvec_gbs, s.matmul_gflops);
  for (const ModelFileInfo& m : p->models)
    std::printf("model %s  %s  sha256 %s\n", m.path.c_str(),
                HumanBytes(static_cast<double>(m.size)).c_str(), m.sha256.c_str());
  return 0;
}

}  // namespace

void AddProfileCommand(CLI::App& app, RunFn* run) {
  auto a = std::make_shared<ProfileArgs>();
  CLI::App* sub = app.add_subcommand(
      "profile", "Measure this device as a pool member: memory, bandwidth, kernel speeds, power");
  sub->add_option("-t,--threads", a->threads, "Threads (default: all cores)")
      ->check(CLI::Range(1, 1024));
  sub->add_option("--model-dir", a->model_dir, "Also list and hash the GGUF files in this folder");
  sub->add_flag("--fresh", a->fresh, "Measure again even if a cached profile is recent");
  sub->add_flag("--json", a->json, "Print the profile as JSON");
  sub->add_option("--seconds-per-kernel", a->seconds_per_kernel,
                  "Measurement time per tensor type and shape (default 0.2)")
      ->check(CLI::Range(0.0, 60.0));
  sub->add_option("--matvec-mib", a->matvec_mib,
                  "Decode measurement matrix size in MiB (default: twice the last-level cache)")
      ->check(CLI::Range(1.0, 65536.0));
  sub->callback([a, run] { *run = [a] { return RunProfile(*a); }; });
}

}  // namespace suanli::cli
