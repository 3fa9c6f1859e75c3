// Placement benchmark: predicted tokens/s of suanli's plan against the two baselines other
// home-cluster tools use (equal split, split in proportion to memory; both over every device in
// the listed order), on heterogeneous device sets and two model shapes, and the optimizer's own
// running time for 6 to 16 devices. All numbers are predictions of the cost model in
// include/suanli/placement.h; measured tokens/s through a real pool come with the cluster runtime.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "suanli/placement.h"

namespace suanli::placement {
namespace {

HParams Shape1B() {  // Llama-3.2-1B
  HParams hp;
  hp.dim = 2048, hp.n_layers = 16, hp.n_heads = 32, hp.n_kv_heads = 8, hp.head_dim = 64;
  hp.ffn_dim = 8192, hp.n_vocab = 128256;
  return hp;
}
HParams Shape8B() {  // Llama-3.1-8B
  HParams hp;
  hp.dim = 4096, hp.n_layers = 32, hp.n_heads = 32, hp.n_kv_heads = 8, hp.head_dim = 128;
  hp.ffn_dim = 14336, hp.n_vocab = 128256;
  return hp;
}

// A device's network access: a link between two devices crosses both legs (delays add, the
// slower bandwidth wins).
struct Access {
  double one_leg_rtt_ms;
  double mbps;
};
constexpr Access kLan{0.15, 940};
constexpr Access kWifi{1.5, 300};
Access PhoneLink(double rtt_ms, double mbps) { return {rtt_ms / 2, mbps}; }

struct Node {
  const char* name;
  double mem_gib, bw_gbs, gflops;
  Access access;
  bool head = false;
  bool runs_layers = true;
};

Cluster Build(const std::vector<Node>& nodes) {
  Cluster c;
  for (const Node& n : nodes) {
    Device d;
    d.name = n.name;
    d.memory_bytes = static_cast<uint64_t>(n.mem_gib * (1ull << 30));
    d.bandwidth = n.bw_gbs * 1e9;
    d.flops = n.gflops * 1e9;
    d.is_head = n.head;
    d.runs_layers = n.runs_layers;
    c.devices.push_back(d);
  }
  const size_t k = nodes.size();
  c.links.assign(k, std::vector<Link>(k));
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < k; ++j)
      if (i != j)
        c.links[i][j] = {(nodes[i].access.one_leg_rtt_ms + nodes[j].access.one_leg_rtt_ms) / 1e3,
                         std::min(nodes[i].access.mbps, nodes[j].access.mbps) * 1e6 / 8};
  return c;
}

struct Set {
  const char* name;
  std::vector<Node> nodes;
};

std::vector<Set> Sets() {
  return {
      {"laptop+desktop+2 phones",
       {{"laptop", 6, 30, 400, kWifi, true},
        {"desktop", 12, 50, 1000, kLan},
        {"phone-1", 3, 20, 100, PhoneLink(30, 40)},
        {"phone-2", 2.5, 15, 80, PhoneLink(40, 20)}}},
      {"head+4 phones (slow links)",
       {{"head", 0, 1, 0, kWifi, true, false},
        {"phone-1", 3, 25, 120, PhoneLink(20, 50)},
        {"phone-2", 3, 20, 100, PhoneLink(25, 40)},
        {"phone-3", 2.5, 15, 80, PhoneLink(35, 30)},
        {"phone-4", 2, 12, 60, PhoneLink(40, 20)}}},
      {"3 laptops on wifi+phone",
       {{"laptop-1", 4, 25, 300, kWifi, true},
        {"laptop-2", 3, 20, 250, kWifi},
        {"old-laptop", 3, 10, 100, kWifi},
        {"phone", 4, 25, 120, PhoneLink(30, 30)}}},
      {"2 desktops LAN+laptop+3 phones",
       {{"desktop-1", 10, 60, 1500, kLan, true},
        {"desktop-2", 10, 45, 1000, kLan},
        {"laptop", 6, 25, 300, kWifi},
        {"phone-1", 3, 20, 100, PhoneLink(20, 50)},
        {"phone-2", 3, 20, 100, PhoneLink(30, 30)},
        {"phone-3", 2, 12, 60, PhoneLink(40, 20)}}},
      {"phone head+laptop+desktop",
       {{"phone", 2.5, 20, 100, PhoneLink(30, 40), true},
        {"old-laptop", 3, 10, 100, kWifi},
        {"desktop", 16, 50, 1000, kLan}}},
  };
}

std::string Cell(const StatusOr<Plan>& p, double value, const char* fmt) {
  if (!p.ok()) return "error";
  if (!p->pipelines.empty() && !p->pipelines[0].fits) return "OOM";
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

std::string Ratio(const StatusOr<Plan>& ours, const StatusOr<Plan>& base, bool latency) {
  if (!ours.ok() || !base.ok() || !base->pipelines[0].fits) return "-";
  const double a = latency ? 1 / ours->latency_seconds : ours->tokens_per_second;
  const double b = latency ? 1 / base->latency_seconds : base->tokens_per_second;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", a / b);
  return buf;
}

void CompareSets() {
  std::printf(
      "Predicted tokens/s: latency = one stream (1 / ms per token); throughput = many streams in\n"
      "flight (pipelines side by side when the devices allow). Baselines use every device in the\n"
      "listed order; OOM = the baseline split does not fit some device's memory. Context 4096,\n"
      "activations f16, Q4_0 weights.\n\n");
  std::printf("%-32s %-5s | %8s %8s %8s %7s %7s | %8s %8s %8s %7s %7s\n", "device set", "model",
              "lat ours", "equal", "memprop", "vs eq", "vs mem", "thr ours", "equal", "memprop",
              "vs eq", "vs mem");
  for (const Set& set : Sets()) {
    const Cluster c = Build(set.nodes);
    for (int which = 0; which < 2; ++which) {
      const ModelCost m =
          UniformModelCost(which ? Shape8B() : Shape1B(), 18.0 / 32, ActFormat::kF16);
      PlanOptions o;
      o.objective = Objective::kLatency;
      const auto lat = PlanPlacement(m, c, o);
      o.objective = Objective::kThroughput;
      const auto thr = PlanPlacement(m, c, o);
      const auto eq = BaselinePlan(m, c, o, Baseline::kEqual);
      const auto mp = BaselinePlan(m, c, o, Baseline::kMemoryProportional);
      auto tps1 = [](const StatusOr<Plan>& p) { return p.ok() ? 1 / p->latency_seconds : 0; };
      auto tpsn = [](const StatusOr<Plan>& p) { return p.ok() ? p->tokens_per_second : 0; };
      std::printf("%-32s %-5s | %8s %8s %8s %7s %7s | %8s %8s %8s %7s %7s\n", set.name,
                  which ? "8B" : "1B", Cell(lat, tps1(lat), "%.1f").c_str(),
                  Cell(eq, tps1(eq), "%.1f").c_str(), Cell(mp, tps1(mp), "%.1f").c_str(),
                  Ratio(lat, eq, true).c_str(), Ratio(lat, mp, true).c_str(),
                  Cell(thr, tpsn(thr), "%.1f").c_str(), Cell(eq, tpsn(eq), "%.1f").c_str(),
                  Cell(mp, tpsn(mp), "%.1f").c_str(), Ratio(thr, eq, false).c_str(),
                  Ratio(thr, mp, false).c_str());
      if (!lat.ok()) std::printf("    latency plan: %s\n", lat.status().ToString().c_str());
    }
  }
  // One plan in full, as `suanli plan` prints it.
  const Cluster c = Build(Sets()[3].nodes);
  const ModelCost m = UniformModelCost(Shape8B(), 18.0 / 32, ActFormat::kF16);
  for (Objective obj : {Objective::kLatency, Objective::kThroughput}) {
    PlanOptions o;
    o.objective = obj;
    auto p = PlanPlacement(m, c, o);
    if (p.ok()) std::printf("\n%s 8B:\n%s", Sets()[3].name, RenderPlan(*p, c).c_str());
  }
}

void TimeOptimizer() {
  std::printf("\nOptimizer time (8B shape, 32 layers; random heterogeneous devices; best of 3):\n");
  std::printf("%8s  %-11s %10s  %s\n", "devices", "objective", "ms", "method");
  std::mt19937_64 rng(2024);
  auto uni = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  const ModelCost m = UniformModelCost(Shape8B(), 18.0 / 32, ActFormat::kF16);
  for (int n : {6, 8, 12, 16}) {
    std::vector<Node> nodes;
    static std::vector<std::string> names;
    names.clear();
    for (int i = 0; i < n; ++i) names.push_back("dev-" + std::to_string(i));
    for (int i = 0; i < n; ++i) {
      const int kind = i % 3;  // phone, laptop, desktop
      const Access a = kind == 0 ? PhoneLink(uni(20, 40), uni(20, 50)) : kind == 1 ? kWifi : kLan;
      nodes.push_back({names[i].c_str(),
                       kind == 0   ? uni(1.5, 4)
                       : kind == 1 ? uni(3, 8)
                                   : uni(6, 16),
                       kind == 0   ? uni(10, 25)
                       : kind == 1 ? uni(15, 35)
                                   : uni(40, 70),
                       kind == 0   ? 100.0
                       : kind == 1 ? 300.0
                                   : 1000.0,
                       a, i == 1});
    }
    const Cluster c = Build(nodes);
    for (Objective obj : {Objective::kLatency, Objective::kThroughput}) {
      PlanOptions o;
      o.objective = obj;
      double best = 1e9;
      std::string method;
      for (int r = 0; r < 3; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        auto p = PlanPlacement(m, c, o);
        best = std::min(
            best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        method = p.ok() ? p->method : p.status().ToString();
      }
      std::printf("%8d  %-11s %10.2f  %s\n", n, std::string(ObjectiveName(obj)).c_str(), best * 1e3,
                  method.c_str());
    }
  }
}

}  // namespace
}  // namespace suanli::placement

int main() {
  suanli::placement::CompareSets();
  suanli::placement::TimeOptimizer();
  return 0;
}
