// PlanPlacement: the exact subset DP, the heuristics beyond it, the forced split and the reasons
// for every device left out. The cost model and the search are specified in placement.h.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>

#include "base/progress.h"
#include "placement/cost_model.h"
#include "suanli/placement.h"

namespace suanli::placement {
namespace {

constexpr int kMaxExact = 10;
// Upper bound on 2^k·k²·L² inner steps for one exact search; deep models get fewer candidates.
constexpr double kExactBudget = 2e9;

std::string Ms(double seconds) {
  char buf[32];
  const double ms = seconds * 1e3;
  std::snprintf(buf, sizeof buf, ms < 1 ? "%.2f ms" : "%.1f ms", ms);
  return buf;
}

std::string Tps(double tps) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f tokens/s", tps);
  return buf;
}

// Results of the DP over (mask of candidates used, last candidate d, first layer a of d's stage).
// kMax = false: the value is latency so far (sum); true: bottleneck so far (max).
struct SubsetDp {
  int k = 0;
  int64_t L = 0;
  std::vector<int> cand;          // candidate index -> device index
  std::vector<double> val;        // [(mask·k + d)·(L+1) + a]
  std::vector<int16_t> pd, pa;    // predecessor: its candidate and first layer (-1: none)
  std::vector<double> final_val;  // per mask: best complete pipeline using exactly mask
  std::vector<int16_t> fd, fa;    // its last stage

  size_t Idx(uint32_t mask, int d, int64_t a) const {
    return (static_cast<size_t>(mask) * static_cast<size_t>(k) + static_cast<size_t>(d)) *
               static_cast<size_t>(L + 1) +
           static_cast<size_t>(a);
  }

  // The stages of the best pipeline using exactly `mask` (empty if none fits).
  std::vector<Stage> Reconstruct(uint32_t mask) const {
    std::vector<Stage> out;
    if (!std::isfinite(final_val[mask])) return out;
    int d = fd[mask];
    int64_t a = fa[mask], b = L;
    while (d >= 0) {
      Stage s;
      s.device = cand[static_cast<size_t>(d)];
      s.first_layer = a;
      s.last_layer = b;
      out.push_back(s);
      const size_t i = Idx(mask, d, a);
      mask ^= 1u << d;
      b = a;
      d = pd[i];
      a = pa[i];
    }
    std::reverse(out.begin(), out.end());
    return out;
  }
};

template <bool kMax>
SubsetDp RunSubsetDp(const CostModel& cm, const std::vector<int>& cand) {
  SubsetDp dp;
  dp.k = static_cast<int>(cand.size());
  dp.L = cm.n_layers();
  dp.cand = cand;
  const int k = dp.k;
  const int64_t L = dp.L;
  const int H = cm.head();
  const uint64_t A = cm.model().act_bytes, tok = cm.model().token_bytes;
  const uint32_t full = (1u << k) - 1;
  std::vector<double> link(static_cast<size_t>(k * k)), from_head(k), to_head(k);
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j)
      link[i * k + j] = kMax ? cm.Transfer(cand[i], cand[j], A) : cm.Hop(cand[i], cand[j], A);
    from_head[i] = kMax ? cm.Transfer(H, cand[i], tok) : cm.Hop(H, cand[i], tok);
    to_head[i] = kMax ? cm.Transfer(cand[i], H, tok) : cm.Hop(cand[i], H, tok);
  }
  const size_t n_states =
      static_cast<size_t>(full + 1) * static_cast<size_t>(k) * static_cast<size_t>(L + 1);
  dp.val.assign(n_states, kInf);
  dp.pd.assign(n_states, -1);
  dp.pa.assign(n_states, -1);
  dp.final_val.assign(full + 1, kInf);
  dp.fd.assign(full + 1, -1);
  dp.fa.assign(full + 1, -1);
  for (int e = 0; e < k; ++e) dp.val[dp.Idx(1u << e, e, 0)] = from_head[e];

  for (uint32_t mask = 1; mask <= full; ++mask) {
    for (int d = 0; d < k; ++d) {
      if (!(mask >> d & 1)) continue;
      for (int64_t a = 0; a < L; ++a) {
        const double v = dp.val[dp.Idx(mask, d, a)];
        if (!std::isfinite(v)) continue;
        // Memory grows with b, so the first range that does not fit ends the scan.
        for (int64_t b = a + 1; b <= L; ++b) {
          if (!cm.Fits(cand[d], a, b)) break;
          const double t = cm.StageSeconds(cand[d], a, b);
          if (b == L) {
            const double f = kMax ? std::max(v, t + to_head[d]) : v + t + to_head[d];
            if (f < dp.final_val[mask]) {
              dp.final_val[mask] = f;
              dp.fd[mask] = static_cast<int16_t>(d);
              dp.fa[mask] = static_cast<int16_t>(a);
            }
            continue;
          }
          const double vt = v + t;
          for (int e = 0; e < k; ++e) {
            if (mask >> e & 1) continue;
            const double nv = kMax ? std::max(v, t + link[d * k + e]) : vt + link[d * k + e];
            const size_t ni = dp.Idx(mask | 1u << e, e, b);
            if (nv < dp.val[ni]) {
              dp.val[ni] = nv;
              dp.pd[ni] = static_cast<int16_t>(d);
              dp.pa[ni] = static_cast<int16_t>(a);
            }
          }
        }
      }
    }
  }
  return dp;
}

// The candidates one exact search may take for this model depth.
int ExactLimit(const PlanOptions& opts, int64_t L) {
  int k = std::clamp(opts.exact_max_devices, 1, kMaxExact);
  const double l2 = static_cast<double>(L) * static_cast<double>(L);
  while (k > 1 && std::ldexp(1.0, k) * k * k * l2 > kExactBudget) --k;
  return k;
}

Pipeline Evaluate(const CostModel& cm, const PlanOptions& opts, const std::vector<Stage>& stages) {
  auto p = EvaluatePipeline(cm.model(), cm.cluster(), opts, stages);
  return std::move(p).value();  // stages from the search are valid by construction
}

double ComputeSum(const Pipeline& p) {
  double c = 0;
  for (const Stage& s : p.stages) c += s.compute_seconds;
  return c;
}

// Why the latency optimum `best` does not use `device`, given the best plan that does.
std::string LatencyReason(const Pipeline& best, const Pipeline* with, const Device& dev) {
  if (!with) return "no placement that includes it fits in memory";
  const double lb = best.latency_seconds, lw = with->latency_seconds;
  if (lw <= lb * (1 + 1e-9)) return "not needed: the plan is as fast without it";
  const double dc = ComputeSum(*with) - ComputeSum(best);
  const double dh = (lw - ComputeSum(*with)) - (lb - ComputeSum(best));
  if (dc < 0 && dh > 0)
    return "its link adds " + Ms(dh) + " per token, more than the " + Ms(-dc) +
           " its layers would save";
  char bw[64];
  std::snprintf(bw, sizeof bw, " (%.1f GB/s)", dev.bandwidth / 1e9);
  if (dh > 0)
    return "too slow: its layers would take " + Ms(dc) + " longer per token" +
           (dev.measured_layer_seconds > 0 ? std::string() : std::string(bw)) +
           " and its link adds " + Ms(dh);
  return "too slow: its layers would take " + Ms(dc) + " longer per token" +
         (dev.measured_layer_seconds > 0 ? std::string() : std::string(bw));
}

// Among splits over the fixed device order of `p` whose every stage keeps within the bottleneck
// τ, the one with the lowest latency (the throughput DP breaks ties arbitrarily).
std::vector<Stage> MinLatencyWithinBottleneck(const CostModel& cm, const Pipeline& p) {
  const int64_t L = cm.n_layers();
  const size_t k = p.stages.size();
  const int H = cm.head();
  const double tau = p.bottleneck_seconds * (1 + 1e-9);
  const uint64_t A = cm.model().act_bytes, tok = cm.model().token_bytes;
  // g[i][b]: least latency with the first i stages covering [0, b).
  std::vector<std::vector<double>> g(k + 1, std::vector<double>(static_cast<size_t>(L) + 1, kInf));
  std::vector<std::vector<int64_t>> from(k + 1, std::vector<int64_t>(static_cast<size_t>(L) + 1));
  g[0][0] = cm.Hop(H, p.stages[0].device, tok);
  for (size_t i = 0; i < k; ++i) {
    const int d = p.stages[i].device;
    const bool last = i + 1 == k;
    const int to = last ? H : p.stages[i + 1].device;
    const uint64_t bytes = last ? tok : A;
    for (int64_t a = 0; a < L; ++a) {
      if (!std::isfinite(g[i][a])) continue;
      for (int64_t b = a + 1; b <= L; ++b) {
        if (last && b != L) continue;
        if (!cm.Fits(d, a, b)) break;
        const double t = cm.StageSeconds(d, a, b);
        if (t + cm.Transfer(d, to, bytes) > tau) continue;
        const double v = g[i][a] + t + cm.Hop(d, to, bytes);
        if (v < g[i + 1][b]) {
          g[i + 1][b] = v;
          from[i + 1][b] = a;
        }
      }
    }
  }
  if (!std::isfinite(g[k][L]) || g[k][L] >= p.latency_seconds) return p.stages;
  std::vector<Stage> out(k);
  int64_t b = L;
  for (size_t i = k; i > 0; --i) {
    out[i - 1].device = p.stages[i - 1].device;
    out[i - 1].last_layer = b;
    b = from[i][b];
    out[i - 1].first_layer = b;
  }
  return out;
}

struct SearchResult {
  std::vector<Pipeline> pipelines;
  std::vector<Exclusion> excluded;  // candidates the optimum leaves out
};

SearchResult ExactLatency(const CostModel& cm, const PlanOptions& opts,
                          const std::vector<int>& cand) {
  SearchResult r;
  const SubsetDp dp = RunSubsetDp<false>(cm, cand);
  const uint32_t full = (1u << dp.k) - 1;
  uint32_t best = 0;  // final_val[0] is infinite
  for (uint32_t m = 1; m <= full; ++m)
    if (dp.final_val[m] < dp.final_val[best]) best = m;
  if (!std::isfinite(dp.final_val[best])) return r;
  r.pipelines.push_back(Evaluate(cm, opts, dp.Reconstruct(best)));
  for (int x = 0; x < dp.k; ++x) {
    if (best >> x & 1) continue;
    uint32_t with = 0;
    for (uint32_t m = 1; m <= full; ++m)
      if ((m >> x & 1) && (with == 0 || dp.final_val[m] < dp.final_val[with])) with = m;
    std::optional<Pipeline> pw;
    if (with && std::isfinite(dp.final_val[with])) pw = Evaluate(cm, opts, dp.Reconstruct(with));
    r.excluded.push_back({cand[x], LatencyReason(r.pipelines[0], pw ? &*pw : nullptr,
                                                 cm.cluster().devices[cand[x]])});
  }
  return r;
}

SearchResult ExactThroughput(const CostModel& cm, const PlanOptions& opts,
                             const std::vector<int>& cand) {
  SearchResult r;
  const SubsetDp dp = RunSubsetDp<true>(cm, cand);
  const int k = dp.k;
  const uint32_t full = (1u << k) - 1;
  std::vector<double> thr(full + 1, 0);
  for (uint32_t m = 1; m <= full; ++m)
    if (std::isfinite(dp.final_val[m]) && dp.final_val[m] > 0) thr[m] = 1 / dp.final_val[m];
  // f[S]: best total tokens/s from devices in S; ties go to fewer devices (fewer hops).
  std::vector<double> f(full + 1, 0);
  std::vector<uint32_t> pick(full + 1, 0);  // pipeline holding S's lowest device, 0: unused
  std::vector<int> used(full + 1, 0);
  auto better = [](double v, int u, double bv, int bu) {
    return v > bv * (1 + 1e-12) || (v >= bv * (1 - 1e-12) && u < bu);
  };
  for (uint32_t S = 1; S <= full; ++S) {
    const uint32_t low = S & (~S + 1);
    f[S] = f[S ^ low];
    used[S] = used[S ^ low];
    const uint32_t rest = S ^ low;
    for (uint32_t sub = rest;; sub = (sub - 1) & rest) {
      const uint32_t T = sub | low;
      if (thr[T] > 0) {
        const double v = thr[T] + f[S ^ T];
        const int u = std::popcount(T) + used[S ^ T];
        if (better(v, u, f[S], used[S])) {
          f[S] = v;
          used[S] = u;
          pick[S] = T;
        }
      }
      if (sub == 0) break;
    }
  }
  uint32_t used_mask = 0;
  for (uint32_t S = full; S;) {
    const uint32_t low = S & (~S + 1);
    if (!pick[S]) {
      S ^= low;
      continue;
    }
    const Pipeline p = Evaluate(cm, opts, dp.Reconstruct(pick[S]));
    r.pipelines.push_back(Evaluate(cm, opts, MinLatencyWithinBottleneck(cm, p)));
    used_mask |= pick[S];
    S ^= pick[S];
  }
  std::stable_sort(r.pipelines.begin(), r.pipelines.end(),
                   [](const Pipeline& a, const Pipeline& b) {
                     return a.tokens_per_second() > b.tokens_per_second();
                   });
  for (int x = 0; x < k; ++x) {
    if (used_mask >> x & 1) continue;
    // The best total with x in some pipeline.
    double with = 0;
    uint32_t with_T = 0;
    for (uint32_t T = 1; T <= full; ++T) {
      if (!(T >> x & 1) || thr[T] <= 0) continue;
      const double v = thr[T] + f[full ^ T];
      if (v > with) with = v, with_T = T;
    }
    std::string reason;
    if (!with_T) {
      reason = "no pipeline that includes it fits in memory";
    } else if (with >= f[full] * (1 - 1e-9)) {
      reason = "would not raise tokens/s (" + Tps(f[full]) + " with or without it)";
    } else {
      const Pipeline p = Evaluate(cm, opts, dp.Reconstruct(with_T));
      reason = "using it lowers the pool from " + Tps(f[full]) + " to " + Tps(with);
      for (const Stage& s : p.stages) {
        if (s.device != cand[x]) continue;
        const double send = s.busy_seconds - s.compute_seconds;
        reason += ": its stage takes " + Ms(s.busy_seconds) + " per token (" +
                  Ms(s.compute_seconds) + " compute + " + Ms(send) + " sending)";
        if (s.busy_seconds >= p.bottleneck_seconds * (1 - 1e-9))
          reason += send > s.compute_seconds ? ", its link is the bottleneck"
                                             : ", the bottleneck of its pipeline";
      }
    }
    r.excluded.push_back({cand[x], reason});
  }
  return r;
}

// Seconds per token of one middle layer on d: a speed to rank devices by.
double LayerSeconds(const CostModel& cm, int d) {
  const int64_t l = cm.n_layers() / 2;
  return cm.StageSeconds(d, l, l + 1);
}

std::vector<int> SortedBySpeed(const CostModel& cm, std::vector<int> devs) {
  std::stable_sort(devs.begin(), devs.end(),
                   [&](int a, int b) { return LayerSeconds(cm, a) < LayerSeconds(cm, b); });
  return devs;
}

// Heuristic latency: the exact search over `limit` candidates, taken alternately from the fastest
// devices and the best linked to the head (latency pays for both); by memory if those cannot hold
// the model.
SearchResult HeuristicLatency(const CostModel& cm, const PlanOptions& opts,
                              const std::vector<int>& elig, int limit, std::string* method) {
  const int H = cm.head();
  const uint64_t A = cm.model().act_bytes;
  std::vector<int> by_speed = SortedBySpeed(cm, elig), by_link = elig, by_mem = elig;
  std::stable_sort(by_link.begin(), by_link.end(), [&](int a, int b) {
    return cm.Hop(H, a, A) + cm.Hop(a, H, A) < cm.Hop(H, b, A) + cm.Hop(b, H, A);
  });
  std::stable_sort(by_mem.begin(), by_mem.end(), [&](int a, int b) {
    return cm.cluster().devices[a].memory_bytes > cm.cluster().devices[b].memory_bytes;
  });
  std::vector<int> cand;
  for (size_t i = 0; static_cast<int>(cand.size()) < limit && i < elig.size(); ++i)
    for (int d : {by_speed[i], by_link[i]})
      if (static_cast<int>(cand.size()) < limit &&
          std::find(cand.begin(), cand.end(), d) == cand.end())
        cand.push_back(d);
  SearchResult r = ExactLatency(cm, opts, cand);
  *method = "heuristic: exact search over " + std::to_string(cand.size()) + " of " +
            std::to_string(elig.size()) + " devices (the fastest and the best linked)";
  if (r.pipelines.empty()) {
    cand.assign(by_mem.begin(), by_mem.begin() + limit);
    r = ExactLatency(cm, opts, cand);
    *method = "heuristic: exact search over the " + std::to_string(cand.size()) + " of " +
              std::to_string(elig.size()) + " devices with the most memory";
  }
  for (int d : elig)
    if (std::find(cand.begin(), cand.end(), d) == cand.end())
      r.excluded.push_back({d, "not among the " + std::to_string(cand.size()) +
                                   " fastest or best-linked devices the search considered"});
  return r;
}

// Heuristic throughput: exact partitions over batches of `limit` devices in order of speed.
SearchResult HeuristicThroughput(const CostModel& cm, const PlanOptions& opts,
                                 const std::vector<int>& elig, int limit, std::string* method) {
  const std::vector<int> order = SortedBySpeed(cm, elig);
  SearchResult r;
  for (size_t i = 0; i < order.size(); i += static_cast<size_t>(limit)) {
    const std::vector<int> batch(
        order.begin() + static_cast<std::ptrdiff_t>(i),
        order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), i + limit)));
    SearchResult b = ExactThroughput(cm, opts, batch);
    for (Pipeline& p : b.pipelines) r.pipelines.push_back(std::move(p));
    for (Exclusion& e : b.excluded) r.excluded.push_back(std::move(e));
  }
  std::stable_sort(r.pipelines.begin(), r.pipelines.end(),
                   [](const Pipeline& a, const Pipeline& b) {
                     return a.tokens_per_second() > b.tokens_per_second();
                   });
  *method = "heuristic: exact pipelines within batches of " + std::to_string(limit) +
            " devices taken in order of speed (" + std::to_string(elig.size()) + " devices)";
  return r;
}

StatusOr<Plan> ForcedPlan(const ModelCost& model, const Cluster& cluster, const PlanOptions& opts) {
  std::vector<int> devs;
  for (size_t i = 0; i < cluster.devices.size(); ++i)
    if (cluster.devices[i].runs_layers) devs.push_back(static_cast<int>(i));
  if (opts.forced_split.size() != devs.size())
    return InvalidArgument("--split: " + std::to_string(opts.forced_split.size()) +
                           " layer counts for " + std::to_string(devs.size()) +
                           " devices that run layers");
  int64_t sum = 0;
  for (size_t i = 0; i < devs.size(); ++i) {
    const int64_t n = opts.forced_split[i];
    if (n < 0 || n > model.n_layers())
      return InvalidArgument("--split: layer count " + std::to_string(n) + " for '" +
                             cluster.devices[devs[i]].name + "' is out of range [0, " +
                             std::to_string(model.n_layers()) + "]");
    sum += n;
  }
  if (sum != model.n_layers())
    return InvalidArgument("--split: layer counts add up to " + std::to_string(sum) +
                           ", the model has " + std::to_string(model.n_layers()) + " layers");
  std::vector<Stage> stages;
  int64_t first = 0;
  for (size_t i = 0; i < devs.size(); ++i) {
    const int64_t n = opts.forced_split[i];
    if (n == 0) continue;
    Stage s;
    s.device = devs[i];
    s.first_layer = first;
    s.last_layer = first + n;
    first += n;
    stages.push_back(s);
  }
  SL_ASSIGN_OR_RETURN(Pipeline p, EvaluatePipeline(model, cluster, opts, stages));
  for (const Stage& s : p.stages) {
    const Device& d = cluster.devices[s.device];
    if (!s.fits)
      return ResourceExhausted(
          "--split: " +
          (s.last_layer - s.first_layer == 1 ? "layer " + std::to_string(s.first_layer)
                                             : "layers " + std::to_string(s.first_layer) + "-" +
                                                   std::to_string(s.last_layer - 1)) +
          " need " + HumanBytes(static_cast<double>(s.memory_bytes)) + " on '" + d.name +
          "', which has " + HumanBytes(static_cast<double>(d.memory_bytes)));
  }
  Plan plan;
  plan.objective = opts.objective;
  plan.latency_seconds = p.latency_seconds;
  plan.tokens_per_second = p.tokens_per_second();
  plan.method = "forced split";
  for (size_t i = 0; i < devs.size(); ++i)
    if (opts.forced_split[i] == 0) plan.excluded.push_back({devs[i], "given 0 layers by --split"});
  plan.pipelines.push_back(std::move(p));
  return plan;
}

Status ValidateOptions(const PlanOptions& o) {
  if (o.n_ctx < 0 || o.n_ctx > (int64_t{1} << 24))
    return InvalidArgument("options: context size " + std::to_string(o.n_ctx) + " out of range");
  if (o.n_seqs < 1 || o.n_seqs > 4096)
    return InvalidArgument("options: sequences " + std::to_string(o.n_seqs) + " out of range");
  if (o.kv_tokens < 0 || o.kv_tokens > (int64_t{1} << 32))
    return InvalidArgument("options: KV tokens " + std::to_string(o.kv_tokens) + " out of range");
  if (!(o.min_battery >= 0 && o.min_battery <= 1))
    return InvalidArgument("options: min_battery must be in [0, 1]");
  return Status::Ok();
}

}  // namespace

StatusOr<Plan> PlanPlacement(const ModelCost& model, const Cluster& cluster,
                             const PlanOptions& opts) {
  SL_RETURN_IF_ERROR(model.Validate());
  SL_RETURN_IF_ERROR(cluster.Validate());
  SL_RETURN_IF_ERROR(ValidateOptions(opts));
  if (!opts.forced_split.empty()) return ForcedPlan(model, cluster, opts);

  const CostModel cm(model, cluster, opts);
  Plan plan;
  plan.objective = opts.objective;
  // Policy and capacity first: these devices never reach the search.
  std::vector<int> elig;
  const uint64_t min_mem = cm.MinStageMemory();
  for (size_t i = 0; i < cluster.devices.size(); ++i) {
    const Device& d = cluster.devices[i];
    const int di = static_cast<int>(i);
    char buf[160];
    if (!d.runs_layers) {
      if (!d.is_head) plan.excluded.push_back({di, "set to run no layers"});
    } else if (d.battery.present && !d.battery.charging && d.battery.level < opts.min_battery) {
      std::snprintf(buf, sizeof buf, "on battery at %.0f%%, not charging (below the %.0f%% limit)",
                    d.battery.level * 100, opts.min_battery * 100);
      plan.excluded.push_back({di, buf});
    } else if (d.thermal_throttled && !opts.allow_throttled) {
      plan.excluded.push_back({di, "thermally throttled: its speed would not hold"});
    } else if (d.memory_bytes < min_mem) {
      plan.excluded.push_back({di, "its " + HumanBytes(static_cast<double>(d.memory_bytes)) +
                                       " free cannot hold one layer (" +
                                       HumanBytes(static_cast<double>(min_mem)) +
                                       " with KV cache and scratch)"});
    } else {
      elig.push_back(di);
    }
  }

  SearchResult r;
  if (!elig.empty()) {
    const int limit = ExactLimit(opts, model.n_layers());
    const bool latency = opts.objective == Objective::kLatency;
    if (static_cast<int>(elig.size()) <= limit) {
      r = latency ? ExactLatency(cm, opts, elig) : ExactThroughput(cm, opts, elig);
      const std::string n =
          std::to_string(elig.size()) + (elig.size() == 1 ? " device" : " devices");
      plan.method = latency ? "exact: every ordered subset of " + n + ", every split"
                            : "exact: every partition of " + n +
                                  " into pipelines, every order "
                                  "and split";
    } else {
      plan.exact = false;
      r = latency ? HeuristicLatency(cm, opts, elig, limit, &plan.method)
                  : HeuristicThroughput(cm, opts, elig, limit, &plan.method);
    }
  }
  for (Exclusion& e : r.excluded) plan.excluded.push_back(std::move(e));
  std::stable_sort(plan.excluded.begin(), plan.excluded.end(),
                   [](const Exclusion& a, const Exclusion& b) { return a.device < b.device; });
  if (r.pipelines.empty()) {
    uint64_t total = 0, need = cm.StageMemory(0, model.n_layers());
    for (int d : elig) total += cluster.devices[d].memory_bytes;
    std::string msg = "the model does not fit: it needs about " +
                      HumanBytes(static_cast<double>(need)) + " (weights, KV cache, scratch)";
    msg += elig.empty() ? std::string(" and no device can run layers")
                        : ", the usable devices have " + HumanBytes(static_cast<double>(total));
    for (const Exclusion& e : plan.excluded)
      msg += "; " + cluster.devices[e.device].name + ": " + e.reason;
    return ResourceExhausted(msg);
  }
  plan.pipelines = std::move(r.pipelines);
  plan.latency_seconds = plan.pipelines[0].latency_seconds;
  for (const Pipeline& p : plan.pipelines) plan.tokens_per_second += p.tokens_per_second();
  return plan;
}

}  // namespace suanli::placement
