// RenderPlan: the table `suanli plan` and the head print.
#include <cstdio>
#include <string>

#include "base/progress.h"
#include "suanli/placement.h"

namespace suanli::placement {
namespace {

std::string Fmt(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

std::string Layers(const Stage& s) {
  if (s.last_layer - s.first_layer == 1) return Fmt("%lld", static_cast<long long>(s.first_layer));
  return Fmt("%lld-%lld", static_cast<long long>(s.first_layer),
             static_cast<long long>(s.last_layer - 1));
}

}  // namespace

std::string RenderPlan(const Plan& plan, const Cluster& cluster) {
  std::string out = Fmt("placement (objective: %s; %s)\n",
                        std::string(ObjectiveName(plan.objective)).c_str(), plan.method.c_str());
  size_t w = 6;
  for (const Device& d : cluster.devices) w = std::max(w, d.name.size());
  const int wi = static_cast<int>(w);
  for (size_t pi = 0; pi < plan.pipelines.size(); ++pi) {
    const Pipeline& p = plan.pipelines[pi];
    if (plan.pipelines.size() > 1)
      out += Fmt("pipeline %zu: %.1f tokens/s (%.0f%% of requests)\n", pi + 1,
                 p.tokens_per_second(), 100 * p.tokens_per_second() / plan.tokens_per_second);
    out += Fmt("  %-*s  %-9s %7s  %10s  %10s  %10s\n", wi, "device", "layers", "count", "memory",
               "compute", "send");
    if (p.stages[0].device != cluster.head())  // else the head runs the first stage itself
      out += Fmt("  %-*s  %-9s %7s  %10s  %10s  %7.2f ms\n", wi,
                 cluster.devices[cluster.head()].name.c_str(), "(head)", "", "", "",
                 p.receive_seconds * 1e3);
    for (const Stage& s : p.stages) {
      const Device& d = cluster.devices[s.device];
      out += Fmt("  %-*s  %-9s %7lld  %10s  %7.2f ms  %7.2f ms%s\n", wi, d.name.c_str(),
                 Layers(s).c_str(), static_cast<long long>(s.last_layer - s.first_layer),
                 HumanBytes(static_cast<double>(s.memory_bytes)).c_str(), s.compute_seconds * 1e3,
                 s.send_seconds * 1e3, s.fits ? "" : "  (does not fit)");
    }
    out +=
        Fmt("  per token: %.2f ms one stream (%.1f tokens/s); %.1f tokens/s with %lld %s "
            "in flight\n",
            p.latency_seconds * 1e3, p.latency_seconds > 0 ? 1 / p.latency_seconds : 0.0,
            p.tokens_per_second(), static_cast<long long>(p.streams_in_flight),
            p.streams_in_flight == 1 ? "stream" : "streams");
  }
  if (plan.pipelines.size() > 1)
    out += Fmt("total: %.1f tokens/s over %zu pipelines\n", plan.tokens_per_second,
               plan.pipelines.size());
  if (!plan.excluded.empty()) {
    out += "left out:\n";
    for (const Exclusion& e : plan.excluded)
      out += Fmt("  %s: %s\n", cluster.devices[e.device].name.c_str(), e.reason.c_str());
  }
  return out;
}

}  // namespace suanli::placement
