#include "cluster/head.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "base/progress.h"
#include "cluster/auth.h"
#include "cluster/batch_codec.h"
#include "cluster/grpc_transport.h"
#include "cluster/model_cost.h"
#include "cluster/stage_weights.h"
#include "gguf/tensor_type.h"
#include "model/footprint.h"
#include "model/tensor_names.h"

namespace suanli::cluster {

namespace {

void Say(const PoolOptions& o, const std::string& msg) {
  if (!o.quiet) std::fprintf(stderr, "suanli: %s\n", msg.c_str());
}

// The tensor type holding most of the layers' bytes ("Q4_0", ...).
std::string MainTensorType(const GgufFile& f) {
  std::map<std::string, uint64_t> bytes;
  for (const GgufTensorInfo& t : f.tensors())
    if (tensor_names::LayerOf(t.name) >= 0)
      bytes[std::string(TensorTypeName(t.type))] += t.size_bytes;
  std::string best;
  uint64_t most = 0;
  for (auto& [type, b] : bytes)
    if (b > most) most = b, best = type;
  return best;
}

std::string RandomId() { return ToHex(RandomNonce()).substr(0, 16); }

}  // namespace

placement::Device DeviceFromProfile(const DeviceProfile& p, const std::string& name,
                                    const std::string& main_type) {
  placement::Device d;
  d.name = name;
  d.memory_bytes = p.available_ram_bytes;
  d.bandwidth = p.mem_bandwidth_gbs * 1e9;
  auto it = p.speed.find(main_type);
  if (it != p.speed.end()) {
    if (it->second.matvec_gbs > 0) d.bandwidth = it->second.matvec_gbs * 1e9;
    d.flops = it->second.matmul_gflops * 1e9;
  }
  d.battery.present = p.battery.present;
  d.battery.level = p.battery.level;
  d.battery.charging = p.battery.charging;
  d.thermal_throttled = p.thermal.throttled;
  return d;
}

void ShareHostMemory(std::vector<placement::Device>& devices,
                     const std::vector<std::string>& host_ids) {
  std::map<std::string, int> count;
  for (const std::string& id : host_ids)
    if (!id.empty()) ++count[id];
  for (size_t i = 0; i < devices.size() && i < host_ids.size(); ++i)
    if (!host_ids[i].empty() && count[host_ids[i]] > 1)
      devices[i].memory_bytes /= static_cast<uint64_t>(count[host_ids[i]]);
}

StatusOr<PoolWorker> Pool::Meet(const std::string& addr, double handshake_seconds) const {
  SL_ASSIGN_OR_RETURN(std::shared_ptr<Channel> ch, opts_.transport->Dial(addr));
  PoolWorker w;
  w.address = addr;
  w.channel = std::move(ch);
  // Mutual: the worker proves the token before the head sends anything but a fresh nonce.
  v1::AuthenticateReply reply;
  auto session = ClientSession::Open(*w.channel, *creds_, kRoleHead, handshake_seconds, &reply);
  if (!session.ok())
    return session.status().code() == StatusCode::kUnauthenticated
               ? Status(StatusCode::kUnauthenticated, "rejected: " + session.status().message())
               : session.status();
  w.session = *session;
  auto prof = ProfileFromJson(reply.profile_json());
  if (!prof.ok()) return InvalidArgument("bad profile: " + prof.status().message());
  w.profile = std::move(*prof);
  SL_ASSIGN_OR_RETURN(w.link, ProbeLink(*w.channel, *w.session));
  return w;
}

static std::string DescribeWorker(const PoolWorker& w) {
  return w.profile.cpu_model + ", " + std::to_string(w.profile.threads) + " threads, " +
         HumanBytes(static_cast<double>(w.profile.available_ram_bytes)) + " free; link " +
         std::to_string(w.link.rtt_seconds * 1e3).substr(0, 5) + " ms RTT, " +
         HumanBytes(w.link.bytes_per_second) + "/s";
}

void Pool::AddWorker(PoolWorker w) {
  const size_t n = worker_count();
  workers_[n] = std::move(w);
  n_workers_.store(n + 1, std::memory_order_release);
}

Status Pool::Connect() {
  for (const std::string& addr : opts_.workers) {
    if (worker_count() == kMaxWorkers) {
      std::fprintf(stderr, "suanli: worker %s: the pool holds at most %zu workers; left out\n",
                   addr.c_str(), kMaxWorkers);
      continue;
    }
    auto w = Meet(addr, 15);
    if (!w.ok()) {
      std::fprintf(stderr,
                   "suanli: worker %s: %s; continuing without it (tried again every 10 s)\n",
                   addr.c_str(), w.status().message().c_str());
      absent_.emplace_back(addr, opts_.clock->Now());
      continue;
    }
    Say(opts_, "worker " + addr + ": " + DescribeWorker(*w));
    AddWorker(std::move(*w));
  }
  if (worker_count() == 0) return Unavailable("none of the workers could be used (see above)");
  return Status::Ok();
}

// Bytes each worker-to-worker bandwidth probe moves.
constexpr uint32_t kPeerProbeBytes = 8u << 20;

// `from` (over its channel and session) measures its link to `to` with ProbePeer; unusable
// (10 s, 1 B/s) when that fails: no direct path, rather than a guess.
static LinkMeasurement ProbePeerLink(Channel& ch, ClientSession& session, const std::string& from,
                                     const std::string& to) {
  v1::ProbePeerRequest req;
  req.set_address(to);
  req.set_bandwidth_bytes(kPeerProbeBytes);
  v1::ProbePeerReply reply;
  Status s = ch.Call("ProbePeer", session.Sign("ProbePeer", 60), req, &reply)
                 .WithContext(from + " probing " + to);
  if (!s.ok()) {
    std::fprintf(stderr, "suanli: %s\n", s.message().c_str());
    return {10.0, 1.0};
  }
  return {reply.rtt_seconds(), reply.bandwidth_bytes_per_second()};
}

LinkMeasurement Pool::PeerLink(size_t from, const std::string& to) const {
  const PoolWorker& w = workers_[from];
  return ProbePeerLink(*w.channel, *SessionOf(static_cast<int>(from)), w.address, to);
}

Status Pool::MeasureLinks() {
  const size_t n = worker_count();
  peer_links_.assign(n, std::vector<LinkMeasurement>(n));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (i != j) peer_links_[i][j] = PeerLink(i, workers_[j].address);
  return Status::Ok();
}

Status Pool::Join(const std::string& address) {
  const size_t n = worker_count();
  for (size_t k = 0; k < n; ++k)
    if (workers_[k].address == address) return Status::Ok();
  if (n == kMaxWorkers)
    return ResourceExhausted("the pool holds at most " + std::to_string(kMaxWorkers) + " workers");
  SL_ASSIGN_OR_RETURN(PoolWorker w, Meet(address, ShortDeadline()));
  // Its links to the others and theirs to it, before anything may place on it. The lost ones
  // are not asked (a frozen one would hold the join up); their links count as unusable.
  std::vector<LinkMeasurement> from(n, {10.0, 1.0}), to(n, {10.0, 1.0});
  for (size_t k = 0; k < n; ++k) {
    if (Lost(static_cast<int>(k))) continue;
    to[k] = PeerLink(k, address);
    from[k] = ProbePeerLink(*w.channel, *w.session, address, workers_[k].address);
  }
  const std::string what = DescribeWorker(w);
  {
    // MakePlan reads peer_links_ and the worker count together, under planning_mu_.
    std::lock_guard<std::mutex> planning(planning_mu_);
    for (size_t k = 0; k < n; ++k) peer_links_[k].push_back(to[k]);
    from.push_back({});  // to itself
    peer_links_.push_back(std::move(from));
    AddWorker(std::move(w));
  }
  AddEvent("device", "worker " + address + " joined (" + what + "): it can take layers");
  return Status::Ok();
}

StatusOr<placement::Plan> Pool::MakePlan(const Model& model, const std::vector<bool>& usable,
                                         placement::Objective objective,
                                         const std::vector<int64_t>& split) {
  std::lock_guard<std::mutex> planning(planning_mu_);
  const GgufFile& f = model.file();
  const std::string main_type = MainTensorType(f);
  cluster_ = placement::Cluster{};
  placement::Device head;
  head.name = "head";
  head.is_head = true;
  head.runs_layers = false;
  cluster_.devices.push_back(head);
  std::vector<std::string> host_ids = {""};  // the head runs no layers
  const size_t n_workers = worker_count();   // with peer_links_: Join holds planning_mu_ too
  for (size_t i = 0; i < n_workers; ++i) {
    const PoolWorker& w = workers_[i];
    cluster_.devices.push_back(DeviceFromProfile(w.profile, w.address, main_type));
    const double scale = PlanningScale(i);
    if (scale > 0 && scale != 1) {  // corrected from live timings
      placement::Device& d = cluster_.devices.back();
      d.bandwidth /= scale;
      d.flops /= scale;
      d.measured_layer_seconds *= scale;
    }
    if (i < usable.size() && !usable[i]) cluster_.devices.back().runs_layers = false;
    host_ids.push_back(w.profile.host_id);
  }
  ShareHostMemory(cluster_.devices, host_ids);
  const size_t n = cluster_.devices.size();
  cluster_.links.assign(n, std::vector<placement::Link>(n));
  for (size_t i = 1; i < n; ++i) {
    const LinkMeasurement& l = workers_[i - 1].link;
    cluster_.links[0][i] = cluster_.links[i][0] = {l.rtt_seconds, l.bytes_per_second};
    for (size_t j = 1; j < n; ++j)
      if (i != j) {
        const LinkMeasurement& p = peer_links_[i - 1][j - 1];
        cluster_.links[i][j] = {p.rtt_seconds, p.bytes_per_second};
      }
  }
  SL_ASSIGN_OR_RETURN(placement::ModelCost cost, ModelCostFromFile(f, model.hparams(), opts_.act));
  placement::PlanOptions po;
  po.objective = objective;
  po.n_ctx = opts_.n_ctx;
  po.n_seqs = opts_.max_seqs;
  po.kv_tokens = kv_blocks_ * kKvBlockTokens;
  po.max_batch = opts_.max_batch;
  // A stage's buffers: one batch of rows, attention scores, and the last stage's logits (counted
  // on every stage: the placement does not know yet which one is last).
  po.scratch_bytes = ScratchBytes(model.hparams(), opts_.max_batch, opts_.n_ctx, 8, opts_.max_seqs);
  po.min_battery = opts_.min_battery;
  po.forced_split = split;
  return placement::PlanPlacement(cost, cluster_, po);
}

Status Pool::LoadStages(const Model& model, int* failed) {
  for (const placement::Pipeline& p : plan_.pipelines) {
    SL_ASSIGN_OR_RETURN(Running run, LoadPipeline(model, p, failed));
    pipelines_.push_back(std::move(run));
  }
  return Status::Ok();
}

StatusOr<Pool::Running> Pool::LoadPipeline(const Model& model, const placement::Pipeline& p,
                                           int* failed) {
  *failed = -1;
  const GgufFile& f = model.file();
  {
    Running run;
    const PipelineKey key{RandomId(), RandomNonce()};
    const std::string& id = key.id;
    for (size_t s = 0; s < p.stages.size(); ++s) {
      const placement::Stage& stage = p.stages[s];
      const int wi = stage.device - 1;  // device 0 is the head
      PoolWorker& w = workers_[static_cast<size_t>(wi)];
      const std::shared_ptr<ClientSession> session = SessionOf(wi);
      v1::LoadStageRequest req;
      req.set_pipeline_id(id);
      req.set_capability(key.capability);
      req.set_model_sha256(model_sha256_);
      req.set_header_sha256(digests_.header);
      req.set_model_size(f.file_size());
      req.set_first_layer(stage.first_layer);
      req.set_last_layer(stage.last_layer);
      req.set_with_embedding(s == 0);
      req.set_with_output(s + 1 == p.stages.size());
      req.set_n_ctx(opts_.n_ctx);
      req.set_max_seqs(opts_.max_seqs);
      req.set_max_batch(opts_.max_batch);
      req.set_kv_blocks(kv_blocks_);
      req.set_act(ActToProto(opts_.act));
      if (s + 1 < p.stages.size())
        req.set_next_address(workers_[static_cast<size_t>(p.stages[s + 1].device - 1)].address);
      const std::vector<std::string> stage_tensors = StageTensorNames(
          f, stage.first_layer, stage.last_layer, s == 0, s + 1 == p.stages.size());
      for (const std::string& name : stage_tensors) {
        v1::TensorDigest* d = req.add_tensors();
        d->set_name(name);
        d->set_sha256(digests_.tensors.at(name));
      }
      const uint64_t bytes = TensorBytes(f, stage_tensors);
      Status st = Status::Ok();
      for (int attempt = 0; attempt < 2; ++attempt) {
        v1::LoadStageReply reply;
        st = w.channel
                 ->Call("LoadStage",
                        session->Sign("LoadStage", 120 + static_cast<double>(bytes) / 50e6), req,
                        &reply)
                 .WithContext("worker " + w.address);
        if (!st.ok()) break;
        if (!reply.header_missing() && reply.missing_tensors_size() == 0) break;
        if (attempt == 1) {
          st = Internal("worker " + w.address + " still lacks weights after the transfer");
          break;
        }
        std::vector<std::string> names;
        if (reply.header_missing())
          names = stage_tensors;
        else
          names.assign(reply.missing_tensors().begin(), reply.missing_tensors().end());
        Say(opts_, "worker " + w.address + " lacks the model: streaming " +
                       std::to_string(names.size()) + " tensors (" +
                       HumanBytes(static_cast<double>(TensorBytes(f, names))) + ")");
        st = PushWeights(*w.channel, *session, f, model_sha256_, reply.header_missing(), names,
                         w.link.bytes_per_second, w.address);
        if (!st.ok()) break;
      }
      if (!st.ok()) {
        *failed = wi;
        for (int loaded : run.workers) {  // this pipeline's stages loaded so far
          v1::UnloadRequest ureq;
          ureq.set_pipeline_id(id);
          ureq.set_capability(key.capability);
          v1::UnloadReply ureply;
          (void)workers_[static_cast<size_t>(loaded)].channel->Call(
              "Unload", SessionOf(loaded)->Sign("Unload", 5), ureq, &ureply);
        }
        return st;
      }
      run.workers.push_back(wi);
    }
    PipelineClient::Shape shape;
    shape.n_vocab = model.hparams().n_vocab;
    shape.detect_seconds = opts_.detect_seconds;
    shape.clock = opts_.clock;
    if (creds_->tls()) shape.credentials = creds_;
    std::vector<PipelineClient::StageLink> links;
    for (int wi : run.workers) {
      const PoolWorker& w = workers_[static_cast<size_t>(wi)];
      links.push_back({"worker " + w.address, w.channel, SessionOf(wi)});
    }
    auto client = std::make_shared<PipelineClient>(key, std::move(links), shape);
    SL_RETURN_IF_ERROR(client->Start());
    run.client = client;
    for (int wi : run.workers) run.plan_scale.push_back(PlanningScale(static_cast<size_t>(wi)));
    run.placed_at = opts_.clock->Now();
    return run;
  }
}

double Pool::PlanningScale(size_t w) const {
  std::lock_guard<std::mutex> c(calib_mu_);
  if (workers_[w].speed_scale > 0) return workers_[w].speed_scale;
  // Not measured: the cost model's error seen on the others (mostly the model's, not the
  // device's), so a drifted device is compared with the others on equal terms.
  double sum = 0;
  int n = 0;
  for (size_t k = 0; k < worker_count(); ++k)
    if (workers_[k].baseline_scale > 0) sum += workers_[k].baseline_scale, ++n;
  return n > 0 ? sum / n : 1;
}

void Pool::AddEvent(std::string kind, std::string message) {
  // Printed with the mutex held: a worker's line and a pipeline's never interleave.
  std::lock_guard<std::mutex> lock(events_mu_);
  std::fprintf(stderr, "suanli: pool: %s\n", message.c_str());
  events_.push_back({std::move(kind), std::move(message)});
  while (events_.size() > 100) events_.pop_front();
}

std::vector<PoolEvent> Pool::TakeEvents() {
  std::lock_guard<std::mutex> lock(events_mu_);
  std::vector<PoolEvent> out(events_.begin(), events_.end());
  events_.clear();
  return out;
}

double Pool::predicted_latency() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (pipelines_.size() == 1) {
    std::lock_guard<std::mutex> c(calib_mu_);
    if (pipelines_[0].corrected_latency > 0) return pipelines_[0].corrected_latency;
  }
  return plan_.latency_seconds;
}

void Pool::Observe(size_t i, const std::vector<double>& stage_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  std::lock_guard<std::mutex> c(calib_mu_);
  if (i >= pipelines_.size()) return;
  Running& r = pipelines_[i];
  if (stage_seconds.size() != r.workers.size()) return;  // from before a re-placement
  r.observed.resize(stage_seconds.size(), 0);
  for (size_t s = 0; s < stage_seconds.size(); ++s) r.observed[s] += stage_seconds[s];
  ++r.n_observed;
}

std::string Pool::Calibrate(size_t i) {
  placement::Pipeline current;
  std::shared_ptr<PipelineClient> client;  // the pipeline measured (a recovery may replace it)
  std::vector<double> measured;            // seconds per token, each stage
  std::vector<int> stage_workers;
  std::vector<double> plan_scale;
  std::chrono::steady_clock::time_point placed_at;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (i >= pipelines_.size() || !pipelines_[i].client || i >= plan_.pipelines.size()) return "";
    std::lock_guard<std::mutex> c(calib_mu_);
    Running& r = pipelines_[i];
    if (r.n_observed < 8 || r.observed.size() != r.workers.size()) return "";
    client = r.client;
    for (double t : r.observed) measured.push_back(t / r.n_observed);
    r.observed.assign(r.observed.size(), 0);
    r.n_observed = 0;
    current = plan_.pipelines[i];
    stage_workers = r.workers;
    plan_scale = r.plan_scale;
    placed_at = r.placed_at;
    if (current.stages.size() != measured.size()) return "";
    // The plan's latency with each stage's compute as measured.
    double t = current.receive_seconds;
    for (size_t s = 0; s < current.stages.size(); ++s)
      t += measured[s] + current.stages[s].send_seconds;
    r.corrected_latency = t;
  }
  // Each worker's correction: measured over what its (uncorrected) profile predicts, smoothed;
  // its drift: that over its first measurement.
  std::string slowest;
  double worst = 1;
  for (size_t s = 0; s < measured.size(); ++s) {
    const double predicted = current.stages[s].compute_seconds;
    if (predicted <= 0 || measured[s] <= 0) continue;
    PoolWorker& w = workers_[static_cast<size_t>(stage_workers[s])];
    const double ratio = plan_scale[s] * measured[s] / predicted;
    {
      std::lock_guard<std::mutex> c(calib_mu_);
      w.speed_scale = w.speed_scale > 0 ? 0.5 * w.speed_scale + 0.5 * ratio : ratio;
      if (w.baseline_scale <= 0) w.baseline_scale = ratio;
      if (ratio / w.baseline_scale > worst) {
        worst = ratio / w.baseline_scale;
        slowest = w.address;
      }
    }
  }
  if (!opts_.split.empty()) return "";  // a forced split holds until a device is lost
  if (opts_.clock->SecondsSince(placed_at) < 5) return "";
  // Planning again is only worth it when what the plan would see changed: a worker's speed by
  // 3% or more, or which workers are free.
  const std::vector<bool> usable = UsableFor(i);
  std::vector<double> scales(worker_count());
  for (size_t k = 0; k < scales.size(); ++k) scales[k] = PlanningScale(k);
  {
    std::lock_guard<std::mutex> c(calib_mu_);
    Running& r = pipelines_[i];
    bool same = r.checked_usable == usable && r.checked_scales.size() == scales.size();
    for (size_t k = 0; same && k < scales.size(); ++k)
      same = std::abs(scales[k] / r.checked_scales[k] - 1) < 0.03;
    if (same) return "";
    r.checked_usable = usable;
    r.checked_scales = scales;
  }
  auto plan = MakePlan(*model_, usable, placement::Objective::kLatency, {});
  if (!plan.ok() || plan->pipelines.empty() || !plan->pipelines[0].fits) return "";
  double corrected;
  {
    std::lock_guard<std::mutex> c(calib_mu_);
    corrected = pipelines_[i].corrected_latency;
  }
  const double better = plan->pipelines[0].latency_seconds;
  if (better >= 0.85 * corrected) return "";
  char why[256];
  // The reason: a worker's slowdown when it explains much of the gain, else a better device
  // that is free now (one came back, or another pipeline let it go).
  if (worst > 1.15 && worst >= 0.5 * corrected / better)
    std::snprintf(why, sizeof(why),
                  "re-placing for speed: %s runs %.1fx slower than when it was first measured "
                  "(%.2f ms per token now, %.2f ms placed again)",
                  slowest.empty() ? "a worker" : slowest.c_str(), worst, 1e3 * corrected,
                  1e3 * better);
  else
    std::snprintf(why, sizeof(why),
                  "re-placing for speed: the workers free now do it in %.2f ms per token, "
                  "%.2f ms as placed",
                  1e3 * better, 1e3 * corrected);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pipelines_[i].client != client) return "";  // placed again meanwhile
  }
  client->Interrupt(Unavailable(why));  // outside mu_: its callbacks observe
  return why;
}

StatusOr<std::unique_ptr<Pool>> Pool::Open(const Model& model, const PoolOptions& opts) {
  std::unique_ptr<Pool> pool(new Pool());
  pool->opts_ = opts;
  if (!pool->opts_.transport)
    pool->opts_.transport = std::make_shared<GrpcTransport>(opts.security);
  if (opts.workers.empty()) return InvalidArgument("no worker addresses");
  if (opts.security.token.empty()) return InvalidArgument("a pool token is required");
  SL_ASSIGN_OR_RETURN(pool->creds_, Credentials::Load(opts.security));
  pool->crl_handed_ = pool->creds_->crl_number();
  SL_ASSIGN_OR_RETURN(pool->model_sha256_, Sha256FileCached(model.path(), opts.cache_dir));
  pool->digests_ = FileDigestsCached(model.file(), pool->model_sha256_, opts.cache_dir);
  pool->hp_ = model.hparams();
  pool->model_ = &model;
  pool->kv_blocks_ = KvBlocksFor(opts.kv_tokens > 0 ? opts.kv_tokens : opts.max_seqs * opts.n_ctx);
  pool->workers_.resize(kMaxWorkers);
  SL_RETURN_IF_ERROR(pool->Connect());
  if (!opts.split.empty() && pool->worker_count() != opts.workers.size())
    return InvalidArgument(
        "the forced split names a layer count for every worker, but not every worker "
        "could be used (see above)");
  SL_RETURN_IF_ERROR(pool->MeasureLinks());
  for (;;) {
    SL_ASSIGN_OR_RETURN(pool->plan_, pool->MakePlan(model, {}, opts.objective, opts.split));
    std::fputs(placement::RenderPlan(pool->plan_, pool->cluster_).c_str(), stderr);
    int failed = -1;
    Status s = pool->LoadStages(model, &failed);
    if (s.ok()) break;
    pool->Close();
    if (failed < 0 || !opts.split.empty() || pool->worker_count() <= 1) return s;
    std::fprintf(stderr, "suanli: %s; placing again without %s\n", s.message().c_str(),
                 pool->workers_[static_cast<size_t>(failed)].address.c_str());
    // Nothing runs yet: the slots after it move down one.
    pool->workers_.erase(pool->workers_.begin() + failed);
    pool->workers_.emplace_back();
    pool->n_workers_.store(pool->worker_count() - 1);
    pool->peer_links_.erase(pool->peer_links_.begin() + failed);
    for (auto& row : pool->peer_links_) row.erase(row.begin() + failed);
    pool->pipelines_.clear();
  }
  return pool;
}

bool Pool::Greet(size_t wi) {
  // A restarted worker knows no session of ours: a new handshake.
  PoolWorker& w = workers_[wi];
  {
    std::lock_guard<std::mutex> lock(workers_mu_);
    w.last_greet = opts_.clock->Now();
  }
  auto session = ClientSession::Open(*w.channel, *creds_, kRoleHead, ShortDeadline());
  if (!session.ok()) return false;
  std::lock_guard<std::mutex> lock(workers_mu_);
  w.session = *session;
  w.lost = false;
  return true;
}

int Pool::Rejoin() {
  creds_->Refresh();
  if (const uint64_t n = creds_->crl_number(); n > crl_handed_) {
    // A handshake carries the list (session.h); the session itself is not needed.
    for (size_t k = 0; k < worker_count(); ++k) {
      if (Lost(static_cast<int>(k))) continue;  // it gets the list when it is greeted again
      auto s = ClientSession::Open(*workers_[k].channel, *creds_, kRoleHead, ShortDeadline());
      if (!s.ok() && s.status().code() == StatusCode::kUnauthenticated)
        AddEvent("device",
                 "worker " + workers_[k].address + " is refused: " + s.status().message());
    }
    crl_handed_ = n;
  }
  int back = 0;
  for (size_t k = 0; k < worker_count(); ++k) {
    {
      std::lock_guard<std::mutex> lock(workers_mu_);
      if (!workers_[k].lost || opts_.clock->SecondsSince(workers_[k].last_greet) < 5) continue;
    }
    if (!Greet(k)) continue;
    ++back;
    AddEvent("device", "worker " + workers_[k].address + " answers again: it can take layers");
  }
  // Newcomers: listed ones that were down at Open, then what discovery finds.
  std::vector<std::string> candidates;
  for (auto& [address, tried] : absent_)
    if (opts_.clock->SecondsSince(tried) >= 10) {
      tried = opts_.clock->Now();
      candidates.push_back(address);
    }
  if (opts_.find_workers && opts_.clock->SecondsSince(last_find_) >= opts_.find_every_seconds) {
    last_find_ = opts_.clock->Now();
    for (std::string& a : opts_.find_workers()) candidates.push_back(std::move(a));
  }
  for (const std::string& address : candidates) {
    const size_t before = worker_count();
    Status s = Join(address);
    if (worker_count() > before) {
      ++back;
      std::erase_if(absent_, [&](const auto& a) { return a.first == address; });
    } else if (!s.ok() && s.code() == StatusCode::kUnauthenticated &&
               std::find(refused_.begin(), refused_.end(), address) == refused_.end()) {
      // Once per address: an impostor answering every discovery round is not news each time.
      AddEvent("device", "worker " + address + " is refused: " + s.message());
      refused_.push_back(address);
      if (refused_.size() > 64) refused_.pop_front();
    }
  }
  return back;
}

std::shared_ptr<ClientSession> Pool::SessionOf(int wi) const {
  std::lock_guard<std::mutex> lock(workers_mu_);
  return workers_[static_cast<size_t>(wi)].session;
}

bool Pool::Lost(int wi) const {
  std::lock_guard<std::mutex> lock(workers_mu_);
  return workers_[static_cast<size_t>(wi)].lost;
}

void Pool::SetLost(int wi, bool lost) {
  std::lock_guard<std::mutex> lock(workers_mu_);
  workers_[static_cast<size_t>(wi)].lost = lost;
}

std::vector<bool> Pool::UsableFor(size_t i) const {
  std::vector<bool> usable(worker_count(), true);
  {
    std::lock_guard<std::mutex> lock(workers_mu_);
    for (size_t k = 0; k < usable.size(); ++k) usable[k] = !workers_[k].lost;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t j = 0; j < pipelines_.size(); ++j)
    if (j != i)
      for (int wi : pipelines_[j].workers) usable[static_cast<size_t>(wi)] = false;
  return usable;
}

Status Pool::Recover(size_t i, double timeout_seconds) {
  const Clock& clock = *opts_.clock;
  const auto t0 = clock.Now();
  Running& r = pipelines_[i];
  const int lost_stage = r.client ? r.client->lost_stage() : -1;
  const std::string why = r.client ? r.client->broken() : "";
  if (r.client) r.client->Close();
  if (lost_stage >= 0) SetLost(r.workers[static_cast<size_t>(lost_stage)], true);
  std::vector<std::pair<int, PipelineKey>> old;  // the survivors drop their old stages
  for (int wi : r.workers)
    if (!Lost(wi) && r.client) old.emplace_back(wi, r.client->key());
  // The answers free the survivors' memory for the new stages; one that does not answer at
  // once (cut off, frozen since) must not hold the re-placement for the detection time.
  double wait = 0.25;
  for (const auto& [wi, key] : old)
    wait = std::max(wait, 0.25 + 4 * workers_[static_cast<size_t>(wi)].link.rtt_seconds);
  Unload(old, std::min(wait, ShortDeadline()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    r.client.reset();
    r.workers.clear();
  }
  // For the dashboard: a re-placement for speed, a worker leaving on purpose, or a failure.
  const std::string kind = why.find("re-placing for speed") != std::string::npos ? "placement"
                           : why.find(" is leaving (") != std::string::npos      ? "device"
                                                                                 : "recovery";
  AddEvent(kind, why + "; re-placing pipeline " + std::to_string(i + 1));
  Status last = Unavailable("no worker could take the layers");
  for (int attempt = 0;; ++attempt) {
    // A lost worker that answers again (restarted at its address) is a candidate once more; not
    // on the first attempt, right after it was found lost (a frozen one would hold it up).
    for (size_t k = 0; k < worker_count(); ++k)
      if (attempt > 0 && Lost(static_cast<int>(k)) && Greet(k))
        AddEvent("device", "worker " + workers_[k].address + " is back");
    auto plan = MakePlan(*model_, UsableFor(i), placement::Objective::kLatency, {});
    if (plan.ok() && !plan->pipelines.empty() && plan->pipelines[0].fits) {
      int failed = -1;
      auto run = LoadPipeline(*model_, plan->pipelines[0], &failed);
      if (run.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        r = std::move(*run);
        plan_.pipelines[i] = plan->pipelines[0];
        if (plan_.pipelines.size() == 1) {  // the plan's totals are this pipeline's
          plan_.latency_seconds = plan->pipelines[0].latency_seconds;
          plan_.tokens_per_second = plan->pipelines[0].tokens_per_second();
        }
        recovered_seconds_ = clock.SecondsSince(t0);
        std::string where;
        for (const placement::Stage& s : plan_.pipelines[i].stages)
          where += (where.empty() ? "" : ", ") +
                   workers_[static_cast<size_t>(s.device - 1)].address + " layers " +
                   std::to_string(s.first_layer) + "-" + std::to_string(s.last_layer - 1);
        AddEvent(kind, "pipeline " + std::to_string(i + 1) + " running again in " +
                           HumanDuration(recovered_seconds_) + " (" + where + ")");
        return Status::Ok();
      }
      last = run.status();
      if (failed >= 0) SetLost(failed, true);
    } else {
      last = plan.ok() ? Unavailable("the remaining workers cannot hold the model") : plan.status();
    }
    const double waited = clock.SecondsSince(t0);
    if (waited >= timeout_seconds) {
      Status gave_up = Unavailable("pipeline " + std::to_string(i + 1) + " lost a worker (" + why +
                                   ") and no device took over within " +
                                   HumanDuration(timeout_seconds) + ": " + last.message());
      AddEvent("recovery", gave_up.message());
      return gave_up;
    }
    clock.SleepFor(attempt == 0 ? 0.1 : 0.5);
  }
}

bool Pool::pipeline_up(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return pipelines_[i].client && pipelines_[i].client->broken().empty();
}

std::vector<const PoolWorker*> Pool::pipeline_workers(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const PoolWorker*> out;
  for (int w : pipelines_[i].workers) out.push_back(&workers_[static_cast<size_t>(w)]);
  return out;
}

double Pool::ShortDeadline() const { return std::clamp(opts_.detect_seconds, 0.5, 5.0); }

void Pool::Unload(const std::vector<std::pair<int, PipelineKey>>& stages, double wait_seconds) {
  // All at once, each within the detection time: a frozen or cut-off worker delays the caller by
  // wait_seconds at most, once (its stage goes on its side when its stream ends).
  struct Answers {
    std::mutex mu;
    std::condition_variable cv;
    size_t n = 0;
  };
  auto answers = std::make_shared<Answers>();
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> calls;
  for (const auto& [wi, key] : stages) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    calls.emplace_back(std::thread([this, answers, done, wi = wi, key = key] {
                         v1::UnloadRequest req;
                         req.set_pipeline_id(key.id);
                         req.set_capability(key.capability);
                         v1::UnloadReply reply;
                         (void)workers_[static_cast<size_t>(wi)].channel->Call(
                             "Unload", SessionOf(wi)->Sign("Unload", ShortDeadline()), req, &reply);
                         done->store(true);
                         std::lock_guard<std::mutex> lock(answers->mu);
                         ++answers->n;
                         answers->cv.notify_all();
                       }),
                       done);
  }
  {
    std::unique_lock<std::mutex> lock(answers->mu);
    opts_.clock->Await(answers->cv, lock, opts_.clock->After(wait_seconds),
                       [&] { return answers->n == stages.size(); });
  }
  std::lock_guard<std::mutex> lock(unload_mu_);
  std::erase_if(unloading_, [](auto& c) {
    if (!c.second->load()) return false;
    c.first.join();
    return true;
  });
  for (auto& c : calls) {
    if (c.second->load())
      c.first.join();
    else
      unloading_.push_back(std::move(c));
  }
}

void Pool::Close() {
  std::vector<std::pair<int, PipelineKey>> stages;
  for (Running& r : pipelines_) {
    if (!r.client) continue;
    r.client->Close();
    const int lost = r.client->lost_stage();
    for (size_t s = 0; s < r.workers.size(); ++s)
      if (static_cast<int>(s) != lost)  // it would not answer
        stages.emplace_back(r.workers[s], r.client->key());
  }
  Unload(stages, ShortDeadline() + 1);
  std::lock_guard<std::mutex> lock(unload_mu_);
  for (auto& c : unloading_) c.first.join();
  unloading_.clear();
}

Pool::~Pool() { Close(); }

}  // namespace suanli::cluster
