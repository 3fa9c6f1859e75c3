// Cost model, pipeline evaluation and the baselines of include/suanli/placement.h.
#include <algorithm>
#include <cmath>
#include <string>

#include "placement/cost_model.h"
#include "suanli/placement.h"

namespace suanli::placement {
namespace {

uint64_t SatAdd(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
uint64_t SatMul(uint64_t a, uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
  return a * b;
}

bool Finite(double x) { return std::isfinite(x); }

// Hostile profiles must not drive the search to absurd sizes.
constexpr int64_t kMaxLayers = 1024;
constexpr size_t kMaxDevices = 4096;

}  // namespace

std::string_view ActFormatName(ActFormat f) {
  switch (f) {
    case ActFormat::kF32:
      return "f32";
    case ActFormat::kF16:
      return "f16";
    case ActFormat::kQ8_0:
      return "q8_0";
  }
  return "?";
}

std::optional<ActFormat> ParseActFormat(std::string_view s) {
  if (s == "f32") return ActFormat::kF32;
  if (s == "f16") return ActFormat::kF16;
  if (s == "q8_0") return ActFormat::kQ8_0;
  return std::nullopt;
}

uint64_t ActivationBytes(ActFormat f, int64_t dim) {
  const uint64_t n = dim > 0 ? static_cast<uint64_t>(dim) : 0;
  switch (f) {
    case ActFormat::kF32:
      return 4 * n;
    case ActFormat::kF16:
      return 2 * n;
    case ActFormat::kQ8_0:
      return (n + 31) / 32 * 34;  // blocks of 32: f16 scale + 32 int8
  }
  return 4 * n;
}

std::string_view ObjectiveName(Objective o) {
  return o == Objective::kLatency ? "latency" : "throughput";
}

Status ModelCost::Validate() const {
  if (layer_bytes.empty()) return InvalidArgument("model: no layers");
  if (n_layers() > kMaxLayers)
    return InvalidArgument("model: " + std::to_string(n_layers()) + " layers (at most " +
                           std::to_string(kMaxLayers) + ")");
  if (layer_flops.size() != layer_bytes.size())
    return InvalidArgument("model: layer_flops has " + std::to_string(layer_flops.size()) +
                           " entries for " + std::to_string(n_layers()) + " layers");
  for (double f : layer_flops)
    if (!Finite(f) || f < 0) return InvalidArgument("model: layer_flops must be finite and >= 0");
  if (!layer_sliding.empty() && layer_sliding.size() != layer_bytes.size())
    return InvalidArgument("model: layer_sliding has " + std::to_string(layer_sliding.size()) +
                           " entries for " + std::to_string(n_layers()) + " layers");
  if (swa_window < 0) return InvalidArgument("model: swa_window must be >= 0");
  if (!layer_read_bytes.empty() && layer_read_bytes.size() != layer_bytes.size())
    return InvalidArgument("model: layer_read_bytes has " +
                           std::to_string(layer_read_bytes.size()) + " entries for " +
                           std::to_string(n_layers()) + " layers");
  if (!Finite(output_flops) || output_flops < 0)
    return InvalidArgument("model: output_flops must be finite and >= 0");
  if (act_bytes == 0) return InvalidArgument("model: act_bytes must be positive");
  return Status::Ok();
}

ModelCost MakeModelCost(const HParams& hp, std::vector<uint64_t> layer_bytes, uint64_t embd_bytes,
                        uint64_t output_bytes, bool tied_output, ActFormat act,
                        std::vector<uint64_t> layer_read_bytes) {
  ModelCost m;
  m.layer_read_bytes = std::move(layer_read_bytes);
  m.layer_flops.assign(layer_bytes.size(), 2.0 * static_cast<double>(hp.n_params_per_layer()));
  m.layer_bytes = std::move(layer_bytes);
  m.kv_dim = hp.kv_dim();
  if (hp.n_swa > 0) {
    m.swa_window = hp.n_swa;
    for (int64_t l = 0; l < hp.n_layers; ++l) m.layer_sliding.push_back(hp.is_swa(l) ? 1 : 0);
  }
  m.embd_bytes = embd_bytes;
  m.embd_row_bytes = hp.n_vocab > 0 ? embd_bytes / static_cast<uint64_t>(hp.n_vocab) : 0;
  m.output_bytes = output_bytes;
  m.output_flops = 2.0 * static_cast<double>(hp.dim) * static_cast<double>(hp.n_vocab);
  m.tied_output = tied_output;
  m.act_bytes = ActivationBytes(act, hp.dim);
  return m;
}

ModelCost UniformModelCost(const HParams& hp, double bytes_per_weight, ActFormat act,
                           bool tied_output) {
  const double norms = 2.0 * static_cast<double>(hp.dim) * 4;  // attn_norm + ffn_norm, f32
  const auto layer = static_cast<uint64_t>(
      static_cast<double>(hp.n_params_per_layer_stored()) * bytes_per_weight + norms);
  const auto read = static_cast<uint64_t>(
      static_cast<double>(hp.n_params_per_layer()) * bytes_per_weight + norms);
  const auto embd = static_cast<uint64_t>(static_cast<double>(hp.n_vocab) *
                                          static_cast<double>(hp.dim) * bytes_per_weight);
  const uint64_t out = static_cast<uint64_t>(hp.dim) * 4 + embd;  // output_norm + output
  const size_t n = static_cast<size_t>(hp.n_layers);
  return MakeModelCost(hp, std::vector<uint64_t>(n, layer), embd, out, tied_output, act,
                       hp.moe() ? std::vector<uint64_t>(n, read) : std::vector<uint64_t>{});
}

int Cluster::head() const {
  for (size_t i = 0; i < devices.size(); ++i)
    if (devices[i].is_head) return static_cast<int>(i);
  return -1;
}

Status Cluster::Validate() const {
  if (devices.empty()) return InvalidArgument("cluster: no devices");
  if (devices.size() > kMaxDevices)
    return InvalidArgument("cluster: " + std::to_string(devices.size()) + " devices (at most " +
                           std::to_string(kMaxDevices) + ")");
  int heads = 0;
  for (size_t i = 0; i < devices.size(); ++i) {
    const Device& d = devices[i];
    const std::string where = "device '" + d.name + "'";
    heads += d.is_head ? 1 : 0;
    if (d.runs_layers && (!Finite(d.bandwidth) || d.bandwidth <= 0))
      return InvalidArgument(where + ": bandwidth must be positive");
    if (!Finite(d.flops) || d.flops < 0) return InvalidArgument(where + ": flops must be >= 0");
    if (!Finite(d.battery.level) || d.battery.level < 0 || d.battery.level > 1)
      return InvalidArgument(where + ": battery level must be in [0, 1]");
    if (!Finite(d.measured_layer_seconds) || d.measured_layer_seconds < 0)
      return InvalidArgument(where + ": measured_layer_seconds must be >= 0");
    if (d.measured_layer_seconds > 0 && d.measured_layer_bytes == 0)
      return InvalidArgument(where +
                             ": measured_layer_bytes must be positive with a measured time");
  }
  if (heads != 1)
    return InvalidArgument("cluster: " + std::to_string(heads) +
                           " devices marked as head (need 1)");
  if (links.size() != devices.size())
    return InvalidArgument("cluster: links has " + std::to_string(links.size()) + " rows for " +
                           std::to_string(devices.size()) + " devices");
  for (size_t i = 0; i < links.size(); ++i) {
    if (links[i].size() != devices.size())
      return InvalidArgument("cluster: links row " + std::to_string(i) + " has " +
                             std::to_string(links[i].size()) + " entries");
    for (size_t j = 0; j < links[i].size(); ++j) {
      if (i == j) continue;
      const Link& l = links[i][j];
      const std::string where = "link " + devices[i].name + " -> " + devices[j].name;
      if (!Finite(l.rtt) || l.rtt < 0) return InvalidArgument(where + ": rtt must be >= 0");
      if (!Finite(l.bandwidth) || l.bandwidth <= 0)
        return InvalidArgument(where + ": bandwidth must be positive");
    }
  }
  return Status::Ok();
}

CostModel::CostModel(const ModelCost& m, const Cluster& c, const PlanOptions& o)
    : m_(m), c_(c), L_(m.n_layers()), head_(c.head()) {
  const int64_t kv_tokens = o.kv_tokens > 0
                                ? o.kv_tokens
                                : static_cast<int64_t>(std::min<uint64_t>(
                                      SatMul(static_cast<uint64_t>(std::max<int64_t>(o.n_seqs, 0)),
                                             static_cast<uint64_t>(std::max<int64_t>(o.n_ctx, 0))),
                                      uint64_t{1} << 40));
  // As every stage lays out its pool: the shared blocks, and rings for sliding layers.
  const KvLayout kv = KvLayoutFor(m.swa_window, KvBlocksFor(kv_tokens), o.n_ctx,
                                  std::max<int64_t>(o.n_seqs, 1), o.max_batch);
  ksum_.assign(static_cast<size_t>(L_) + 1, 0);
  for (int64_t l = 0; l < L_; ++l) {
    const bool sliding = static_cast<size_t>(l) < m.layer_sliding.size() && m.layer_sliding[l];
    ksum_[l + 1] = SatAdd(
        ksum_[l], KvBytesPerLayer(m.kv_dim, kv.BlocksOf(sliding) * kKvBlockTokens, m.kv_type));
  }
  scratch_ = o.scratch_bytes;
  wsum_.assign(static_cast<size_t>(L_) + 1, 0);
  rsum_.assign(static_cast<size_t>(L_) + 1, 0);
  fsum_.assign(static_cast<size_t>(L_) + 1, 0);
  const std::vector<uint64_t>& read =
      m.layer_read_bytes.empty() ? m.layer_bytes : m.layer_read_bytes;
  for (int64_t l = 0; l < L_; ++l) {
    wsum_[l + 1] = SatAdd(wsum_[l], m.layer_bytes[l]);
    rsum_[l + 1] = SatAdd(rsum_[l], read[l]);
    fsum_[l + 1] = fsum_[l] + m.layer_flops[l];
  }
}

double CostModel::StageSeconds(int d, int64_t a, int64_t b) const {
  const Device& dev = c_.devices[static_cast<size_t>(d)];
  double bytes = static_cast<double>(rsum_[b] - rsum_[a]);
  if (a == 0) bytes += static_cast<double>(m_.embd_row_bytes);
  if (b == L_) bytes += static_cast<double>(m_.output_bytes);
  if (dev.measured_layer_seconds > 0)
    return bytes * (dev.measured_layer_seconds / static_cast<double>(dev.measured_layer_bytes));
  double t = bytes / dev.bandwidth;
  if (dev.flops > 0) {
    double flops = fsum_[b] - fsum_[a];
    if (b == L_) flops += m_.output_flops;
    t = std::max(t, flops / dev.flops);
  }
  return t;
}

uint64_t CostModel::StageMemory(int64_t a, int64_t b) const {
  uint64_t mem = SatAdd(wsum_[b] - wsum_[a], ksum_[b] - ksum_[a]);
  mem = SatAdd(mem, scratch_);
  if (a == 0) mem = SatAdd(mem, m_.embd_bytes);
  if (b == L_ && !(m_.tied_output && a == 0)) mem = SatAdd(mem, m_.output_bytes);
  return mem;
}

uint64_t CostModel::MinStageMemory() const {
  uint64_t best = UINT64_MAX;
  for (int64_t l = 0; l < L_; ++l) best = std::min(best, StageMemory(l, l + 1));
  return best;
}

double CostModel::Hop(int from, int to, uint64_t bytes) const {
  if (from == to) return 0;
  const Link& l = c_.links[static_cast<size_t>(from)][static_cast<size_t>(to)];
  return l.rtt / 2 + static_cast<double>(bytes) / l.bandwidth;
}

double CostModel::Transfer(int from, int to, uint64_t bytes) const {
  if (from == to) return 0;
  return static_cast<double>(bytes) /
         c_.links[static_cast<size_t>(from)][static_cast<size_t>(to)].bandwidth;
}

StatusOr<Pipeline> EvaluatePipeline(const ModelCost& model, const Cluster& cluster,
                                    const PlanOptions& opts, const std::vector<Stage>& stages) {
  SL_RETURN_IF_ERROR(model.Validate());
  SL_RETURN_IF_ERROR(cluster.Validate());
  if (stages.empty()) return InvalidArgument("pipeline: no stages");
  const int64_t L = model.n_layers();
  std::vector<bool> used(cluster.devices.size(), false);
  int64_t next = 0;
  for (const Stage& s : stages) {
    if (s.device < 0 || static_cast<size_t>(s.device) >= cluster.devices.size())
      return InvalidArgument("pipeline: device index " + std::to_string(s.device) +
                             " out of range");
    const Device& d = cluster.devices[static_cast<size_t>(s.device)];
    if (!d.runs_layers) return InvalidArgument("pipeline: device '" + d.name + "' runs no layers");
    if (used[static_cast<size_t>(s.device)])
      return InvalidArgument("pipeline: device '" + d.name + "' appears twice");
    used[static_cast<size_t>(s.device)] = true;
    if (s.first_layer != next || s.last_layer <= s.first_layer || s.last_layer > L)
      return InvalidArgument("pipeline: stage on '" + d.name + "' has layers [" +
                             std::to_string(s.first_layer) + ", " + std::to_string(s.last_layer) +
                             "), expected a non-empty range starting at " + std::to_string(next));
    next = s.last_layer;
  }
  if (next != L)
    return InvalidArgument("pipeline: stages cover " + std::to_string(next) + " of " +
                           std::to_string(L) + " layers");

  const CostModel cm(model, cluster, opts);
  const int H = cm.head();
  Pipeline p;
  p.stages = stages;
  p.receive_seconds = cm.Hop(H, stages[0].device, model.token_bytes);
  p.latency_seconds = p.receive_seconds;
  p.bottleneck_seconds = cm.Transfer(H, stages[0].device, model.token_bytes);
  for (size_t i = 0; i < p.stages.size(); ++i) {
    Stage& s = p.stages[i];
    const bool last = i + 1 == p.stages.size();
    const int to = last ? H : p.stages[i + 1].device;
    const uint64_t bytes = last ? model.token_bytes : model.act_bytes;
    s.compute_seconds = cm.StageSeconds(s.device, s.first_layer, s.last_layer);
    s.memory_bytes = cm.StageMemory(s.first_layer, s.last_layer);
    s.fits = cm.Fits(s.device, s.first_layer, s.last_layer);
    s.send_seconds = cm.Hop(s.device, to, bytes);
    s.busy_seconds = s.compute_seconds + cm.Transfer(s.device, to, bytes);
    p.latency_seconds = p.latency_seconds + s.compute_seconds + s.send_seconds;
    p.bottleneck_seconds = std::max(p.bottleneck_seconds, s.busy_seconds);
    p.fits = p.fits && s.fits;
  }
  p.streams_in_flight =
      p.bottleneck_seconds > 0
          ? std::max<int64_t>(
                1, static_cast<int64_t>(std::ceil(p.latency_seconds / p.bottleneck_seconds - 1e-9)))
          : 1;
  return p;
}

StatusOr<Plan> BaselinePlan(const ModelCost& model, const Cluster& cluster, const PlanOptions& opts,
                            Baseline kind) {
  SL_RETURN_IF_ERROR(model.Validate());
  SL_RETURN_IF_ERROR(cluster.Validate());
  std::vector<int> devs;
  for (size_t i = 0; i < cluster.devices.size(); ++i)
    if (cluster.devices[i].runs_layers) devs.push_back(static_cast<int>(i));
  if (devs.empty()) return InvalidArgument("cluster: no device runs layers");
  const int64_t L = model.n_layers();
  const auto n = static_cast<int64_t>(devs.size());
  std::vector<int64_t> counts(devs.size(), 0);
  double total_mem = 0;
  for (int d : devs) total_mem += static_cast<double>(cluster.devices[d].memory_bytes);
  if (kind == Baseline::kEqual || total_mem <= 0) {
    for (int64_t i = 0; i < n; ++i) counts[i] = L / n + (i < L % n ? 1 : 0);
  } else {
    // Largest remainder: floor the shares, then hand the rest to the biggest fractions.
    std::vector<std::pair<double, size_t>> frac;
    int64_t given = 0;
    for (size_t i = 0; i < devs.size(); ++i) {
      const double share = static_cast<double>(L) *
                           static_cast<double>(cluster.devices[devs[i]].memory_bytes) / total_mem;
      counts[i] = static_cast<int64_t>(std::floor(share));
      given += counts[i];
      frac.push_back({share - std::floor(share), i});
    }
    std::stable_sort(frac.begin(), frac.end(),
                     [](const auto& x, const auto& y) { return x.first > y.first; });
    for (size_t i = 0; given < L; ++i, ++given) ++counts[frac[i % frac.size()].second];
  }
  std::vector<Stage> stages;
  int64_t first = 0;
  for (size_t i = 0; i < devs.size(); ++i) {
    if (counts[i] == 0) continue;
    Stage s;
    s.device = devs[i];
    s.first_layer = first;
    s.last_layer = first + counts[i];
    first = s.last_layer;
    stages.push_back(s);
  }
  SL_ASSIGN_OR_RETURN(Pipeline p, EvaluatePipeline(model, cluster, opts, stages));
  Plan plan;
  plan.objective = opts.objective;
  plan.latency_seconds = p.latency_seconds;
  plan.tokens_per_second = p.tokens_per_second();
  plan.pipelines.push_back(std::move(p));
  plan.method = kind == Baseline::kEqual ? "baseline: equal split over every device"
                                         : "baseline: split in proportion to memory";
  return plan;
}

}  // namespace suanli::placement
