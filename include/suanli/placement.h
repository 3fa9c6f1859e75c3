// Placement: which device runs which layers of a model. Pure code: no I/O, no threads, no clock.
//
// Cost model (decode of one token; seconds, bytes, FLOPs)
//   Model: L layers; W_l weight bytes of layer l; F_l ≈ 2·params_l FLOPs per token; K_l KV-cache
//   bytes per position of layer l (K and V rows, f32); A activation bytes per hop (dim × bytes per
//   element of --act); E the token-embedding table, e one of its rows; O the output norm + matrix
//   (O = E when the output is tied to the embedding); tok = bytes of a token id.
//   Stage s = device d running layers [a, b):
//     bytes_s = Σ_{l∈[a,b)} W_l + (a = 0 ? e : 0) + (b = L ? O : 0)       read once per token
//     flops_s = Σ F_l + (b = L ? 2·dim·n_vocab : 0)
//     t_s     = max(bytes_s / bw_d, flops_s / C_d)   (C_d unknown: bandwidth only), or, when the
//               device reports a measured layer time, bytes_s · measured_seconds / measured_bytes
//     mem_s   = Σ W_l + KV(kv_tokens)·(b - a) + scratch + (a = 0 ? E : 0) + (b = L ? O : 0)  ≤ M_d
//               (a tied output shares E, counted once when one stage is both first and last)
//   Hop i→j carrying B bytes: h(i,j,B) = rtt_ij / 2 + B / bw_ij, and 0 when i = j (the head
//   running the first or last stage itself).
//   Latency of one stream through pipeline d_1..d_k with head H:
//     T = h(H,d_1,tok) + Σ_s t_s + Σ_{s<k} h(d_s,d_{s+1},A) + h(d_k,H,tok)
//   Throughput with enough streams in flight: a stage computes a token, then sends it; one-way
//   delays overlap with other streams' work, so they cost latency but not throughput:
//     τ = max( tok/bw(H,d_1), max_s (t_s + B_s/bw(d_s,d_{s+1})) ),  B_s = A (inner) or tok (last)
//     tokens/s = 1/τ, and ⌈T/τ⌉ streams in flight keep every stage busy.
//   Pipelines side by side on disjoint devices, each holding the whole model, add their tokens/s
//   (the head routes requests among them in proportion).
//
// Search
//   Latency: dynamic programming over (set of devices used, last device, first layer of its stage)
//   is exact over every ordered subset of devices and every contiguous split; O(2^n·n²·L²).
//   Throughput: the same DP with max instead of sum gives each subset's best pipeline; a DP over
//   subsets then picks the best partition into pipelines (O(3^n)). Among splits with the best
//   bottleneck, a DP over the chosen order picks the lowest latency.
//   Beyond PlanOptions::exact_max_devices (default 8) the search is heuristic and Plan::method
//   says so: latency runs the exact DP on 8 candidates (the fastest devices and the best-linked
//   ones, alternately); throughput runs it on batches of 8 devices in order of speed.
// Exclusion
//   Before the search: a device on battery below min_battery and not charging, a thermally
//   throttled device (unless allowed), and a device that cannot hold one layer. After it: every
//   device the optimum leaves out, with the cost of the best plan that would include it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/footprint.h"
#include "model/hparams.h"
#include "suanli/status.h"

namespace suanli::placement {

enum class ActFormat { kF32, kF16, kQ8_0 };
std::string_view ActFormatName(ActFormat f);
std::optional<ActFormat> ParseActFormat(std::string_view s);  // "f32", "f16", "q8_0"
// Bytes of one activation vector of `dim` elements (q8_0: dim/32 blocks of 34 bytes).
uint64_t ActivationBytes(ActFormat f, int64_t dim);

// What running the model costs, independent of devices.
struct ModelCost {
  std::vector<uint64_t> layer_bytes;  // weights of each layer
  // Weight bytes one decoded token reads in each layer (an MoE layer: the router and the active
  // experts' share); empty: all of layer_bytes.
  std::vector<uint64_t> layer_read_bytes;
  std::vector<double> layer_flops;    // per token, ≈ 2 × parameters
  int64_t kv_dim = 0;                 // width of one layer's K (and V) row
  KvType kv_type = KvType::kF32;      // KV bytes: model/footprint.h KvBytesPerLayer
  // Sliding-window layers (1 each; empty: none) of window swa_window, whose KV a stage keeps in
  // per-sequence rings when they are smaller (model/footprint.h KvLayoutFor).
  std::vector<uint8_t> layer_sliding;
  int64_t swa_window = 0;
  uint64_t embd_bytes = 0;            // whole embedding table (held by the first stage)
  uint64_t embd_row_bytes = 0;        // read per token by the first stage
  uint64_t output_bytes = 0;          // output norm + matrix (held, read per token by the last)
  double output_flops = 0;            // 2 · dim · n_vocab
  bool tied_output = false;           // output matrix is the embedding table
  uint64_t act_bytes = 0;             // activation sent per token per hop
  uint64_t token_bytes = 4;           // token id in (head→first), sampled token out (last→head)

  int64_t n_layers() const { return static_cast<int64_t>(layer_bytes.size()); }
  Status Validate() const;
};

// From a model's shape and the byte sizes read from its file (layer_bytes: every tensor of
// blk.N; output_bytes: output_norm + output, or output_norm + token_embd when tied;
// layer_read_bytes as in ModelCost).
ModelCost MakeModelCost(const HParams& hp, std::vector<uint64_t> layer_bytes, uint64_t embd_bytes,
                        uint64_t output_bytes, bool tied_output, ActFormat act,
                        std::vector<uint64_t> layer_read_bytes = {});
// Every matrix of one type with `bytes_per_weight` (Q4_0: 18/32, Q8_0: 34/32, F16: 2), norms
// f32. For benchmarks, tests and what-if planning without a file.
ModelCost UniformModelCost(const HParams& hp, double bytes_per_weight, ActFormat act,
                           bool tied_output = false);

struct Battery {
  bool present = false;  // false: mains powered
  double level = 1.0;    // 0..1
  bool charging = false;
};

struct Device {
  std::string name;
  uint64_t memory_bytes = 0;  // free memory usable for weights, KV cache and scratch
  double bandwidth = 0;       // memory read bytes/s (decode is bandwidth bound)
  double flops = 0;           // FLOP/s of matmul; 0 = unknown (bandwidth alone decides)
  Battery battery;
  bool thermal_throttled = false;
  bool is_head = false;     // the process the user talks to: sends token ids, gets tokens back
  bool runs_layers = true;  // false: a head that only coordinates
  // Measured decode time of one token through a reference layer of measured_layer_bytes
  // weights; when given it replaces bandwidth and flops (measured beats derived).
  double measured_layer_seconds = 0;
  uint64_t measured_layer_bytes = 0;
};

struct Link {
  double rtt = 0;        // seconds; one-way delay = rtt / 2
  double bandwidth = 0;  // bytes/s
};

// Nodes are the devices; exactly one is the head. links[i][j] for every pair (i != j).
struct Cluster {
  std::vector<Device> devices;
  std::vector<std::vector<Link>> links;

  int head() const;  // index of the head, -1 if none
  Status Validate() const;
};

enum class Objective { kLatency, kThroughput };
std::string_view ObjectiveName(Objective o);

struct PlanOptions {
  Objective objective = Objective::kLatency;
  int64_t n_ctx = 4096;   // KV cache positions per sequence
  int64_t n_seqs = 1;     // sequences whose KV cache each stage holds
  int64_t kv_tokens = 0;  // KV positions each stage holds (a shared block pool); 0: n_seqs·n_ctx
  int64_t max_batch = 512;                // rows per batch (sizes the sliding-window rings)
  uint64_t scratch_bytes = 256ull << 20;  // per stage: activations, buffers, runtime
  double min_battery = 0.2;               // on battery, not charging, below this: left out
  bool allow_throttled = false;           // keep thermally throttled devices
  // Layer counts for the devices that run layers, in cluster order (0 skips a device);
  // non-empty forces this split (expert/tests) and ignores the battery and thermal policy.
  std::vector<int64_t> forced_split;
  int exact_max_devices = 8;  // exact search up to this many candidates (at most 10)
};

struct Stage {
  int device = -1;  // index into Cluster::devices
  int64_t first_layer = 0;
  int64_t last_layer = 0;      // exclusive
  uint64_t memory_bytes = 0;   // mem_s
  double compute_seconds = 0;  // t_s
  double send_seconds = 0;     // outgoing hop, delay + transfer (to the next stage or the head)
  double busy_seconds = 0;     // t_s + outgoing transfer: this stage's time per token in τ
  bool fits = true;            // mem_s ≤ memory of the device
};

struct Pipeline {
  std::vector<Stage> stages;
  double receive_seconds = 0;     // head → first stage hop
  double latency_seconds = 0;     // T
  double bottleneck_seconds = 0;  // τ
  int64_t streams_in_flight = 1;  // ⌈T/τ⌉
  bool fits = true;               // every stage fits in memory
  double tokens_per_second() const { return bottleneck_seconds > 0 ? 1 / bottleneck_seconds : 0; }
};

struct Exclusion {
  int device = -1;
  std::string reason;  // "its link adds 42.0 ms per token, more than the 9.0 ms its layers save"
};

struct Plan {
  Objective objective = Objective::kLatency;
  std::vector<Pipeline> pipelines;  // latency: one; throughput: fastest first
  std::vector<Exclusion> excluded;
  double latency_seconds = 0;    // one stream on the first pipeline
  double tokens_per_second = 0;  // all pipelines, enough streams in flight
  bool exact = true;             // false: heuristic search (see method)
  std::string method;            // how the plan was found
};

// The placement for `objective` (or the forced split). Errors: invalid model, cluster or options
// (InvalidArgument naming the field), nothing fits (ResourceExhausted with the reasons).
StatusOr<Plan> PlanPlacement(const ModelCost& model, const Cluster& cluster,
                             const PlanOptions& opts);

// Costs of a given pipeline (stages need device, first_layer, last_layer). Checks that the stages
// cover every layer once in order; memory is reported per stage (fits), not enforced.
StatusOr<Pipeline> EvaluatePipeline(const ModelCost& model, const Cluster& cluster,
                                    const PlanOptions& opts, const std::vector<Stage>& stages);

// What other home-cluster tools do: every device that runs layers, in cluster order, one
// pipeline, layers split equally or in proportion to memory. Memory is not enforced (see fits).
enum class Baseline { kEqual, kMemoryProportional };
StatusOr<Plan> BaselinePlan(const ModelCost& model, const Cluster& cluster, const PlanOptions& opts,
                            Baseline kind);

// Human-readable table: device, layers, memory, expected ms per token; then totals and the
// devices left out with their reasons.
std::string RenderPlan(const Plan& plan, const Cluster& cluster);

}  // namespace suanli::placement
