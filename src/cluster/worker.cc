#include "cluster/worker.h"

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/mapped_file.h"
#include "base/progress.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "cluster/activation_codec.h"
#include "cluster/auth.h"
#include "cluster/link_probe.h"
#include "cluster/stage_weights.h"
#include "engine/forward.h"
#include "engine/sampler.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "suanli/cluster/v1/worker.grpc.pb.h"

namespace suanli::cluster {

namespace {

constexpr size_t kMaxQueuedSteps = 256;  // per stage; the reader waits beyond this (backpressure)
constexpr int64_t kMaxBatch = 4096;
constexpr int64_t kMaxSeqs = 4096;

void Log(const std::string& msg) { std::fprintf(stderr, "suanli worker: %s\n", msg.c_str()); }

std::optional<ActFormat> FromProto(v1::ActFormat f) {
  switch (f) {
    case v1::ACT_F32:
      return ActFormat::kF32;
    case v1::ACT_F16:
      return ActFormat::kF16;
    case v1::ACT_Q8_0:
      return ActFormat::kQ8_0;
    default:
      return std::nullopt;
  }
}

v1::ActFormat ToProto(ActFormat f) {
  switch (f) {
    case ActFormat::kF32:
      return v1::ACT_F32;
    case ActFormat::kF16:
      return v1::ACT_F16;
    case ActFormat::kQ8_0:
      return v1::ACT_Q8_0;
  }
  return v1::ACT_F16;
}

SamplerParams FromProto(const v1::SamplerParams& p) {
  SamplerParams s;
  s.temperature = p.temperature();
  s.top_k = p.top_k();
  s.top_p = p.top_p();
  s.min_p = p.min_p();
  s.repeat_penalty = p.repeat_penalty();
  s.repeat_last_n = std::clamp(p.repeat_last_n(), 0, 1 << 20);
  s.seed = p.seed();
  return s;
}

struct SeqState {
  std::unique_ptr<KvCache> cache;
  int64_t n_past = 0;
  std::unique_ptr<Sampler> sampler;
};

// One pipeline stage held by this worker.
struct Stage {
  std::string id;
  std::string label;  // "layers 0-7" for messages
  std::unique_ptr<Model> model;
  std::unique_ptr<Forward> fwd;
  int64_t first = 0, last = 0;
  bool embed = false, output = false;
  int64_t n_ctx = 0, max_seqs = 1, max_batch = 1;
  ActFormat act = ActFormat::kF16;
  std::string next;

  std::mutex mu;
  std::condition_variable cv;  // in / stopping / results
  std::deque<v1::StepRequest> in;
  std::deque<v1::StepResult> results;
  bool stopping = false;
  bool stopped = false;  // compute thread finished; results hold the last answers
  std::thread compute;

  // Downstream (not the last stage): opened on the first step.
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Worker::Stub> stub;
  std::unique_ptr<grpc::ClientContext> down_ctx;
  v1::ForwardSummary down_summary;
  std::unique_ptr<grpc::ClientWriter<v1::StepRequest>> down;
  bool down_failed = false;

  std::map<uint64_t, SeqState> seqs;
  // Counters for the log line at the end: steps, batches, rows, compute seconds.
  uint64_t n_steps = 0, n_batches = 0, n_rows = 0;
  double compute_seconds = 0;
  std::vector<float> x;          // [max_batch × dim]
  std::vector<float> last_rows;  // [max_batch × dim] last rows of the steps that want logits
  std::vector<float> logits;     // [steps × n_vocab]
};

}  // namespace

struct WorkerServer::Impl final : public v1::Worker::Service {
  WorkerOptions opts;
  DeviceProfile profile;
  std::string profile_json;
  std::string call_key;
  std::string address;
  std::unique_ptr<ThreadPool> pool;
  std::mutex compute_mu;  // the pool runs one stage's batch at a time
  std::unique_ptr<WeightStore> store;
  std::unique_ptr<grpc::Server> server;

  std::mutex stages_mu;
  std::map<std::string, std::shared_ptr<Stage>> stages;

  bool Check(grpc::ServerContext* ctx, const char* method) {
    if (Authorized(ctx, call_key)) return true;
    Log(std::string("rejected ") + method + " from " + ctx->peer() +
        ": missing or wrong pool token");
    return false;
  }
  static grpc::Status Unauthenticated() {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this worker needs the pool token (--token, --token-file or SUANLI_TOKEN)");
  }

  std::shared_ptr<Stage> FindStage(const std::string& id) {
    std::lock_guard<std::mutex> lock(stages_mu);
    auto it = stages.find(id);
    return it == stages.end() ? nullptr : it->second;
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
    if (st->down) {
      st->down->WritesDone();
      (void)st->down->Finish();
    }
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->stopped = true;
    }
    st->cv.notify_all();
    if (st->n_batches > 0) {
      char line[256];
      std::snprintf(line, sizeof(line),
                    "pipeline %s done: %llu steps in %llu batches (%.2f steps, %.1f rows per "
                    "batch), %.2f s computing",
                    st->id.c_str(), static_cast<unsigned long long>(st->n_steps),
                    static_cast<unsigned long long>(st->n_batches),
                    static_cast<double>(st->n_steps) / static_cast<double>(st->n_batches),
                    static_cast<double>(st->n_rows) / static_cast<double>(st->n_batches),
                    st->compute_seconds);
      Log(line);
    }
    std::lock_guard<std::mutex> lock(stages_mu);
    auto it = stages.find(st->id);
    if (it != stages.end() && it->second == st) stages.erase(it);
  }

  // --- RPCs ---

  grpc::Status Hello(grpc::ServerContext* ctx, const v1::HelloRequest* req,
                     v1::HelloReply* reply) override {
    if (!Check(ctx, "Hello")) return Unauthenticated();
    if (req->nonce().size() < 8 || req->nonce().size() > 256)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "nonce must be 8..256 bytes");
    reply->set_protocol_version(kProtocolVersion);
    reply->set_profile_json(profile_json);
    reply->set_proof(WorkerProof(opts.security.token, req->nonce()));
    reply->set_listen_address(address);
    return grpc::Status::OK;
  }

  grpc::Status Ping(grpc::ServerContext* ctx, const v1::PingRequest* req,
                    v1::PingReply* reply) override {
    if (!Check(ctx, "Ping")) return Unauthenticated();
    if (req->reply_bytes() > (64u << 20))
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "reply_bytes above 64 MiB");
    reply->set_payload(std::string(req->reply_bytes(), '\x5a'));
    return grpc::Status::OK;
  }

  grpc::Status ProbePeer(grpc::ServerContext* ctx, const v1::ProbePeerRequest* req,
                         v1::ProbePeerReply* reply) override {
    if (!Check(ctx, "ProbePeer")) return Unauthenticated();
    if (req->address().empty() || req->address().size() > 255)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "address must be 1..255 characters");
    auto ch = MakeChannel(req->address(), opts.security);
    if (!ch.ok()) return ToGrpc(ch.status());
    auto stub = v1::Worker::NewStub(*ch);
    auto m = ProbeLink(*stub, opts.security,
                       std::clamp<uint32_t>(req->bandwidth_bytes(), 64u << 10, 16u << 20));
    if (!m.ok()) return ToGrpc(m.status().WithContext("probing " + req->address()));
    reply->set_rtt_seconds(m->rtt_seconds);
    reply->set_bandwidth_bytes_per_second(m->bytes_per_second);
    return grpc::Status::OK;
  }

  grpc::Status LoadStage(grpc::ServerContext* ctx, const v1::LoadStageRequest* req,
                         v1::LoadStageReply* reply) override {
    if (!Check(ctx, "LoadStage")) return Unauthenticated();
    auto bad = [](const std::string& m) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "LoadStage: " + m);
    };
    if (req->pipeline_id().empty() || req->pipeline_id().size() > 128)
      return bad("pipeline_id must be 1..128 characters");
    if (req->first_layer() < 0 || req->last_layer() <= req->first_layer())
      return bad("layers [" + std::to_string(req->first_layer()) + ", " +
                 std::to_string(req->last_layer()) + ") are empty or negative");
    if (req->n_ctx() < 1 || req->n_ctx() > (int64_t{1} << 24)) return bad("n_ctx out of range");
    if (req->max_batch() < 1 || req->max_batch() > kMaxBatch) return bad("max_batch out of range");
    if (req->max_seqs() < 1 || req->max_seqs() > kMaxSeqs) return bad("max_seqs out of range");
    auto act = FromProto(req->act());
    if (!act) return bad("unknown activation format");
    if (req->with_output() != req->next_address().empty())
      return bad("exactly the last stage (with_output) has no next_address");
    if (auto old = FindStage(req->pipeline_id())) StopStage(old);

    auto loc = store->Locate(req->model_sha256(), req->model_size(), req->first_layer(),
                             req->last_layer(), req->with_embedding(), req->with_output());
    if (!loc.ok()) return ToGrpc(loc.status());
    if (loc->path.empty()) {
      reply->set_header_missing(loc->header_missing);
      for (const std::string& n : loc->missing_tensors) reply->add_missing_tensors(n);
      return grpc::Status::OK;
    }
    BindOptions bind;
    bind.first_layer = req->first_layer();
    bind.last_layer = req->last_layer();
    bind.with_embedding = req->with_embedding();
    bind.with_output = req->with_output();
    auto model = Model::Load(loc->path, bind);
    if (!model.ok()) return ToGrpc(model.status());
    const HParams& hp = (*model)->hparams();
    if (req->last_layer() > hp.n_layers)
      return bad("layers up to " + std::to_string(req->last_layer()) + " but the model has " +
                 std::to_string(hp.n_layers));
    if (Status s = CheckActFormat(*act, hp.dim); !s.ok()) return ToGrpc(s);
    // Memory: the stage's weights, one sequence's KV cache at full context, and scratch.
    const auto names = StageTensorNames((*model)->file(), req->first_layer(), req->last_layer(),
                                        req->with_embedding(), req->with_output());
    const uint64_t weights = TensorBytes((*model)->file(), names);
    const uint64_t kv = 2ull * sizeof(float) * static_cast<uint64_t>(hp.kv_dim()) *
                        static_cast<uint64_t>(req->n_ctx()) *
                        static_cast<uint64_t>(req->last_layer() - req->first_layer());
    const uint64_t scratch =
        static_cast<uint64_t>(req->max_batch()) * sizeof(float) *
            static_cast<uint64_t>(4 * hp.dim + 2 * hp.ffn_dim + 3 * hp.q_dim()) +
        (req->with_output() ? static_cast<uint64_t>(hp.n_vocab) * 4 : 0);
    const uint64_t need = weights + kv + scratch;
    uint64_t total = 0, avail = 0;
    if (auto text = ReadFileToString(opts.profile.proc_root + "/meminfo");
        text.ok() && ParseMeminfo(*text, &total, &avail).ok() && avail > 0 &&
        need > (opts.emulate_memory_bytes > 0 ? std::min(avail, opts.emulate_memory_bytes) : avail))
      return grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          "layers " + std::to_string(req->first_layer()) + "-" +
              std::to_string(req->last_layer() - 1) + " need " +
              HumanBytes(static_cast<double>(need)) + " (weights " +
              HumanBytes(static_cast<double>(weights)) + ", KV cache " +
              HumanBytes(static_cast<double>(kv)) + ") but this worker has " +
              HumanBytes(static_cast<double>(opts.emulate_memory_bytes > 0
                                                 ? std::min(avail, opts.emulate_memory_bytes)
                                                 : avail)) +
              " available");
    (*model)->Prefault();

    auto st = std::make_shared<Stage>();
    st->id = req->pipeline_id();
    st->first = req->first_layer();
    st->last = req->last_layer();
    st->label = "layers " + std::to_string(st->first) + "-" + std::to_string(st->last - 1);
    st->embed = req->with_embedding();
    st->output = req->with_output();
    st->n_ctx = req->n_ctx();
    st->max_seqs = req->max_seqs();
    st->max_batch = std::min(req->max_batch(), req->n_ctx() * req->max_seqs());
    st->act = *act;
    st->next = req->next_address();
    st->model = std::move(*model);
    st->fwd = std::make_unique<suanli::Forward>(hp, st->model->weights(), *pool, st->max_batch);
    st->x.resize(static_cast<size_t>(st->max_batch * hp.dim));
    if (st->output) st->last_rows.resize(static_cast<size_t>(st->max_batch * hp.dim));
    {
      std::lock_guard<std::mutex> lock(stages_mu);
      stages[st->id] = st;
    }
    st->compute = std::thread([this, st] { RunStage(*st); });
    reply->set_memory_bytes(need);
    reply->set_source(loc->source);
    Log("pipeline " + st->id + ": " + st->label + " of " + loc->path + " (" + loc->source + ", " +
        HumanBytes(static_cast<double>(weights)) + ")" +
        (st->next.empty() ? ", last stage" : ", next " + st->next));
    return grpc::Status::OK;
  }

  grpc::Status PushWeights(grpc::ServerContext* ctx, grpc::ServerReader<v1::WeightChunk>* reader,
                           v1::PushWeightsReply* reply) override {
    if (!Check(ctx, "PushWeights")) return Unauthenticated();
    uint64_t written = 0;
    Status s = store->Receive([&](v1::WeightChunk* c) { return reader->Read(c); }, &written);
    reply->set_bytes_written(written);
    if (!s.ok())
      Log(s.message());
    else
      Log("received " + HumanBytes(static_cast<double>(written)) + " of weights");
    return ToGrpc(s);
  }

  grpc::Status Forward(grpc::ServerContext* ctx, grpc::ServerReader<v1::StepRequest>* reader,
                       v1::ForwardSummary* summary) override {
    if (!Check(ctx, "Forward")) return Unauthenticated();
    v1::StepRequest r;
    if (!reader->Read(&r)) return grpc::Status::OK;
    std::shared_ptr<Stage> st = FindStage(r.pipeline_id());
    if (!st)
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no stage for pipeline '" + r.pipeline_id() + "' (LoadStage first)");
    uint64_t n = 0;
    do {
      std::unique_lock<std::mutex> lock(st->mu);
      st->cv.wait(lock, [&] { return st->stopping || st->in.size() < kMaxQueuedSteps; });
      if (st->stopping) break;
      st->in.push_back(std::move(r));
      ++n;
      lock.unlock();
      st->cv.notify_all();
    } while (reader->Read(&r));
    summary->set_steps(n);
    // The upstream ended (the head is done, or gone): finish the queued steps, then close the
    // downstream, so the whole pipeline winds down.
    StopStage(st);
    return grpc::Status::OK;
  }

  grpc::Status Results(grpc::ServerContext* ctx, const v1::ResultsRequest* req,
                       grpc::ServerWriter<v1::StepResult>* writer) override {
    if (!Check(ctx, "Results")) return Unauthenticated();
    std::shared_ptr<Stage> st = FindStage(req->pipeline_id());
    if (!st || !st->output)
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no last stage for pipeline '" + req->pipeline_id() + "'");
    writer->SendInitialMetadata();  // the head waits for this before sending steps
    for (;;) {
      std::deque<v1::StepResult> out;
      bool done = false;
      {
        std::unique_lock<std::mutex> lock(st->mu);
        st->cv.wait_for(lock, std::chrono::milliseconds(200),
                        [&] { return st->stopped || !st->results.empty(); });
        out.swap(st->results);
        done = st->stopped && out.empty();
      }
      for (v1::StepResult& res : out)
        if (!writer->Write(res)) return grpc::Status::OK;  // the head went away
      if (done || ctx->IsCancelled()) return grpc::Status::OK;
    }
  }

  grpc::Status Unload(grpc::ServerContext* ctx, const v1::UnloadRequest* req,
                      v1::UnloadReply*) override {
    if (!Check(ctx, "Unload")) return Unauthenticated();
    if (auto st = FindStage(req->pipeline_id())) StopStage(st);
    return grpc::Status::OK;
  }

  // --- compute ---

  void RunStage(Stage& st) {
    std::vector<v1::StepRequest> batch;
    for (;;) {
      batch.clear();
      {
        std::unique_lock<std::mutex> lock(st.mu);
        st.cv.wait(lock, [&] { return st.stopping || !st.in.empty(); });
        if (st.in.empty()) break;
        // Steps of distinct sequences waiting together, up to max_batch rows, run as one batch.
        int64_t rows = 0;
        std::set<uint64_t> seen;
        while (!st.in.empty()) {
          v1::StepRequest& r = st.in.front();
          const int64_t n = r.tokens_size();
          if (!batch.empty() && (rows + n > st.max_batch || seen.count(r.seq_id()))) break;
          rows += n;
          seen.insert(r.seq_id());
          batch.push_back(std::move(r));
          st.in.pop_front();
        }
      }
      st.cv.notify_all();  // room in the queue
      ProcessBatch(st, batch);
    }
  }

  // Checks a step and puts its input rows (embedded tokens or decoded activations) at x.
  Status Prepare(Stage& st, const v1::StepRequest& r, float* x, SeqState** seq_out) {
    const HParams& hp = st.model->hparams();
    const int64_t n = r.tokens_size();
    if (n < 1) return InvalidArgument("a step without tokens");
    if (n > st.max_batch)
      return InvalidArgument(std::to_string(n) + " tokens in one step; this stage takes at most " +
                             std::to_string(st.max_batch));
    auto it = st.seqs.find(r.seq_id());
    if (it == st.seqs.end()) {
      if (static_cast<int64_t>(st.seqs.size()) >= st.max_seqs)
        return ResourceExhausted("more than " + std::to_string(st.max_seqs) +
                                 " sequences in flight");
      it = st.seqs.emplace(r.seq_id(), SeqState{}).first;
    }
    SeqState& seq = it->second;
    if (r.pos() == 0) {
      seq.n_past = 0;
      seq.sampler.reset();
    }
    if (r.pos() != seq.n_past)
      return InvalidArgument("step at position " + std::to_string(r.pos()) +
                             " but the sequence is at " + std::to_string(seq.n_past));
    if (r.pos() + n > st.n_ctx)
      return OutOfRange(std::to_string(r.pos() + n) + " tokens do not fit the context of " +
                        std::to_string(st.n_ctx));
    for (int32_t t : r.tokens())
      if (t < 0 || t >= hp.n_vocab)
        return InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary");
    if (st.embed) {
      st.fwd->Embed(r.tokens().data(), n, x);
    } else {
      auto f = FromProto(r.act());
      if (!f) return InvalidArgument("unknown activation format");
      SL_RETURN_IF_ERROR(DecodeActivations(*f, r.activations(), n, hp.dim, x));
    }
    if (!seq.cache) seq.cache = std::make_unique<KvCache>(hp, st.n_ctx, st.first, st.last);
    *seq_out = &seq;
    return Status::Ok();
  }

  void ProcessBatch(Stage& st, std::vector<v1::StepRequest>& batch) {
    const HParams& hp = st.model->hparams();
    std::vector<suanli::Forward::Slice> slices;
    std::vector<SeqState*> seqs(batch.size(), nullptr);
    std::vector<std::string> errors(batch.size());
    int64_t row = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const v1::StepRequest& r = batch[i];
      if (!r.error().empty()) {
        errors[i] = r.error();
        continue;
      }
      if (r.tokens_size() == 0 && r.end_sequence()) continue;  // only frees the sequence
      Status s = Prepare(st, r, st.x.data() + row * hp.dim, &seqs[i]);
      if (!s.ok()) {
        errors[i] = address + " (" + st.label + "): " + s.message();
        seqs[i] = nullptr;
        continue;
      }
      slices.push_back({seqs[i]->cache.get(), r.pos(), r.tokens_size()});
      row += r.tokens_size();
    }
    {
      std::lock_guard<std::mutex> lock(compute_mu);
      const double t0 = NowSeconds();
      if (!slices.empty()) {
        st.fwd->RunLayersBatch(st.x.data(), slices, st.first, st.last);
        st.n_steps += slices.size();
        st.n_rows += static_cast<uint64_t>(row);
        ++st.n_batches;
      }
      // Last stage: the last-token logits of every step that needs them, in one product, so
      // the output matrix is read once per batch (not once per sequence).
      std::vector<float*> last_logits(batch.size(), nullptr);
      if (st.output) {
        int64_t m = 0;
        row = 0;
        for (size_t i = 0; i < batch.size(); ++i) {
          if (!seqs[i]) continue;
          const int64_t n = batch[i].tokens_size();
          const v1::Want want = batch[i].want();
          if (want == v1::WANT_SAMPLE || want == v1::WANT_LAST_LOGITS) {
            std::copy_n(st.x.data() + (row + n - 1) * hp.dim, hp.dim,
                        st.last_rows.data() + m * hp.dim);
            ++m;
          }
          row += n;
        }
        if (m > 0) {
          st.logits.resize(static_cast<size_t>(m * hp.n_vocab));
          st.fwd->Logits(st.last_rows.data(), m, m, st.logits.data());
        }
        m = 0;
        for (size_t i = 0; i < batch.size(); ++i)
          if (seqs[i] &&
              (batch[i].want() == v1::WANT_SAMPLE || batch[i].want() == v1::WANT_LAST_LOGITS))
            last_logits[i] = st.logits.data() + (m++) * hp.n_vocab;
      }
      row = 0;
      for (size_t i = 0; i < batch.size(); ++i) {
        v1::StepRequest& r = batch[i];
        float* x = st.x.data() + row * hp.dim;
        const int64_t n = r.tokens_size();
        if (seqs[i]) {
          seqs[i]->n_past = r.pos() + n;
          row += n;
        }
        if (st.output)
          Answer(st, r, seqs[i], x, last_logits[i], errors[i]);
        else
          PassOn(st, r, seqs[i] ? x : nullptr, errors[i]);
        if (r.end_sequence()) st.seqs.erase(r.seq_id());
      }
      const double took = NowSeconds() - t0;
      st.compute_seconds += took;
      if (opts.emulate_slowdown > 1)  // an emulated slower device (worker.h)
        std::this_thread::sleep_for(
            std::chrono::duration<double>((opts.emulate_slowdown - 1) * took));
    }
  }

  // Last stage: logits or a sampled token for the head.
  // last_logits: the step's last-token logits row [n_vocab], computed for the whole batch.
  void Answer(Stage& st, const v1::StepRequest& r, SeqState* seq, const float* x,
              float* last_logits, const std::string& error) {
    v1::StepResult res;
    res.set_seq_id(r.seq_id());
    res.set_step_id(r.step_id());
    const int64_t n = r.tokens_size(), n_vocab = st.model->hparams().n_vocab;
    if (!error.empty()) {
      res.set_error(error);
    } else if (seq) {
      switch (r.want()) {
        case v1::WANT_LAST_LOGITS:
          res.mutable_logits()->Add(last_logits, last_logits + n_vocab);
          break;
        case v1::WANT_ALL_LOGITS:
          res.mutable_logits()->Resize(static_cast<int>(n * n_vocab), 0.0f);
          st.fwd->Logits(x, n, n, res.mutable_logits()->mutable_data());
          break;
        case v1::WANT_SAMPLE: {
          if (!seq->sampler) seq->sampler = std::make_unique<Sampler>(FromProto(r.sampler()));
          for (int32_t t : r.tokens()) seq->sampler->Accept(t);
          // The sampler may modify its row (penalties): it is this step's own row.
          res.set_token(seq->sampler->Sample(last_logits, n_vocab));
          break;
        }
        default:
          break;
      }
    } else if (!r.end_sequence() || n > 0) {
      res.set_error(address + " (" + st.label + "): step was not run");
    }
    if (r.tokens_size() == 0 && r.end_sequence() && error.empty()) return;  // nothing to answer
    {
      std::lock_guard<std::mutex> lock(st.mu);
      st.results.push_back(std::move(res));
    }
    st.cv.notify_all();
  }

  // Inner stage: activations (or the error) to the next stage.
  void PassOn(Stage& st, v1::StepRequest& r, const float* x, const std::string& error) {
    if (st.down_failed) return;
    if (!st.down) {
      auto ch = MakeChannel(st.next, opts.security);
      if (!ch.ok()) {
        Log("pipeline " + st.id + ": " + ch.status().message());
        st.down_failed = true;
        return;
      }
      st.channel = *ch;
      st.stub = v1::Worker::NewStub(st.channel);
      st.down_ctx = std::make_unique<grpc::ClientContext>();
      PrepareContext(st.down_ctx.get(), opts.security, 0);
      st.down = st.stub->Forward(st.down_ctx.get(), &st.down_summary);
      r.set_pipeline_id(st.id);
    } else {
      r.clear_pipeline_id();
    }
    r.clear_activations();
    if (!error.empty()) {
      r.set_error(error);
    } else if (x) {
      r.set_act(ToProto(st.act));
      EncodeActivations(st.act, x, r.tokens_size(), st.model->hparams().dim,
                        r.mutable_activations());
    }
    if (!st.down->Write(r)) {
      Log("pipeline " + st.id + ": the next stage " + st.next + " stopped accepting steps");
      st.down_failed = true;
    }
  }
};

WorkerServer::WorkerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WorkerServer::~WorkerServer() { Shutdown(); }

const std::string& WorkerServer::address() const { return impl_->address; }

void WorkerServer::Wait() { impl_->server->Wait(); }

void WorkerServer::Shutdown() {
  if (!impl_ || !impl_->server) return;
  std::vector<std::shared_ptr<Stage>> all;
  {
    std::lock_guard<std::mutex> lock(impl_->stages_mu);
    for (auto& [id, st] : impl_->stages) all.push_back(st);
  }
  for (auto& st : all) impl_->StopStage(st);
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->server.reset();
}

StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(const WorkerOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->opts = o;
  if (o.security.token.empty()) return InvalidArgument("a pool token is required");
  SL_RETURN_IF_ERROR(o.security.Validate());
  impl->call_key = CallKey(o.security.token);
  ProfileOptions po = o.profile;
  po.threads = o.threads;
  SL_ASSIGN_OR_RETURN(impl->profile, LoadOrMeasureProfile(po, o.cache_dir, o.profile_max_age_s));
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
  if (o.emulate_memory_bytes > 0) {
    impl->profile.available_ram_bytes =
        std::min(impl->profile.available_ram_bytes, o.emulate_memory_bytes);
    impl->profile.total_ram_bytes = std::min(impl->profile.total_ram_bytes, o.emulate_memory_bytes);
    Log("emulating " + HumanBytes(static_cast<double>(o.emulate_memory_bytes)) + " of memory");
  }
  impl->pool = std::make_unique<ThreadPool>(impl->profile.threads);
  impl->store = std::make_unique<WeightStore>(o.cache_dir, impl->profile.models);

  SL_ASSIGN_OR_RETURN(auto creds, MakeServerCredentials(o.security));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.listen, creds, &port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.RegisterService(impl.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || port == 0)
    return InvalidArgument("cannot listen on " + o.listen +
                           " (address in use, or not an address of this host)");
  const size_t colon = o.listen.rfind(':');
  impl->address = o.listen.substr(0, colon) + ":" + std::to_string(port);
  DeviceProfile shown = impl->profile;
  if (!o.name.empty())
    shown.hostname = o.name;
  else
    shown.hostname = impl->address;
  impl->profile_json = ProfileToJson(shown);
  return std::unique_ptr<WorkerServer>(new WorkerServer(std::move(impl)));
}

}  // namespace suanli::cluster
