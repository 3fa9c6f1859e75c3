#include "cluster/worker.h"

#include <malloc.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "base/mapped_file.h"
#include "base/progress.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "cluster/activation_codec.h"
#include "cluster/auth.h"
#include "cluster/batch_codec.h"
#include "cluster/grpc_transport.h"
#include "cluster/link_probe.h"
#include "cluster/session.h"
#include "cluster/stage_runner.h"
#include "cluster/stage_weights.h"
#include "model/footprint.h"
#include "model/model.h"
#include "suanli/cluster/v1/worker.pb.h"

namespace suanli::cluster {

namespace {

constexpr size_t kMaxQueuedBatches = 64;  // per stage; the reader waits beyond this (backpressure)
constexpr int64_t kMaxBatch = 4096;
constexpr int64_t kMaxSeqs = 4096;
constexpr int64_t kMaxKvBlocks = int64_t{1} << 24;
constexpr size_t kMaxStages = 16;  // each has a compute thread and its own KV pool
// What a stage costs beyond its weights, KV and scratch: its compute thread's stack and malloc
// arena, the model's tables (7.4 MiB measured per stage of the tiny synthetic model, 2026-12-02).
constexpr uint64_t kStageOverheadBytes = 8 << 20;

void Log(const std::string& msg) { std::fprintf(stderr, "suanli worker: %s\n", msg.c_str()); }

// One pipeline stage held by this worker: the runner (compute) plus its queues and streams.
struct Stage {
  std::string id;
  std::string capability;  // secret: compared, never logged
  std::string next;        // the next stage's address; empty on the last stage
  std::unique_ptr<StageRunner> runner;
  std::shared_ptr<void> weights_in_use;  // the cached copy it maps (stage_weights.h)
  uint64_t memory_bytes = 0;             // weights + KV pool + buffers, counted in the budget
  Clock::TimePoint loaded_at;            // WorkerOptions::clock's
  std::atomic<bool> fed{false};          // a Forward stream has reached it

  std::mutex mu;
  std::condition_variable cv;  // in / stopping / results
  std::deque<v1::Batch> in;
  std::deque<v1::BatchResult> results;
  bool stopping = false;
  std::string gone_why;  // set before stopping when the upstream broke (StageHealth says it)
  bool stopped = false;  // compute thread finished; results hold the last answers
  std::thread compute;
  double compute_seconds = 0;

  // Downstream (not the last stage): opened on the first step.
  std::shared_ptr<Channel> channel;
  std::unique_ptr<ClientStream> down;  // Forward on the next stage
  bool down_failed = false;            // compute thread only
  // For StageHealth (under mu): why the downstream broke, and batches computed.
  std::string down_error;
  uint64_t batches_done = 0;

  ~Stage() {
    runner.reset();
    // The compute thread's allocations sit in its own malloc arena, which glibc keeps once
    // freed: without this a worker's memory stayed ~8 MiB per stage it ever held.
    ::malloc_trim(0);
  }
};

}  // namespace

struct WorkerServer::Impl {
  WorkerOptions opts;
  DeviceProfile profile;
  std::string profile_json;
  std::shared_ptr<Credentials> creds;
  std::unique_ptr<SessionTable> sessions;
  Clock::TimePoint started;                    // opts.clock's
  std::atomic<int64_t> last_reject_log_ms{0};  // rejections are logged once a second at most
  std::string address;
  std::unique_ptr<ThreadPool> pool;
  std::mutex compute_mu;  // the pool runs one stage's batch at a time
  std::unique_ptr<WeightStore> store;
  std::unique_ptr<Server> server;

  std::mutex stages_mu;
  std::map<std::string, std::shared_ptr<Stage>> stages;
  // Why recent stages went away other than by Unload (their upstream broke off), so StageHealth
  // can tell the head that a link failed, not this worker: (id, capability, why), the last 64.
  struct Gone {
    std::string id, capability, why;
  };
  std::deque<Gone> gone;       // under stages_mu
  uint64_t committed = 0;      // memory_bytes of every stage in `stages`, and of those loading
  size_t loading = 0;          // stages between their budget check and `stages`
  uint64_t memory_budget = 0;  // what the stages may take together (available at start)
  std::thread reaper;          // frees stages never fed; watches battery and heat
  std::condition_variable reaper_cv;
  bool quitting = false;             // under stages_mu
  std::condition_variable drain_cv;  // a stage went, or the drain ends early (under stages_mu)
  std::atomic<bool> draining{false};
  bool end_drain = false;  // under stages_mu
  std::string drain_why;   // under stages_mu
  std::mutex leave_mu;
  std::condition_variable leave_cv;
  std::string leave_why;  // set once: why the process leaves

  // The gate of every call but the handshake's, on its headers alone (rpc_server.h).
  bool Admit(const ServerCall& call) {
    if (sessions->Verify(call.method(), [&](std::string_view k) { return call.Header(k); }))
      return true;
    LogRejection("rejected " + call.method() + " from " + call.peer() +
                 ": no valid session (unauthenticated, expired, or a replayed call)");
    return false;
  }
  void LogRejection(const std::string& line) {
    const int64_t now = static_cast<int64_t>(NowSeconds() * 1000);
    int64_t last = last_reject_log_ms.load();
    if (now - last >= 1000 && last_reject_log_ms.compare_exchange_strong(last, now)) Log(line);
  }

  // The stage of pipeline `id`, if `capability` is its own: a caller without it learns nothing
  // (the same answer as no stage at all).
  std::shared_ptr<Stage> FindStage(const std::string& id, const std::string& capability) {
    std::lock_guard<std::mutex> lock(stages_mu);
    auto it = stages.find(id);
    if (it == stages.end() || !SecureEquals(it->second->capability, capability)) return nullptr;
    return it->second;
  }

  void DropStage(const std::shared_ptr<Stage>& st) {
    std::lock_guard<std::mutex> lock(stages_mu);
    EraseLocked(st);
  }
  void RecordGone(const std::shared_ptr<Stage>& st, const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->gone_why = why;
    }
    std::lock_guard<std::mutex> lock(stages_mu);
    if (gone.size() >= 64) gone.pop_front();
    gone.push_back({st->id, st->capability, why});
  }
  std::string GoneWhy(const std::string& id, const std::string& capability) {
    std::lock_guard<std::mutex> lock(stages_mu);
    for (const Gone& g : gone)
      if (g.id == id && SecureEquals(g.capability, capability)) return g.why;
    return "";
  }
  void EraseLocked(const std::shared_ptr<Stage>& st) {
    auto it = stages.find(st->id);
    if (it == stages.end() || it->second != st) return;
    committed -= st->memory_bytes;
    stages.erase(it);
    drain_cv.notify_all();
  }

  void RequestLeave(const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(leave_mu);
      if (!leave_why.empty()) return;
      leave_why = why;
    }
    leave_cv.notify_all();
  }

  // Battery and heat, every 5 s when a threshold is set: below or above it, the worker leaves.
  void CheckLeave(Clock::TimePoint now, Clock::TimePoint* next) {
    if ((opts.leave_battery <= 0 && opts.leave_temp_c <= 0) || now < *next) return;
    *next = now + Clock::ToDuration(5);
    if (opts.leave_battery > 0) {
      const BatteryState b = ReadBattery(opts.profile.sys_root);
      if (b.present && !b.charging && b.level < opts.leave_battery)
        RequestLeave("battery at " + std::to_string(static_cast<int>(b.level * 100)) +
                     "%, below --leave-battery " +
                     std::to_string(static_cast<int>(opts.leave_battery * 100)) + "%");
    }
    if (opts.leave_temp_c > 0) {
      const ThermalState t = ReadThermal(opts.profile.sys_root);
      if (t.known && t.max_temp_c >= opts.leave_temp_c)
        RequestLeave("at " + std::to_string(static_cast<int>(t.max_temp_c)) + " C, --leave-temp " +
                     std::to_string(static_cast<int>(opts.leave_temp_c)) + " C");
    }
  }

  // Frees stages that no Forward reached within the timeout.
  void Reap() {
    std::unique_lock<std::mutex> lock(stages_mu);
    auto next_leave_check = opts.clock->Now();
    while (!quitting) {
      opts.clock->WaitFor(reaper_cv, lock, 0.25);
      const auto now = opts.clock->Now();
      lock.unlock();
      CheckLeave(now, &next_leave_check);
      lock.lock();
      std::vector<std::shared_ptr<Stage>> stale;
      for (auto& [id, st] : stages)
        if (!st->fed &&
            std::chrono::duration<double>(now - st->loaded_at).count() > opts.stage_timeout_seconds)
          stale.push_back(st);
      if (stale.empty()) continue;
      lock.unlock();
      for (auto& st : stale) {
        Log("pipeline " + st->id + ": no Forward stream within " +
            HumanDuration(opts.stage_timeout_seconds) + " of loading; stage freed");
        StopStage(st);
      }
      lock.lock();
    }
  }

  // Stops the stage's compute thread after the queued steps and closes its downstream stream.
  void StopStage(const std::shared_ptr<Stage>& st) {
    {
      std::lock_guard<std::mutex> lock(st->mu);
      if (st->stopping) return;
      st->stopping = true;
    }
    st->cv.notify_all();
    if (st->compute.joinable()) st->compute.join();
    if (st->down) {  // a frozen next stage must not hold this thread: bounded
      v1::ForwardSummary summary;
      (void)FinishWithin(*st->down, kCloseSeconds, /*writes_done=*/true, &summary);
    }
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->stopped = true;
    }
    st->cv.notify_all();
    if (const BatchRunner::Stats& n = st->runner->stats(); n.batches > 0) {
      char line[256];
      std::snprintf(line, sizeof(line),
                    "pipeline %s done: %llu steps in %llu batches (%.2f steps, %.1f rows per "
                    "batch), %.2f s computing",
                    st->id.c_str(), static_cast<unsigned long long>(n.steps),
                    static_cast<unsigned long long>(n.batches),
                    static_cast<double>(n.steps) / static_cast<double>(n.batches),
                    static_cast<double>(n.rows) / static_cast<double>(n.batches),
                    st->compute_seconds);
      Log(line);
    }
    std::lock_guard<std::mutex> lock(stages_mu);
    EraseLocked(st);
  }

  // --- RPCs ---

  Status Leaving() const { return Unavailable("this worker is leaving the pool"); }

  // The handshake's messages come in a header (no body is read before a session exists).
  template <typename Req>
  static Status FromHeader(const ServerCall& call, Req* req) {
    if (!req->ParseFromString(call.Header(kHandshakeHeader)))
      return InvalidArgument(call.method() + ": a malformed " + std::string(kHandshakeHeader));
    return Status::Ok();
  }

  Status Hello(ServerCall& call, v1::HelloReply* reply) {
    if (draining) return Leaving();
    v1::HelloRequest req;
    SL_RETURN_IF_ERROR(FromHeader(call, &req));
    Status s = sessions->Challenge(req, call.peer(), call.peer_certificate(), reply);
    if (!s.ok() && s.code() == StatusCode::kUnauthenticated)
      LogRejection("rejected a handshake from " + call.peer() + ": " + s.message());
    return s;
  }

  Status Authenticate(ServerCall& call, v1::AuthenticateReply* reply) {
    if (draining) return Leaving();
    v1::AuthenticateRequest req;
    SL_RETURN_IF_ERROR(FromHeader(call, &req));
    auto id = sessions->Accept(req, call.peer(), call.peer_certificate());
    if (!id.ok()) {
      LogRejection("rejected a handshake from " + call.peer() + ": " + id.status().message());
      return id.status();
    }
    reply->set_session_id(*id);
    reply->set_profile_json(profile_json);
    reply->set_listen_address(address);
    return Status::Ok();
  }

  Status Ping(ServerCall& call, const v1::PingRequest* req, v1::PingReply* reply) {
    if (req->reply_bytes() > (64u << 20)) return InvalidArgument("reply_bytes above 64 MiB");
    reply->set_payload(std::string(req->reply_bytes(), '\x5a'));
    return Status::Ok();
  }

  Status ProbePeer(ServerCall& call, const v1::ProbePeerRequest* req, v1::ProbePeerReply* reply) {
    if (req->address().empty() || req->address().size() > 255)
      return InvalidArgument("address must be 1..255 characters");
    auto ch = opts.transport->Dial(req->address());
    if (!ch.ok()) return ch.status();
    // One answer for every failure: the caller learns whether a pool worker is there, not
    // which ports of the host are open.
    auto session = ClientSession::Open(**ch, *creds, kRolePeer, 10);
    if (!session.ok())
      return Unavailable("probing " + req->address() + ": no pool worker answers there");
    auto m = ProbeLink(**ch, **session,
                       std::clamp<uint32_t>(req->bandwidth_bytes(), 64u << 10, 16u << 20));
    if (!m.ok()) return m.status().WithContext("probing " + req->address());
    reply->set_rtt_seconds(m->rtt_seconds);
    reply->set_bandwidth_bytes_per_second(m->bytes_per_second);
    return Status::Ok();
  }

  Status LoadStage(ServerCall& call, const v1::LoadStageRequest* req, v1::LoadStageReply* reply) {
    if (draining) return Leaving();
    auto bad = [](const std::string& m) { return InvalidArgument("LoadStage: " + m); };
    if (req->pipeline_id().empty() || req->pipeline_id().size() > 128)
      return bad("pipeline_id must be 1..128 characters");
    if (req->first_layer() < 0 || req->last_layer() <= req->first_layer())
      return bad("layers [" + std::to_string(req->first_layer()) + ", " +
                 std::to_string(req->last_layer()) + ") are empty or negative");
    if (req->n_ctx() < 1 || req->n_ctx() > (int64_t{1} << 24)) return bad("n_ctx out of range");
    if (req->max_batch() < 1 || req->max_batch() > kMaxBatch) return bad("max_batch out of range");
    if (req->max_seqs() < 1 || req->max_seqs() > kMaxSeqs) return bad("max_seqs out of range");
    if (req->kv_blocks() < KvBlocksFor(req->n_ctx()) || req->kv_blocks() > kMaxKvBlocks)
      return bad("kv_blocks " + std::to_string(req->kv_blocks()) +
                 " out of range (at least one sequence's " +
                 std::to_string(KvBlocksFor(req->n_ctx())) + ")");
    auto act = ActFromProto(req->act());
    if (!act) return bad("unknown activation format");
    if (req->with_output() != req->next_address().empty())
      return bad("exactly the last stage (with_output) has no next_address");
    if (req->capability().size() < 16 || req->capability().size() > 64)
      return bad("capability must be 16..64 bytes (protocol " + std::to_string(kProtocolVersion) +
                 ")");
    if (req->header_sha256().size() != 32) return bad("header_sha256 must be 32 bytes");
    if (req->tensors_size() > 100000) return bad("more than 100000 tensor digests");
    StageDigests expected;
    expected.header = req->header_sha256();
    for (const v1::TensorDigest& d : req->tensors()) {
      if (d.sha256().size() != 32 || d.name().empty() || d.name().size() > 256)
        return bad("a tensor digest needs a name of 1..256 characters and 32 bytes");
      expected.tensors[d.name()] = d.sha256();
    }
    {
      // A pipeline id is a label anyone may have seen: replacing a stage takes its capability.
      std::lock_guard<std::mutex> lock(stages_mu);
      auto it = stages.find(req->pipeline_id());
      if (it != stages.end() && !SecureEquals(it->second->capability, req->capability()))
        return PermissionDenied("LoadStage: pipeline '" + req->pipeline_id() +
                                "' is another head's");
    }
    if (auto old = FindStage(req->pipeline_id(), req->capability())) StopStage(old);

    auto loc =
        store->Locate(req->model_sha256(), req->model_size(), req->first_layer(), req->last_layer(),
                      req->with_embedding(), req->with_output(), expected);
    if (!loc.ok()) return loc.status();
    if (loc->path.empty()) {
      reply->set_header_missing(loc->header_missing);
      for (const std::string& n : loc->missing_tensors) reply->add_missing_tensors(n);
      return Status::Ok();
    }
    BindOptions bind;
    bind.first_layer = req->first_layer();
    bind.last_layer = req->last_layer();
    bind.with_embedding = req->with_embedding();
    bind.with_output = req->with_output();
    auto model = Model::Load(loc->path, bind);
    if (!model.ok()) return model.status();
    const HParams& hp = (*model)->hparams();
    if (req->last_layer() > hp.n_layers)
      return bad("layers up to " + std::to_string(req->last_layer()) + " but the model has " +
                 std::to_string(hp.n_layers));
    if (Status s = CheckActFormat(*act, hp.dim); !s.ok()) return s;
    // Memory: the stage's weights, the pipeline's KV pool for these layers, scratch.
    const auto names = StageTensorNames((*model)->file(), req->first_layer(), req->last_layer(),
                                        req->with_embedding(), req->with_output());
    const uint64_t weights = TensorBytes((*model)->file(), names);
    const KvLayout layout =
        KvLayoutFor(hp, req->kv_blocks(), req->n_ctx(), req->max_seqs(), req->max_batch());
    const uint64_t kv = KvBytes(hp, layout, req->first_layer(), req->last_layer(), KvType::kF32);
    const uint64_t scratch = ScratchBytes(hp, req->max_batch(), req->n_ctx(), pool->size(),
                                          req->with_output() ? req->max_seqs() : 0);
    const uint64_t need = weights + kv + scratch + kStageOverheadBytes;
    uint64_t total = 0, avail = 0;
    auto text = ReadFileToString(opts.profile.proc_root + "/meminfo");
    if (text.ok() && ParseMeminfo(*text, &total, &avail).ok() && avail > 0) {
      if (opts.emulate_memory_bytes > 0) avail = std::min(avail, opts.emulate_memory_bytes);
      if (need > avail)
        return ResourceExhausted("layers " + std::to_string(req->first_layer()) + "-" +
                                 std::to_string(req->last_layer() - 1) + " need " +
                                 HumanBytes(static_cast<double>(need)) + " (weights " +
                                 HumanBytes(static_cast<double>(weights)) + ", KV cache " +
                                 HumanBytes(static_cast<double>(kv)) + ") but this worker has " +
                                 HumanBytes(static_cast<double>(avail)) + " available");
    }
    auto st = std::make_shared<Stage>();
    st->id = req->pipeline_id();
    st->capability = req->capability();
    st->next = req->next_address();
    st->weights_in_use = loc->in_use;
    st->memory_bytes = need;
    {
      // Every stage's weights, KV pool and buffers count, not just this one's: stages allocate
      // KV as it fills, so free memory now says little about what they will take.
      std::lock_guard<std::mutex> lock(stages_mu);
      if (stages.size() + loading >= kMaxStages)
        return ResourceExhausted("this worker already holds " + std::to_string(stages.size()) +
                                 " stages (at most " + std::to_string(kMaxStages) + ")");
      if (committed + need > memory_budget)
        return ResourceExhausted("layers " + std::to_string(req->first_layer()) + "-" +
                                 std::to_string(req->last_layer() - 1) + " need " +
                                 HumanBytes(static_cast<double>(need)) + " but this worker's " +
                                 std::to_string(stages.size()) + " other stage(s) hold " +
                                 HumanBytes(static_cast<double>(committed)) + " of its " +
                                 HumanBytes(static_cast<double>(memory_budget)));
      committed += need;  // reserved now; the stage is listed once its runner exists
      ++loading;
    }
    (*model)->Prefault();
    StageConfig cfg;
    cfg.first_layer = req->first_layer();
    cfg.last_layer = req->last_layer();
    cfg.with_embedding = req->with_embedding();
    cfg.with_output = req->with_output();
    cfg.n_ctx = req->n_ctx();
    cfg.max_seqs = req->max_seqs();
    cfg.max_batch = req->max_batch();
    cfg.kv_blocks = req->kv_blocks();
    cfg.act = *act;
    const std::string layers =
        "layers " + std::to_string(cfg.first_layer) + "-" + std::to_string(cfg.last_layer - 1);
    cfg.label = address + " (" + layers + ")";
    st->runner = std::make_unique<StageRunner>(std::move(*model), cfg, *pool);
    {
      std::lock_guard<std::mutex> lock(stages_mu);
      --loading;
      st->loaded_at = opts.clock->Now();
      stages[st->id] = st;
    }
    st->compute = std::thread([this, st] { RunStage(*st); });
    reply->set_memory_bytes(need);
    reply->set_source(loc->source);
    Log("pipeline " + st->id + ": " + layers + " of " + loc->path + " (" + loc->source + ", " +
        HumanBytes(static_cast<double>(weights)) + ")" +
        (st->next.empty() ? ", last stage" : ", next " + st->next));
    return Status::Ok();
  }

  Status PushWeights(ServerCall& call) {
    uint64_t written = 0;
    Status s = store->Receive([&](v1::WeightChunk* c) { return call.Read(c); }, &written);
    if (!s.ok()) {
      Log(s.message());
      return s;
    }
    Log("received " + HumanBytes(static_cast<double>(written)) + " of weights");
    v1::PushWeightsReply reply;
    reply.set_bytes_written(written);
    call.Write(reply);
    return Status::Ok();
  }

  Status Forward(ServerCall& call) {
    v1::Batch r;
    if (!call.Read(&r)) return Status::Ok();
    std::shared_ptr<Stage> st = FindStage(r.pipeline_id(), r.capability());
    if (!st) return NotFound("no stage for pipeline '" + r.pipeline_id() + "' (LoadStage first)");
    st->fed = true;
    uint64_t n = 0;
    do {
      std::unique_lock<std::mutex> lock(st->mu);
      st->cv.wait(lock, [&] { return st->stopping || st->in.size() < kMaxQueuedBatches; });
      if (st->stopping) break;
      n += !r.attach();
      st->in.push_back(std::move(r));
      lock.unlock();
      st->cv.notify_all();
    } while (call.Read(&r));
    v1::ForwardSummary summary;
    summary.set_batches(n);
    // The upstream ended (the head is done, or gone): finish the queued batches, then close the
    // downstream, so the whole pipeline winds down. Nothing can feed the stage again (a head that
    // comes back loads a new one), so it goes now rather than at Unload, which a head that lost
    // this worker never sends; a Results stream still draining it holds its own reference.
    // A cancelled call is a broken link (or a head that gave up), not a clean end of input;
    // recorded before the next stage hears of it (StopStage closes its stream).
    if (call.Cancelled()) RecordGone(st, "its input from " + call.peer() + " was cut");
    StopStage(st);
    DropStage(st);
    call.Write(summary);
    return Status::Ok();
  }

  Status Results(ServerCall& call) {
    v1::ResultsRequest request;
    if (!call.Read(&request)) return InvalidArgument("Results: no request message");
    const v1::ResultsRequest* req = &request;
    std::shared_ptr<Stage> st = FindStage(req->pipeline_id(), req->capability());
    if (!st || !st->runner->config().with_output)
      return NotFound("no last stage for pipeline '" + req->pipeline_id() + "'");
    call.SendHeaders();  // the head waits for this before sending batches
    for (;;) {
      std::deque<v1::BatchResult> out;
      bool done = false;
      {
        std::unique_lock<std::mutex> lock(st->mu);
        st->cv.wait_for(lock, std::chrono::milliseconds(200),
                        [&] { return st->stopped || !st->results.empty(); });
        out.swap(st->results);
        done = st->stopped && out.empty();
      }
      for (v1::BatchResult& res : out)
        if (!call.Write(res)) return Status::Ok();  // the head went away
      if (done || call.Cancelled()) return Status::Ok();
    }
  }

  Status Unload(ServerCall&, const v1::UnloadRequest* req, v1::UnloadReply*) {
    if (auto st = FindStage(req->pipeline_id(), req->capability())) {
      StopStage(st);
      DropStage(st);  // its weights and KV go now, not when a later LoadStage replaces it
    }
    return Status::Ok();
  }

  Status StageHealth(ServerCall& call, const v1::StageHealthRequest* req,
                     v1::StageHealthReply* reply) {
    std::shared_ptr<Stage> st = FindStage(req->pipeline_id(), req->capability());
    if (!st) {
      reply->set_state(v1::StageHealthReply::NO_STAGE);
      reply->set_message(GoneWhy(req->pipeline_id(), req->capability()));
      return Status::Ok();
    }
    if (draining) {
      reply->set_state(v1::StageHealthReply::DRAINING);
      std::lock_guard<std::mutex> lock(stages_mu);
      reply->set_message(drain_why);
      return Status::Ok();
    }
    std::lock_guard<std::mutex> lock(st->mu);
    reply->set_batches_done(st->batches_done);
    if (st->stopping) {  // winding down: gone for the head (and why, when its upstream broke)
      reply->set_state(v1::StageHealthReply::NO_STAGE);
      reply->set_message(st->gone_why);
    } else if (!st->down_error.empty()) {
      reply->set_state(v1::StageHealthReply::DOWNSTREAM_FAILED);
      reply->set_message(st->down_error);
    } else {
      reply->set_state(v1::StageHealthReply::OK);
    }
    return Status::Ok();
  }

  template <typename Req, typename Rep>
  RpcMethod Unary(const char* name, size_t max_message_bytes,
                  Status (Impl::*f)(ServerCall&, const Req*, Rep*)) {
    return UnaryMethod<Req, Rep>(
        name, max_message_bytes,
        [this, f](ServerCall& c, const Req& q, Rep* r) { return (this->*f)(c, &q, r); });
  }

  // Every method, the largest message it reads, and whether it needs a session (checked by
  // Admit before its body is read).
  std::vector<RpcMethod> Methods() {
    std::vector<RpcMethod> m;
    // The handshake reads no body: its requests are headers (FromHeader).
    auto handshake = [&](const char* name, auto run) {
      RpcMethod h;
      h.name = name;
      h.needs_session = false;
      h.max_message_bytes = 0;
      h.handler = [run](ServerCall& call) -> Status {
        auto reply = run(call);
        if (!reply.ok()) return reply.status();
        call.Write(*reply);
        return Status::Ok();
      };
      m.push_back(std::move(h));
    };
    handshake("Hello", [this](ServerCall& c) -> StatusOr<v1::HelloReply> {
      v1::HelloReply r;
      SL_RETURN_IF_ERROR(Hello(c, &r));
      return r;
    });
    handshake("Authenticate", [this](ServerCall& c) -> StatusOr<v1::AuthenticateReply> {
      v1::AuthenticateReply r;
      SL_RETURN_IF_ERROR(Authenticate(c, &r));
      return r;
    });
    constexpr size_t kSmall = 4 << 10;  // ids and capabilities
    m.push_back(Unary("Ping", (64 << 20) + kSmall, &Impl::Ping));
    m.push_back(Unary("ProbePeer", kSmall, &Impl::ProbePeer));
    // A stage's request lists its tensors' digests: 1 MiB is some 10,000 tensors.
    m.push_back(Unary("LoadStage", 1 << 20, &Impl::LoadStage));
    m.push_back(Unary("Unload", kSmall, &Impl::Unload));
    m.push_back(Unary("StageHealth", kSmall, &Impl::StageHealth));
    auto stream = [&](const char* name, size_t max, Status (Impl::*f)(ServerCall&)) {
      RpcMethod s;
      s.name = name;
      s.max_message_bytes = max;
      s.handler = [this, f](ServerCall& c) { return (this->*f)(c); };
      m.push_back(std::move(s));
    };
    stream("PushWeights", kMaxMessageBytes, &Impl::PushWeights);  // the first carries the header
    stream("Forward", kMaxMessageBytes, &Impl::Forward);          // a prompt chunk's activations
    stream("Results", kSmall, &Impl::Results);
    return m;
  }

  // --- compute ---

  void RunStage(Stage& st) {
    for (;;) {
      v1::Batch batch;
      {
        std::unique_lock<std::mutex> lock(st.mu);
        st.cv.wait(lock, [&] { return st.stopping || !st.in.empty(); });
        if (st.in.empty()) break;
        batch = std::move(st.in.front());
        st.in.pop_front();
      }
      st.cv.notify_all();    // room in the queue
      if (batch.attach()) {  // the head's attach (pipeline_client.cc): passed on as is
        if (!st.runner->config().with_output) PassOn(st, batch);
        continue;
      }
      std::lock_guard<std::mutex> lock(compute_mu);
      const double t0 = NowSeconds();
      v1::Batch next;
      v1::BatchResult result;
      st.runner->Run(batch, &next, &result);
      const double took = NowSeconds() - t0;
      st.compute_seconds += took;
      // An emulated slower device (worker.h) takes longer before it answers, and its reported
      // compute time says so, as a real one's would.
      if (const double f = SlowdownNow(); f > 1) {
        std::this_thread::sleep_for(std::chrono::duration<double>((f - 1) * took));
        if (st.runner->config().with_output && result.stage_seconds_size() > 0) {
          const int last = result.stage_seconds_size() - 1;
          result.set_compute_seconds(result.compute_seconds() +
                                     (f - 1) * result.stage_seconds(last));
          result.set_stage_seconds(last, f * result.stage_seconds(last));
        } else if (next.stage_seconds_size() > 0) {
          const int last = next.stage_seconds_size() - 1;
          next.set_stage_seconds(last, f * next.stage_seconds(last));
        }
      }
      if (st.runner->config().with_output) {
        {
          std::lock_guard<std::mutex> l(st.mu);
          st.results.push_back(std::move(result));
          ++st.batches_done;
        }
        st.cv.notify_all();
      } else {
        PassOn(st, next);
        std::lock_guard<std::mutex> l(st.mu);
        ++st.batches_done;
      }
    }
  }

  double SlowdownNow() const {
    double f = std::max(1.0, opts.emulate_slowdown);
    if (opts.emulate_throttle > 1 &&
        opts.clock->SecondsSince(started) >= opts.emulate_throttle_after_seconds)
      f *= opts.emulate_throttle;
    return f;
  }

  // Inner stage: the batch (activations and errors) to the next stage's Forward stream.
  void PassOn(Stage& st, v1::Batch& r) {
    if (st.down_failed) return;
    const auto fail = [&](const std::string& why) {
      Log("pipeline " + st.id + ": " + why);
      st.down_failed = true;
      std::lock_guard<std::mutex> l(st.mu);
      st.down_error = why;
    };
    if (!st.down) {
      auto ch = opts.transport->Dial(st.next);
      if (!ch.ok()) return fail(ch.status().message());
      st.channel = *ch;
      auto session = ClientSession::Open(*st.channel, *creds, kRolePeer, kCloseSeconds);
      if (!session.ok())
        return fail("the next stage " + st.next + ": " + session.status().message());
      st.down = st.channel->Open("Forward", (*session)->Sign("Forward"));
      r.set_pipeline_id(st.id);
      r.set_capability(st.capability);  // the next stage's LoadStage got the same one
    } else {
      r.clear_pipeline_id();
      r.clear_capability();
    }
    if (!st.down->Write(r)) {
      // The stream is dead: its status says why (the peer vanished, a keepalive timed out, or
      // the next stage refused the stage).
      const Status gs = FinishWithin(*st.down, kCloseSeconds, /*writes_done=*/false);
      st.down.reset();
      fail("the next stage " + st.next +
           " stopped accepting batches: " + gs.WithContext("Forward").message());
    }
  }
};

WorkerServer::WorkerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WorkerServer::~WorkerServer() { Shutdown(); }

const std::string& WorkerServer::address() const { return impl_->address; }

void WorkerServer::Wait() { impl_->server->Wait(); }

void WorkerServer::RequestLeave(const std::string& why) { impl_->RequestLeave(why); }

std::string WorkerServer::WaitForLeave() {
  std::unique_lock<std::mutex> lock(impl_->leave_mu);
  impl_->leave_cv.wait(lock, [&] { return !impl_->leave_why.empty(); });
  return impl_->leave_why;
}

void WorkerServer::Drain(const std::string& why) {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lock(m.stages_mu);
  m.drain_why = why;
  m.draining = true;
  const size_t n = m.stages.size() + m.loading;
  Log("leaving (" + why + "): " +
      (n == 0 ? std::string("no stage to hand over")
              : "waiting up to " + HumanDuration(m.opts.drain_seconds) + " for the head to move " +
                    std::to_string(n) + " stage(s)"));
  const Clock& clock = *m.opts.clock;
  const auto t0 = clock.Now();
  const bool done = clock.Await(m.drain_cv, lock, clock.After(m.opts.drain_seconds), [&] {
    return (m.stages.empty() && m.loading == 0) || m.end_drain;
  });
  const double took = clock.SecondsSince(t0);
  if (n > 0 && done && m.stages.empty())
    Log("drained in " + HumanDuration(took) + ": every stage was moved");
  else if (n > 0)
    Log("stopping with " + std::to_string(m.stages.size()) + " stage(s) still here after " +
        HumanDuration(took));
}

void WorkerServer::EndDrain() {
  {
    std::lock_guard<std::mutex> lock(impl_->stages_mu);
    impl_->end_drain = true;
  }
  impl_->drain_cv.notify_all();
}

void WorkerServer::Shutdown() {
  if (!impl_ || !impl_->server) return;
  {
    std::lock_guard<std::mutex> lock(impl_->stages_mu);
    if (impl_->quitting) return;
    impl_->quitting = true;
  }
  impl_->reaper_cv.notify_all();
  if (impl_->reaper.joinable()) impl_->reaper.join();
  std::vector<std::shared_ptr<Stage>> all;
  {
    std::lock_guard<std::mutex> lock(impl_->stages_mu);
    for (auto& [id, st] : impl_->stages) all.push_back(st);
  }
  for (auto& st : all) impl_->StopStage(st);
  impl_->server->Shutdown();  // idempotent; the server goes with impl_
}

StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(const WorkerOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->opts = o;
  if (!impl->opts.clock) impl->opts.clock = &Clock::Real();
  if (o.security.token.empty()) return InvalidArgument("a pool token is required");
  SL_ASSIGN_OR_RETURN(impl->creds, Credentials::Load(o.security));
  impl->sessions = std::make_unique<SessionTable>(impl->creds, *impl->opts.clock);
  impl->started = impl->opts.clock->Now();
  ProfileOptions po = o.profile;
  po.threads = o.threads;
  SL_ASSIGN_OR_RETURN(
      impl->profile,
      LoadOrMeasureProfile(po, o.profile_cache_dir.empty() ? o.cache_dir : o.profile_cache_dir,
                           o.profile_max_age_s));
  if (!o.model_dir.empty()) {
    SL_ASSIGN_OR_RETURN(impl->profile.models, ScanModelDir(o.model_dir, o.cache_dir));
  }
  if (o.emulate_slowdown > 1) {
    DeviceProfile& p = impl->profile;
    p.mem_bandwidth_gbs /= o.emulate_slowdown;
    for (auto& [type, speed] : p.speed) {
      speed.matvec_gbs /= o.emulate_slowdown;
      speed.matmul_gflops /= o.emulate_slowdown;
    }
    Log("emulating a device " + std::to_string(o.emulate_slowdown).substr(0, 4) +
        "x slower than this one");
  }
  if (o.emulate_throttle > 1)
    Log("emulating throttling: " + std::to_string(o.emulate_throttle).substr(0, 4) +
        "x slower still after " + HumanDuration(o.emulate_throttle_after_seconds) +
        ", the profile unchanged");
  if (o.emulate_memory_bytes > 0) {
    impl->profile.available_ram_bytes =
        std::min(impl->profile.available_ram_bytes, o.emulate_memory_bytes);
    impl->profile.total_ram_bytes = std::min(impl->profile.total_ram_bytes, o.emulate_memory_bytes);
    Log("emulating " + HumanBytes(static_cast<double>(o.emulate_memory_bytes)) + " of memory");
  }
  impl->pool = std::make_unique<ThreadPool>(impl->profile.threads);
  impl->store =
      std::make_unique<WeightStore>(o.cache_dir, impl->profile.models, o.cache_quota_bytes);
  {
    // The stages' memory budget: what this device has free now (or the emulated amount).
    uint64_t total = 0, avail = 0;
    auto text = ReadFileToString(o.profile.proc_root + "/meminfo");
    if (text.ok() && ParseMeminfo(*text, &total, &avail).ok() && avail > 0)
      impl->memory_budget = avail;
    else
      impl->memory_budget = impl->profile.available_ram_bytes;
    if (o.emulate_memory_bytes > 0)
      impl->memory_budget = std::min(impl->memory_budget, o.emulate_memory_bytes);
  }

  if (!impl->opts.transport) impl->opts.transport = std::make_shared<GrpcTransport>(o.security);
  SL_ASSIGN_OR_RETURN(impl->server,
                      impl->opts.transport->Serve(
                          o.listen, impl->Methods(),
                          [p = impl.get()](const ServerCall& c) { return p->Admit(c); }, {}));
  const int port = impl->server->port();
  const size_t colon = o.listen.rfind(':');
  impl->address = o.listen.substr(0, colon) + ":" + std::to_string(port);
  impl->reaper = std::thread([p = impl.get()] { p->Reap(); });
  DeviceProfile shown = impl->profile;
  if (!o.name.empty())
    shown.hostname = o.name;
  else
    shown.hostname = impl->address;
  impl->profile_json = ProfileToJson(shown);
  return std::unique_ptr<WorkerServer>(new WorkerServer(std::move(impl)));
}

}  // namespace suanli::cluster
