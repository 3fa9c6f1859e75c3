// Placement search against exhaustive enumeration on random heterogeneous instances, and the
// policies: memory, slow links, battery, thermal state, forced splits, baselines.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <random>

#include "suanli/placement.h"

namespace suanli::placement {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

// An independent, deliberately naive reading of the cost model in placement.h (no prefix sums,
// no shared code with the library), and exhaustive search over every ordered subset of devices
// and every composition of the layers.
struct Brute {
  const ModelCost& m;
  const Cluster& c;
  const PlanOptions& o;
  Brute(const ModelCost& m_, const Cluster& c_, const PlanOptions& o_) : m(m_), c(c_), o(o_) {}
  int64_t L() const { return m.n_layers(); }
  int H() const { return c.head(); }

  double Stage(int d, int64_t a, int64_t b) const {
    const Device& dev = c.devices[d];
    double bytes = 0, flops = 0;
    for (int64_t l = a; l < b; ++l) bytes += m.layer_bytes[l], flops += m.layer_flops[l];
    if (a == 0) bytes += m.embd_row_bytes;
    if (b == L()) bytes += m.output_bytes, flops += m.output_flops;
    if (dev.measured_layer_seconds > 0)
      return bytes * dev.measured_layer_seconds / dev.measured_layer_bytes;
    double t = bytes / dev.bandwidth;
    if (dev.flops > 0) t = std::max(t, flops / dev.flops);
    return t;
  }
  bool Fits(int d, int64_t a, int64_t b) const {
    uint64_t mem = o.scratch_bytes;
    for (int64_t l = a; l < b; ++l)
      mem += m.layer_bytes[l] + KvBytesPerLayer(m.kv_dim, o.n_seqs * o.n_ctx, m.kv_type);
    if (a == 0) mem += m.embd_bytes;
    if (b == L() && !(m.tied_output && a == 0)) mem += m.output_bytes;
    return mem <= c.devices[d].memory_bytes;
  }
  double Hop(int i, int j, uint64_t bytes) const {
    return i == j ? 0 : c.links[i][j].rtt / 2 + bytes / c.links[i][j].bandwidth;
  }
  double Xfer(int i, int j, uint64_t bytes) const {
    return i == j ? 0 : bytes / c.links[i][j].bandwidth;
  }

  double best_latency = INFINITY;
  std::vector<double> best_tau;  // per exact device mask

  void Run() {
    best_tau.assign(size_t{1} << c.devices.size(), INFINITY);
    std::vector<int> seq;
    std::vector<int64_t> cuts{0};
    Dfs(seq, cuts, 0);
  }
  // seq: devices so far; cuts: their boundaries. Evaluates each complete pipeline from scratch.
  void Dfs(std::vector<int>& seq, std::vector<int64_t>& cuts, uint32_t mask) {
    const int64_t a = cuts.back();
    if (a == L()) {
      double lat = Hop(H(), seq[0], m.token_bytes), tau = Xfer(H(), seq[0], m.token_bytes);
      for (size_t i = 0; i < seq.size(); ++i) {
        const bool last = i + 1 == seq.size();
        const int to = last ? H() : seq[i + 1];
        const uint64_t bytes = last ? m.token_bytes : m.act_bytes;
        const double t = Stage(seq[i], cuts[i], cuts[i + 1]);
        lat += t + Hop(seq[i], to, bytes);
        tau = std::max(tau, t + Xfer(seq[i], to, bytes));
      }
      best_latency = std::min(best_latency, lat);
      best_tau[mask] = std::min(best_tau[mask], tau);
      return;
    }
    for (size_t d = 0; d < c.devices.size(); ++d) {
      if ((mask >> d & 1) || !c.devices[d].runs_layers) continue;
      for (int64_t b = a + 1; b <= L(); ++b) {
        if (!Fits(static_cast<int>(d), a, b)) continue;
        seq.push_back(static_cast<int>(d));
        cuts.push_back(b);
        Dfs(seq, cuts, mask | 1u << d);
        seq.pop_back();
        cuts.pop_back();
      }
    }
  }
  // Every assignment of devices to pipelines (label 0: unused).
  double BestThroughput() const {
    const size_t n = c.devices.size();
    std::vector<int> label(n, 0);
    double best = 0;
    std::function<void(size_t, int)> rec = [&](size_t i, int groups) {
      if (i == n) {
        double total = 0;
        for (int g = 1; g <= groups; ++g) {
          uint32_t mask = 0;
          for (size_t d = 0; d < n; ++d)
            if (label[d] == g) mask |= 1u << d;
          if (std::isfinite(best_tau[mask])) total += 1 / best_tau[mask];
        }
        best = std::max(best, total);
        return;
      }
      for (int g = 0; g <= groups + 1; ++g) {  // restricted growth: no relabelled duplicates
        label[i] = g;
        rec(i + 1, std::max(groups, g));
      }
    };
    rec(0, 0);
    return best;
  }
};

struct Instance {
  ModelCost model;
  Cluster cluster;
};

Instance RandomInstance(std::mt19937_64& rng, int n_devices, int n_layers) {
  auto uni = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  auto coin = [&](double p) { return uni(0, 1) < p; };
  Instance in;
  ModelCost& m = in.model;
  uint64_t total = 0;
  for (int l = 0; l < n_layers; ++l) {
    m.layer_bytes.push_back(static_cast<uint64_t>(uni(20, 60) * kMiB));
    m.layer_flops.push_back(2.0 * m.layer_bytes.back() * uni(1.5, 2.5));
    total += m.layer_bytes.back();
  }
  m.kv_dim = 512;  // 4 KiB of K and V per position
  m.embd_bytes = static_cast<uint64_t>(uni(50, 200) * kMiB);
  m.embd_row_bytes = m.embd_bytes / 32000;
  m.tied_output = coin(0.3);
  m.output_bytes = m.tied_output ? m.embd_bytes : static_cast<uint64_t>(uni(50, 200) * kMiB);
  m.output_flops = 2.0 * m.output_bytes;
  m.act_bytes = static_cast<uint64_t>(uni(2048, 16384));
  total += m.embd_bytes + m.output_bytes;

  Cluster& c = in.cluster;
  const bool head_is_device = coin(0.5);
  for (int i = 0; i < n_devices; ++i) {
    Device d;
    d.name = "dev" + std::to_string(i);
    // Often too small to hold everything, so splits are forced.
    d.memory_bytes = static_cast<uint64_t>(uni(0.15, 1.3) * static_cast<double>(total));
    d.bandwidth = uni(2, 60) * 1e9;
    if (coin(0.5)) d.flops = uni(20, 400) * 1e9;
    if (coin(0.2)) {
      d.measured_layer_bytes = 30 * kMiB;
      d.measured_layer_seconds = uni(0.3, 10) * 1e-3;
    }
    if (i == 0 && head_is_device) {
      d.is_head = true;
      d.runs_layers = coin(0.7);
    }
    c.devices.push_back(d);
  }
  if (!head_is_device) {
    Device h;
    h.name = "head";
    h.is_head = true;
    h.runs_layers = false;
    c.devices.push_back(h);
  }
  const size_t n = c.devices.size();
  c.links.assign(n, std::vector<Link>(n));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (i != j) c.links[i][j] = {uni(0.1, 40) * 1e-3, uni(2.5e6, 125e6)};
  return in;
}

PlanOptions SmallOptions(Objective obj) {
  PlanOptions o;
  o.objective = obj;
  o.n_ctx = 512;
  o.scratch_bytes = 16 * kMiB;
  return o;
}

void CheckPlanValid(const Instance& in, const PlanOptions& o, const Plan& plan) {
  std::vector<bool> used(in.cluster.devices.size(), false);
  for (const Pipeline& p : plan.pipelines) {
    int64_t next = 0;
    for (const Stage& s : p.stages) {
      EXPECT_FALSE(used[s.device]) << "device in two stages";
      used[s.device] = true;
      EXPECT_EQ(s.first_layer, next);
      EXPECT_GT(s.last_layer, s.first_layer);
      EXPECT_TRUE(s.fits);
      EXPECT_LE(s.memory_bytes, in.cluster.devices[s.device].memory_bytes);
      next = s.last_layer;
    }
    EXPECT_EQ(next, in.model.n_layers());
    // Predicted numbers are what EvaluatePipeline says about the same stages.
    auto e = EvaluatePipeline(in.model, in.cluster, o, p.stages);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_NEAR(e->latency_seconds, p.latency_seconds, 1e-12);
    EXPECT_NEAR(e->bottleneck_seconds, p.bottleneck_seconds, 1e-12);
  }
  for (const Exclusion& x : plan.excluded) EXPECT_FALSE(used[x.device]) << x.reason;
}

TEST(PlacementExhaustive, LatencyMatchesBruteForce) {
  std::mt19937_64 rng(1234);
  int solved = 0;
  for (int iter = 0; iter < 40; ++iter) {
    const int n = 1 + iter % 6;
    const int L = iter % 6 == 5 ? 12 + iter % 5 : 4 + iter % 13;  // 6 devices: keep brute fast
    Instance in = RandomInstance(rng, n, L);
    const PlanOptions o = SmallOptions(Objective::kLatency);
    Brute brute(in.model, in.cluster, o);
    brute.Run();
    auto plan = PlanPlacement(in.model, in.cluster, o);
    SCOPED_TRACE("instance " + std::to_string(iter));
    if (!std::isfinite(brute.best_latency)) {
      EXPECT_FALSE(plan.ok());
      EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
      continue;
    }
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_TRUE(plan->exact);
    EXPECT_NEAR(plan->latency_seconds, brute.best_latency, 1e-9 * brute.best_latency);
    CheckPlanValid(in, o, *plan);
    ++solved;
  }
  EXPECT_GT(solved, 25);
}

TEST(PlacementExhaustive, ThroughputMatchesBruteForce) {
  std::mt19937_64 rng(98765);
  int solved = 0, multi = 0;
  for (int iter = 0; iter < 30; ++iter) {
    const int n = 1 + iter % 6;
    const int L = iter % 6 == 5 ? 12 + iter % 5 : 4 + iter % 13;
    Instance in = RandomInstance(rng, n, L);
    const PlanOptions o = SmallOptions(Objective::kThroughput);
    Brute brute(in.model, in.cluster, o);
    brute.Run();
    const double best = brute.BestThroughput();
    auto plan = PlanPlacement(in.model, in.cluster, o);
    SCOPED_TRACE("instance " + std::to_string(iter));
    if (best == 0) {
      EXPECT_FALSE(plan.ok());
      continue;
    }
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_NEAR(plan->tokens_per_second, best, 1e-9 * best);
    CheckPlanValid(in, o, *plan);
    ++solved;
    multi += plan->pipelines.size() > 1;
  }
  EXPECT_GT(solved, 20);
  EXPECT_GT(multi, 0) << "no instance exercised pipelines side by side";
}

// The Llama-3.2-1B shape and an 8B shape, Q4_0.
HParams Shape1B() {
  HParams hp;
  hp.dim = 2048, hp.n_layers = 16, hp.n_heads = 32, hp.n_kv_heads = 8, hp.head_dim = 64;
  hp.ffn_dim = 8192, hp.n_vocab = 128256;
  return hp;
}
HParams Shape8B() {
  HParams hp;
  hp.dim = 4096, hp.n_layers = 32, hp.n_heads = 32, hp.n_kv_heads = 8, hp.head_dim = 128;
  hp.ffn_dim = 14336, hp.n_vocab = 128256;
  return hp;
}

Device Dev(std::string name, double mem_gib, double bw_gbs, bool head = false) {
  Device d;
  d.name = std::move(name);
  d.memory_bytes = static_cast<uint64_t>(mem_gib * kGiB);
  d.bandwidth = bw_gbs * 1e9;
  d.is_head = head;
  return d;
}

// Symmetric links: LAN everywhere except the listed (rtt ms, Mbit/s) pairs.
void Links(Cluster* c, std::vector<std::tuple<int, int, double, double>> slow = {}) {
  const size_t n = c->devices.size();
  c->links.assign(n, std::vector<Link>(n, Link{0.5e-3, 1000e6 / 8}));
  for (auto [a, b, rtt, mbps] : slow)
    c->links[a][b] = c->links[b][a] = {rtt * 1e-3, mbps * 1e6 / 8};
}

const Exclusion* Excluded(const Plan& p, int device) {
  for (const Exclusion& e : p.excluded)
    if (e.device == device) return &e;
  return nullptr;
}

TEST(Placement, SlowLinkPhoneIsLeftOutWithReason) {
  // 8B Q4_0 (~4.5 GB) fits neither the laptop nor the desktop alone. A phone on a 35 ms,
  // 20 Mbit/s link runs layers faster than the laptop, but its link costs more than that saves.
  const ModelCost m = UniformModelCost(Shape8B(), 18.0 / 32, ActFormat::kF16);
  Cluster c;
  c.devices = {Dev("laptop", 3, 20, true), Dev("desktop", 4, 30), Dev("phone", 2, 25)};
  Links(&c, {{0, 2, 35, 20}, {1, 2, 35, 20}});
  PlanOptions o;
  o.n_ctx = 1024;
  auto plan = PlanPlacement(m, c, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const Exclusion* e = Excluded(*plan, 2);
  ASSERT_NE(e, nullptr) << RenderPlan(*plan, c);
  EXPECT_NE(e->reason.find("link adds"), std::string::npos) << e->reason;
  EXPECT_NE(e->reason.find("its layers would save"), std::string::npos) << e->reason;
  EXPECT_EQ(plan->pipelines[0].stages.size(), 2u);
  const std::string table = RenderPlan(*plan, c);
  EXPECT_NE(table.find("phone: its link adds"), std::string::npos) << table;

  // On a LAN link the same phone is worth using.
  Links(&c);
  plan = PlanPlacement(m, c, o);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Excluded(*plan, 2), nullptr) << RenderPlan(*plan, c);
}

TEST(Placement, BatteryAndThermalPolicy) {
  const ModelCost m = UniformModelCost(Shape1B(), 18.0 / 32, ActFormat::kF16);
  Cluster c;
  c.devices = {Dev("laptop", 0.6, 20, true), Dev("phone", 4, 30), Dev("tablet", 4, 30)};
  c.devices[1].battery = {true, 0.12, false};
  c.devices[2].thermal_throttled = true;
  Links(&c);
  PlanOptions o;
  o.n_ctx = 1024;
  auto plan = PlanPlacement(m, c, o);
  // Neither may run layers, and the laptop alone cannot hold the model.
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(plan.status().message().find("battery at 12%"), std::string::npos)
      << plan.status().message();
  EXPECT_NE(plan.status().message().find("throttled"), std::string::npos);

  c.devices[1].battery.charging = true;
  plan = PlanPlacement(m, c, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const Exclusion* t = Excluded(*plan, 2);
  ASSERT_NE(t, nullptr);
  EXPECT_NE(t->reason.find("throttled"), std::string::npos);

  c.devices[1].battery = {true, 0.12, false};
  o.min_battery = 0.1;  // the threshold is an option
  plan = PlanPlacement(m, c, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(Excluded(*plan, 1), nullptr);
}

TEST(Placement, MemoryIsRespectedAndTinyDevicesExplained) {
  const ModelCost m = UniformModelCost(Shape1B(), 18.0 / 32, ActFormat::kF16);
  Cluster c;
  // The fastest device is small: it gets only what fits.
  c.devices = {Dev("head", 8, 10, true), Dev("fast-small", 0.7, 100), Dev("watch", 0.05, 5)};
  Links(&c);
  PlanOptions o;
  o.n_ctx = 2048;
  auto plan = PlanPlacement(m, c, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (const Stage& s : plan->pipelines[0].stages) {
    EXPECT_TRUE(s.fits);
    EXPECT_LE(s.memory_bytes, c.devices[s.device].memory_bytes);
  }
  const Exclusion* w = Excluded(*plan, 2);
  ASSERT_NE(w, nullptr);
  EXPECT_NE(w->reason.find("cannot hold one layer"), std::string::npos) << w->reason;
}

// A mixture of experts holds every expert but a decoded token reads only the active ones: memory
// at full size, compute time from the read bytes (Qwen3-30B-A3B's shape: 128 experts, 8 used).
TEST(Placement, MixtureOfExpertsHoldsAllExpertsButReadsTheActiveOnes) {
  HParams hp;
  hp.dim = 2048, hp.n_layers = 48, hp.n_heads = 32, hp.n_kv_heads = 4, hp.head_dim = 128;
  hp.ffn_dim = 6144, hp.n_vocab = 151936;
  hp.n_expert = 128, hp.n_expert_used = 8, hp.expert_ffn_dim = 768;
  const ModelCost m = UniformModelCost(hp, 18.0 / 32, ActFormat::kF16);
  ASSERT_EQ(m.layer_read_bytes.size(), m.layer_bytes.size());
  const double ratio =
      static_cast<double>(m.layer_read_bytes[0]) / static_cast<double>(m.layer_bytes[0]);
  EXPECT_GT(ratio, 0.05);
  EXPECT_LT(ratio, 0.15);
  Cluster c;
  c.devices = {Dev("head", 24, 10, true)};
  Links(&c);
  PlanOptions o;
  o.n_ctx = 2048;
  auto plan = PlanPlacement(m, c, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const Stage& s = plan->pipelines[0].stages.at(0);
  uint64_t held = 0, read = 0;
  for (size_t l = 0; l < m.layer_bytes.size(); ++l)
    held += m.layer_bytes[l], read += m.layer_read_bytes[l];
  EXPECT_GE(s.memory_bytes, held);
  const double want = static_cast<double>(read + m.embd_row_bytes + m.output_bytes) / 10e9;
  EXPECT_NEAR(s.compute_seconds, want, want * 1e-6);
}

// Sliding-window layers are counted at their rings (the one KV-bytes function of
// model/footprint.h): Gemma-3-1B's shape at a 32768 context, 22 of its 26 layers sliding over
// 512 positions.
TEST(Placement, SlidingWindowLayersCountTheirRings) {
  HParams hp;
  hp.dim = 1152, hp.n_layers = 26, hp.n_heads = 4, hp.n_kv_heads = 1, hp.head_dim = 256;
  hp.ffn_dim = 6912, hp.n_vocab = 262144, hp.n_swa = 512, hp.swa_period = 6;
  ModelCost m = UniformModelCost(hp, 18.0 / 32, ActFormat::kF16);
  ASSERT_EQ(m.layer_sliding.size(), 26u);
  Cluster c;
  c.devices = {Dev("head", 24, 10, true)};
  Links(&c);
  PlanOptions o;
  o.n_ctx = 32768;
  auto ring = PlanPlacement(m, c, o);
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  m.layer_sliding.clear();
  auto full = PlanPlacement(m, c, o);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  const KvLayout kv = KvLayoutFor(hp, KvBlocksFor(32768), 32768, 1, o.max_batch);
  ASSERT_TRUE(kv.ring());
  const uint64_t saved =
      KvBytes(hp, KvLayout{.n_blocks = KvBlocksFor(32768)}, 0, 26, KvType::kF32) -
      KvBytes(hp, kv, 0, 26, KvType::kF32);
  EXPECT_EQ(
      full->pipelines[0].stages.at(0).memory_bytes - ring->pipelines[0].stages.at(0).memory_bytes,
      saved);
  EXPECT_GT(saved, 22ull * 32768 * 256 * 2 * 4 * 9 / 10);  // ~22 layers' full KV
}

TEST(Placement, ThroughputUsesPipelinesSideBySide) {
  const ModelCost m = UniformModelCost(Shape1B(), 18.0 / 32, ActFormat::kF16);
  Cluster c;
  c.devices = {Dev("head", 0, 1, true), Dev("a", 4, 20), Dev("b", 4, 20)};
  c.devices[0].runs_layers = false;
  Links(&c);
  PlanOptions o;
  o.objective = Objective::kThroughput;
  auto plan = PlanPlacement(m, c, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->pipelines.size(), 2u) << RenderPlan(*plan, c);
  EXPECT_NEAR(plan->tokens_per_second, 2 * plan->pipelines[0].tokens_per_second(), 1e-6);
  EXPECT_NE(RenderPlan(*plan, c).find("pipeline 2"), std::string::npos);

  o.objective = Objective::kLatency;
  plan = PlanPlacement(m, c, o);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->pipelines.size(), 1u);
}

TEST(Placement, ForcedSplitValidation) {
  const ModelCost m = UniformModelCost(Shape1B(), 18.0 / 32, ActFormat::kF16);
  Cluster c;
  c.devices = {Dev("head", 0, 1, true), Dev("a", 4, 20), Dev("b", 4, 20), Dev("c", 0.3, 20)};
  c.devices[0].runs_layers = false;
  Links(&c);
  PlanOptions o;
  o.forced_split = {8, 8};
  auto plan = PlanPlacement(m, c, o);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("2 layer counts for 3 devices"), std::string::npos)
      << plan.status().message();
  o.forced_split = {8, 7, 0};
  plan = PlanPlacement(m, c, o);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("add up to 15, the model has 16"), std::string::npos)
      << plan.status().message();
  o.forced_split = {8, -1, 9};
  EXPECT_FALSE(PlanPlacement(m, c, o).ok());
  o.forced_split = {4, 4, 8};  // c has 0.3 GiB: too small for 8 layers + output
  plan = PlanPlacement(m, c, o);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(plan.status().message().find("on 'c'"), std::string::npos) << plan.status().message();
  o.forced_split = {10, 6, 0};
  plan = PlanPlacement(m, c, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->pipelines[0].stages.size(), 2u);
  EXPECT_EQ(plan->pipelines[0].stages[0].last_layer, 10);
  ASSERT_NE(Excluded(*plan, 3), nullptr);
}

TEST(Placement, BaselinesSplitAsDocumented) {
  const ModelCost m = UniformModelCost(Shape1B(), 18.0 / 32, ActFormat::kF16);
  Cluster c;
  c.devices = {Dev("head", 6, 20, true), Dev("a", 2, 20), Dev("b", 1, 20)};
  Links(&c);
  auto eq = BaselinePlan(m, c, PlanOptions{}, Baseline::kEqual);
  ASSERT_TRUE(eq.ok());
  std::vector<int64_t> counts;
  for (const Stage& s : eq->pipelines[0].stages) counts.push_back(s.last_layer - s.first_layer);
  EXPECT_EQ(counts, (std::vector<int64_t>{6, 5, 5}));
  auto mp = BaselinePlan(m, c, PlanOptions{}, Baseline::kMemoryProportional);
  ASSERT_TRUE(mp.ok());
  counts.clear();
  for (const Stage& s : mp->pipelines[0].stages) counts.push_back(s.last_layer - s.first_layer);
  EXPECT_EQ(counts, (std::vector<int64_t>{11, 3, 2}));  // 16 × 6/9, 2/9, 1/9
  // The optimum is never worse than a baseline that fits.
  auto best = PlanPlacement(m, c, PlanOptions{});
  ASSERT_TRUE(best.ok());
  EXPECT_LE(best->latency_seconds, eq->latency_seconds);
}

TEST(Placement, ManyDevicesUseTheHeuristicQuickly) {
  std::mt19937_64 rng(7);
  for (Objective obj : {Objective::kLatency, Objective::kThroughput}) {
    Instance in = RandomInstance(rng, 14, 32);
    PlanOptions o = SmallOptions(obj);
    const auto t0 = std::chrono::steady_clock::now();
    auto plan = PlanPlacement(in.model, in.cluster, o);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_FALSE(plan->exact);
    EXPECT_NE(plan->method.find("heuristic"), std::string::npos);
    EXPECT_LT(s, 5.0);
    CheckPlanValid(in, o, *plan);
  }
}

TEST(Placement, InvalidInputsAreErrors) {
  const ModelCost m = UniformModelCost(Shape1B(), 18.0 / 32, ActFormat::kF16);
  Cluster c;
  c.devices = {Dev("head", 6, 20, true), Dev("a", 2, 20)};
  Links(&c);
  Cluster bad = c;
  bad.devices[1].bandwidth = -1;
  EXPECT_NE(PlanPlacement(m, bad, {}).status().message().find("bandwidth"), std::string::npos);
  bad = c;
  bad.devices[1].is_head = true;
  EXPECT_FALSE(PlanPlacement(m, bad, {}).ok());
  bad = c;
  bad.links.pop_back();
  EXPECT_FALSE(PlanPlacement(m, bad, {}).ok());
  bad = c;
  bad.links[0][1].bandwidth = 0;
  EXPECT_NE(PlanPlacement(m, bad, {}).status().message().find("link head -> a"), std::string::npos);
  ModelCost bm = m;
  bm.layer_bytes.clear();
  bm.layer_flops.clear();
  EXPECT_FALSE(PlanPlacement(bm, c, {}).ok());
  PlanOptions o;
  o.n_seqs = 0;
  EXPECT_FALSE(PlanPlacement(m, c, o).ok());
}

TEST(Placement, ActivationBytes) {
  EXPECT_EQ(ActivationBytes(ActFormat::kF32, 2048), 8192u);
  EXPECT_EQ(ActivationBytes(ActFormat::kF16, 2048), 4096u);
  EXPECT_EQ(ActivationBytes(ActFormat::kQ8_0, 2048), 64u * 34);
  EXPECT_EQ(ParseActFormat("q8_0"), ActFormat::kQ8_0);
  EXPECT_FALSE(ParseActFormat("q4").has_value());
}

}  // namespace
}  // namespace suanli::placement
