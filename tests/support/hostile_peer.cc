// hostile_peer: a pool member or a stranger that misbehaves, for tests/integration/attack_test.sh.
//
//   hostile_peer fake-worker LISTEN SECONDS CAPTURE   answers like a worker without the token and
//                                                     writes every byte a head sent it to CAPTURE
//   hostile_peer relay LISTEN WORKER SECONDS          relays a head's handshake and calls to a real
//                                                     worker (the signing oracle) and injects its
//                                                     own calls into the head's session: a captured
//                                                     call replayed, and a forged one
//   hostile_peer poison WORKER MODEL SECONDS          an insider: pushes zeroed and all-ones
//   tensors
//                                                     under the real model's hash, then holds a
//                                                     stage on them for SECONDS
//   hostile_peer thief WORKER MODEL PIPELINE_ID       an insider: calls on another head's pipeline
//                                                     (Results, StageHealth, Unload, Forward,
//                                                     LoadStage) knowing only its id
//   hostile_peer leak WORKER MODEL N                  an insider: N stages loaded and never fed
//
// Insiders take the pool token from SUANLI_TOKEN. Each attack prints one line, "refused: ..." or
// "ACCEPTED: ..."; the exit status is 1 when any was accepted (an attack that worked), 2 on a
// usage or set-up error, 0 otherwise. leak prints how many loads were accepted and exits 0: its
// harm is measured on the worker (attack_test.sh).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/auth.h"
#include "cluster/device_profile.h"
#include "cluster/grpc_transport.h"
#include "cluster/session.h"
#include "cluster/stage_weights.h"
#include "gguf/gguf.h"
#include "suanli/cluster/v1/worker.pb.h"

namespace sc = suanli::cluster;
namespace v1 = suanli::cluster::v1;
using suanli::Status;
using suanli::StatusCode;

namespace {

int accepted = 0;  // attacks that worked

void Report(bool refused, const std::string& what, const Status& s) {
  if (refused) {
    std::printf("refused: %s (%s)\n", what.c_str(), s.ok() ? "ok" : s.message().c_str());
  } else {
    std::printf("ACCEPTED: %s\n", what.c_str());
    ++accepted;
  }
  std::fflush(stdout);
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "hostile_peer: %s\n", why.c_str());
  std::exit(2);
}

double Seconds(const char* s) {
  const double v = std::atof(s);
  if (!(v > 0 && v <= 600)) Die("SECONDS must be in (0, 600]");
  return v;
}

std::string Token() {
  const char* t = std::getenv("SUANLI_TOKEN");
  if (!t || !*t) Die("set SUANLI_TOKEN to the pool token");
  return t;
}

sc::SecurityOptions Plain(const std::string& token = "") {
  sc::SecurityOptions sec;
  sec.token = token;
  return sec;
}

std::shared_ptr<sc::Channel> DialOrDie(const std::string& address) {
  auto ch = sc::GrpcTransport(Plain()).Dial(address);
  if (!ch.ok()) Die("dialling " + address + ": " + ch.status().message());
  return *ch;
}

std::shared_ptr<sc::ClientSession> SessionOrDie(sc::Channel& ch) {
  auto s = sc::ClientSession::Open(ch, Token(), sc::kRoleHead, 10);
  if (!s.ok()) Die("handshake: " + s.status().message());
  return *s;
}

std::string RandomBytes(size_t n) {
  std::string s;
  while (s.size() < n) s += sc::RandomNonce();
  s.resize(n);
  return s;
}

// --- the model an insider names in LoadStage ---

struct Model {
  std::unique_ptr<suanli::GgufFile> file;
  std::string sha256;
  sc::StageDigests digests;
  int64_t layers = 0;
};

Model OpenModel(const std::string& path) {
  Model m;
  auto f = suanli::GgufFile::Open(path);
  if (!f.ok()) Die(f.status().message());
  m.file = std::move(*f);
  auto sha = suanli::Sha256File(path);
  if (!sha.ok()) Die(sha.status().message());
  m.sha256 = *sha;
  m.digests = sc::FileDigests(*m.file);
  for (const auto& t : m.file->tensors())
    if (t.name.rfind("blk.", 0) == 0)
      m.layers = std::max<int64_t>(m.layers, std::atoll(std::string(t.name.substr(4)).c_str()) + 1);
  if (m.layers == 0) Die(path + ": no layers");
  return m;
}

// A whole-model stage of pipeline `id`, expecting `digests`.
v1::LoadStageRequest Stage(const Model& m, const sc::StageDigests& digests, const std::string& id,
                           const std::string& capability) {
  v1::LoadStageRequest r;
  r.set_pipeline_id(id);
  r.set_capability(capability);
  r.set_model_sha256(m.sha256);
  r.set_model_size(m.file->file_size());
  r.set_header_sha256(digests.header);
  for (const auto& [name, d] : digests.tensors) {
    v1::TensorDigest* t = r.add_tensors();
    t->set_name(name);
    t->set_sha256(d);
  }
  r.set_first_layer(0);
  r.set_last_layer(m.layers);
  r.set_with_embedding(true);
  r.set_with_output(true);
  r.set_n_ctx(256);
  r.set_max_seqs(1);
  r.set_max_batch(16);
  r.set_kv_blocks(16);
  return r;
}

Status Load(sc::Channel& ch, sc::ClientSession& session, const v1::LoadStageRequest& r,
            v1::LoadStageReply* reply) {
  return ch.Call("LoadStage", session.Sign("LoadStage", 30), r, reply);
}

// --- fake-worker ---

int FakeWorker(const std::string& listen, double seconds, const std::string& capture) {
  std::mutex mu;
  std::string seen;  // every header and body byte, as received
  std::atomic<int> calls{0};
  auto record = [&](sc::ServerCall& call) {
    std::lock_guard<std::mutex> lock(mu);
    seen += call.method() + "\n";
    for (const char* k : {sc::kHandshakeHeader, sc::kSessionKey, sc::kCounterKey, sc::kMacKey})
      seen += std::string(k) + ": " + call.Header(k) + "\n";
    ++calls;
  };
  std::vector<sc::RpcMethod> methods;
  sc::RpcMethod hello;
  hello.name = "Hello";
  hello.needs_session = false;
  hello.handler = [&](sc::ServerCall& call) -> Status {
    record(call);
    v1::HelloReply reply;  // a worker's answer, with a proof it cannot compute
    reply.set_protocol_version(sc::kProtocolVersion);
    reply.set_worker_nonce(sc::RandomNonce());
    reply.set_proof(RandomBytes(32));
    if (!call.Write(reply)) return suanli::Cancelled("gone");
    return Status::Ok();
  };
  methods.push_back(hello);
  for (const char* name : {"Authenticate", "Ping", "ProbePeer", "LoadStage", "PushWeights",
                           "Forward", "Results", "Unload", "StageHealth"}) {
    sc::RpcMethod m;
    m.name = name;
    m.needs_session = false;
    m.max_message_bytes = 1 << 20;
    m.handler = [&](sc::ServerCall& call) -> Status {
      record(call);
      std::string body;
      v1::WeightChunk any;  // any message: its bytes are what matters
      if (call.Read(&any)) body = any.SerializeAsString();
      std::lock_guard<std::mutex> lock(mu);
      seen += "body: " + body + "\n";
      return suanli::Unauthenticated("not a pool member");
    };
    methods.push_back(m);
  }
  auto server = sc::GrpcTransport(Plain()).Serve(
      listen, methods, [](const sc::ServerCall&) { return true; }, sc::RpcLimits());
  if (!server.ok()) Die(server.status().message());
  std::printf("listening on 127.0.0.1:%d\n", (*server)->port());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  (*server)->Shutdown();
  std::ofstream(capture, std::ios::binary) << seen;
  std::printf("captured %d call(s), %zu bytes\n", calls.load(), seen.size());
  return 0;
}

// --- relay ---

struct Relay {
  std::shared_ptr<sc::Channel> up;
  std::mutex mu;
  bool injected = false;
  std::atomic<int> session_calls{0};

  static sc::CallOptions Forwarded(const sc::ServerCall& call, double seconds) {
    sc::CallOptions o;
    o.seconds = seconds;
    for (const char* k : {sc::kSessionKey, sc::kCounterKey, sc::kMacKey}) {
      std::string v = call.Header(k);
      if (!v.empty()) o.headers.emplace_back(k, v);
    }
    return o;
  }

  // The attacks, once, with the first session call the head made through us (already relayed).
  template <typename Req, typename Rep>
  void Inject(const sc::ServerCall& call, const Req& req) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (injected) return;
      injected = true;
    }
    const sc::CallOptions o = Forwarded(call, 10);
    Rep rep;
    Status s = up->Call(call.method(), o, req, &rep);  // the same headers and body again
    Report(!s.ok(), "replayed the head's " + call.method() + " call", s);
    // A call of our own in its session: the captured MAC under the next counters.
    const std::string sid = call.Header(sc::kSessionKey);
    const uint64_t n = std::strtoull(call.Header(sc::kCounterKey).c_str(), nullptr, 10);
    for (uint64_t k = 1; k <= 3; ++k) {
      sc::CallOptions forged;
      forged.seconds = 10;
      forged.headers = {{sc::kSessionKey, sid},
                        {sc::kCounterKey, std::to_string(n + 100 * k)},
                        {sc::kMacKey, call.Header(sc::kMacKey)}};
      v1::PingRequest ping;
      v1::PingReply pong;
      s = up->Call("Ping", forged, ping, &pong);
      Report(!s.ok(),
             "a forged Ping in the head's session (counter " + std::to_string(n + 100 * k) + ")",
             s);
    }
  }

  template <typename Req, typename Rep>
  sc::RpcMethod Unary(const std::string& name) {
    sc::RpcMethod m;
    m.name = name;
    m.needs_session = false;
    m.max_message_bytes = sc::kMaxMessageBytes;
    m.handler = [this](sc::ServerCall& call) -> Status {
      Req req;
      if (!call.Read(&req)) return suanli::InvalidArgument("no request");
      Rep rep;
      SL_RETURN_IF_ERROR(up->Call(call.method(), Forwarded(call, 60), req, &rep));
      if (!call.Write(rep)) return suanli::Cancelled("gone");
      ++session_calls;
      Inject<Req, Rep>(call, req);
      return Status::Ok();
    };
    return m;
  }

  template <typename Req>
  sc::RpcMethod Handshake(const std::string& name) {
    sc::RpcMethod m;
    m.name = name;
    m.needs_session = false;
    m.handler = [this](sc::ServerCall& call) -> Status {
      Req req;
      if (!req.ParseFromString(call.Header(sc::kHandshakeHeader)))
        return suanli::InvalidArgument("malformed");
      sc::CallOptions o;
      o.seconds = 10;
      o.headers.emplace_back(sc::kHandshakeHeader, req.SerializeAsString());
      if constexpr (std::is_same_v<Req, v1::HelloRequest>) {
        v1::HelloReply rep;
        SL_RETURN_IF_ERROR(up->Call(call.method(), o, Req(), &rep));
        if (!call.Write(rep)) return suanli::Cancelled("gone");
      } else {
        v1::AuthenticateReply rep;
        SL_RETURN_IF_ERROR(up->Call(call.method(), o, Req(), &rep));
        if (!call.Write(rep)) return suanli::Cancelled("gone");
      }
      return Status::Ok();
    };
    return m;
  }

  // Forward and PushWeights: the client streams, the worker answers once.
  template <typename Msg, typename Rep>
  sc::RpcMethod ClientStreaming(const std::string& name) {
    sc::RpcMethod m;
    m.name = name;
    m.needs_session = false;
    m.max_message_bytes = sc::kMaxMessageBytes;
    m.handler = [this](sc::ServerCall& call) -> Status {
      auto s = up->Open(call.method(), Forwarded(call, 0));
      std::thread headers([&] {
        if (s->WaitForHeaders()) call.SendHeaders();
      });
      Msg msg;
      while (call.Read(&msg))
        if (!s->Write(msg)) break;
      s->WritesDone();
      Rep rep;
      const bool got = s->Read(&rep);
      Status st = s->Finish();
      headers.join();
      if (st.ok() && got && !call.Write(rep)) return suanli::Cancelled("gone");
      return st;
    };
    return m;
  }

  // Results: one request, then the worker streams.
  sc::RpcMethod Results() {
    sc::RpcMethod m;
    m.name = "Results";
    m.needs_session = false;
    m.handler = [this](sc::ServerCall& call) -> Status {
      v1::ResultsRequest req;
      if (!call.Read(&req)) return suanli::InvalidArgument("no request");
      auto s = up->Open(call.method(), Forwarded(call, 0));
      std::atomic<bool> done{false};
      std::thread watch([&] {  // the head went away: so do we
        while (!done && !call.Cancelled())
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!done) s->Cancel();
      });
      s->Write(req);
      s->WritesDone();
      if (s->WaitForHeaders()) call.SendHeaders();
      v1::BatchResult r;
      while (s->Read(&r))
        if (!call.Write(r)) {
          s->Cancel();
          break;
        }
      Status st = s->Finish();
      done = true;
      watch.join();
      return st;
    };
    return m;
  }
};

int RelayMode(const std::string& listen, const std::string& worker, double seconds) {
  Relay relay;
  relay.up = DialOrDie(worker);
  std::vector<sc::RpcMethod> methods = {
      relay.Handshake<v1::HelloRequest>("Hello"),
      relay.Handshake<v1::AuthenticateRequest>("Authenticate"),
      relay.Unary<v1::PingRequest, v1::PingReply>("Ping"),
      relay.Unary<v1::ProbePeerRequest, v1::ProbePeerReply>("ProbePeer"),
      relay.Unary<v1::LoadStageRequest, v1::LoadStageReply>("LoadStage"),
      relay.Unary<v1::UnloadRequest, v1::UnloadReply>("Unload"),
      relay.Unary<v1::StageHealthRequest, v1::StageHealthReply>("StageHealth"),
      relay.ClientStreaming<v1::WeightChunk, v1::PushWeightsReply>("PushWeights"),
      relay.ClientStreaming<v1::Batch, v1::ForwardSummary>("Forward"),
      relay.Results(),
  };
  auto server = sc::GrpcTransport(Plain()).Serve(
      listen, methods, [](const sc::ServerCall&) { return true; }, sc::RpcLimits());
  if (!server.ok()) Die(server.status().message());
  std::printf("listening on 127.0.0.1:%d\n", (*server)->port());
  std::fflush(stdout);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end && relay.session_calls == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // Wait out the head's run (it ends by itself; the test stops us with SIGTERM otherwise).
  std::this_thread::sleep_for(std::chrono::duration<double>(std::max(
      0.0, std::chrono::duration<double>(end - std::chrono::steady_clock::now()).count())));
  (*server)->Shutdown();
  if (!relay.injected) Die("the head made no call in a session through the relay");
  return accepted ? 1 : 0;
}

// --- poison ---

// A copy of the model with the first layer's tensors overwritten: the first with zeros, the
// others with 0xff bytes (NaN in f16/f32, NaN scales in quantized blocks).
std::string PoisonedCopy(const std::string& path, const Model& m, std::vector<std::string>* hit) {
  const std::string out =
      (std::filesystem::temp_directory_path() / ("hostile-" + std::to_string(getpid()) + ".gguf"))
          .string();
  std::filesystem::copy_file(path, out, std::filesystem::copy_options::overwrite_existing);
  std::fstream f(out, std::ios::in | std::ios::out | std::ios::binary);
  for (const auto& t : m.file->tensors()) {
    if (t.name.rfind("blk.0.", 0) != 0) continue;
    f.seekp(static_cast<std::streamoff>(t.data - m.file->file_data()));
    const std::string bytes(t.size_bytes, hit->empty() ? '\0' : '\xff');
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    hit->emplace_back(t.name);
  }
  if (!f) Die("writing " + out);
  return out;
}

// What a LoadStage reply says is missing (every tensor of the stage when the header is).
std::vector<std::string> Missing(const Model& m, const v1::LoadStageReply& reply) {
  if (reply.header_missing()) return sc::StageTensorNames(*m.file, 0, m.layers, true, true);
  std::vector<std::string> v(reply.missing_tensors().begin(), reply.missing_tensors().end());
  std::sort(v.begin(), v.end());
  return v;
}

int Poison(const std::string& worker, const std::string& path, double seconds) {
  const Model m = OpenModel(path);
  std::vector<std::string> hit;
  const std::string bad_path = PoisonedCopy(path, m, &hit);
  Model bad = OpenModel(bad_path);
  std::filesystem::remove(bad_path);  // mapped: the bytes stay until we exit
  std::sort(hit.begin(), hit.end());
  auto ch = DialOrDie(worker);
  auto session = SessionOrDie(*ch);
  // The worker lacks the model: it lists what to push.
  v1::LoadStageReply reply;
  Status s = Load(*ch, *session, Stage(m, m.digests, "poison-1", RandomBytes(32)), &reply);
  const std::vector<std::string> want = Missing(m, reply);
  if (!s.ok() || want.empty())
    Die("expected the worker to lack the model (start it with an empty cache): " +
        (s.ok() ? std::string("it loaded") : s.message()));
  // The tensors it lacks, the poisoned ones with hashes of their poisoned bytes, under the real
  // model's content hash: what it caches it must never hand to a head expecting the real bytes.
  s = sc::PushWeights(*ch, *session, *bad.file, m.sha256, reply.header_missing(), want, 1e9,
                      "worker");
  std::printf("pushed %zu tensors, %zu of them poisoned: %s\n", want.size(), hit.size(),
              s.ok() ? "taken" : s.message().c_str());
  // A head expecting the real bytes: the poisoned tensors must be missing.
  v1::LoadStageReply again;
  s = Load(*ch, *session, Stage(m, m.digests, "poison-2", RandomBytes(32)), &again);
  const std::vector<std::string> still = s.ok() ? Missing(m, again) : std::vector<std::string>{};
  Report(!s.ok() || std::includes(still.begin(), still.end(), hit.begin(), hit.end()),
         "a stage expecting the real digests, from the poisoned copy (" +
             std::to_string(still.size()) + " tensors missing, " + std::to_string(hit.size()) +
             " poisoned)",
         s);
  // Our own pipeline over the poisoned bytes (we named their digests): it may load, and it is
  // held while an honest head runs.
  s = Load(*ch, *session, Stage(m, bad.digests, "poison-3", RandomBytes(32)), &again);
  std::printf("holding a stage on the poisoned bytes: %s\n", !s.ok() ? s.message().c_str()
                                                             : Missing(m, again).empty()
                                                                 ? "loaded"
                                                                 : "not loaded (tensors missing)");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return accepted ? 1 : 0;
}

// --- thief ---

int Thief(const std::string& worker, const std::string& path, const std::string& id) {
  const Model m = OpenModel(path);
  auto ch = DialOrDie(worker);
  auto session = SessionOrDie(*ch);
  const std::string cap = RandomBytes(32);
  {
    v1::ResultsRequest req;
    req.set_pipeline_id(id);
    req.set_capability(cap);
    auto s = ch->Open("Results", session->Sign("Results", 3));
    s->Write(req);
    s->WritesDone();
    v1::BatchResult r;
    const bool read = s->Read(&r);
    Status st = s->Finish();
    // Refused means an error right away: a stream still open at the deadline was let in.
    Report(!read && !st.ok() && st.code() != StatusCode::kDeadlineExceeded,
           "Results of pipeline " + id, st);
  }
  {
    v1::StageHealthRequest req;
    req.set_pipeline_id(id);
    req.set_capability(cap);
    v1::StageHealthReply rep;
    Status st = ch->Call("StageHealth", session->Sign("StageHealth", 5), req, &rep);
    // Answered as for a pipeline that is not there: the thief learns nothing of it.
    Report(!st.ok() || rep.state() == v1::StageHealthReply::NO_STAGE,
           "StageHealth of pipeline " + id + " (answered: no such stage)", st);
  }
  {
    v1::Batch b;
    b.set_pipeline_id(id);
    b.set_capability(cap);
    b.set_batch_id(1u << 30);
    v1::SeqStep* step = b.add_steps();
    step->set_seq_id(1);
    step->add_tokens(1);
    step->add_blocks(0);
    auto s = ch->Open("Forward", session->Sign("Forward", 3));
    s->Write(b);
    s->WritesDone();
    v1::ForwardSummary sum;
    const bool read = s->Read(&sum);
    Status st = s->Finish();
    Report(!st.ok() && (!read || sum.batches() == 0) && st.code() != StatusCode::kDeadlineExceeded,
           "Forward into pipeline " + id, st);
  }
  {
    v1::LoadStageReply rep;
    Status st = Load(*ch, *session, Stage(m, m.digests, id, cap), &rep);
    Report(!st.ok(), "LoadStage replacing pipeline " + id, st);
  }
  {
    v1::UnloadRequest req;
    req.set_pipeline_id(id);
    req.set_capability(cap);
    v1::UnloadReply rep;
    // Idempotent, so it answers OK either way: whether the stage survived shows in its owner's
    // run (attack_test.sh checks that nothing was lost).
    Status st = ch->Call("Unload", session->Sign("Unload", 5), req, &rep);
    std::printf("sent: Unload of pipeline %s (%s)\n", id.c_str(),
                st.ok() ? "ok" : st.message().c_str());
  }
  return accepted ? 1 : 0;
}

// --- leak ---

int Leak(const std::string& worker, const std::string& path, int n) {
  const Model m = OpenModel(path);
  auto ch = DialOrDie(worker);
  auto session = SessionOrDie(*ch);
  int loaded = 0;
  uint64_t counted = 0;  // what the worker said the loaded stages need
  std::string last_error;
  for (int i = 0; i < n; ++i) {
    v1::LoadStageReply rep;
    Status s = Load(*ch, *session,
                    Stage(m, m.digests, "leak-" + std::to_string(i), RandomBytes(32)), &rep);
    if (s.ok() && Missing(m, rep).empty()) {
      ++loaded;
      counted += rep.memory_bytes();
    } else if (s.ok()) {
      Die("the worker lacks the model (run an honest head on it first)");
    } else
      last_error = s.message();
  }
  std::printf("%d of %d stages loaded, %llu MiB counted%s%s\n", loaded, n,
              static_cast<unsigned long long>(counted >> 20),
              last_error.empty() ? "" : "; last refusal: ", last_error.c_str());
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: hostile_peer fake-worker LISTEN SECONDS CAPTURE\n"
               "       hostile_peer relay LISTEN WORKER SECONDS\n"
               "       hostile_peer poison WORKER MODEL SECONDS\n"
               "       hostile_peer thief WORKER MODEL PIPELINE_ID\n"
               "       hostile_peer leak WORKER MODEL N\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return Usage();
  const std::string mode = argv[1];
  if (mode == "fake-worker") return FakeWorker(argv[2], Seconds(argv[3]), argv[4]);
  if (mode == "relay") return RelayMode(argv[2], argv[3], Seconds(argv[4]));
  if (mode == "poison") return Poison(argv[2], argv[3], Seconds(argv[4]));
  if (mode == "thief") return Thief(argv[2], argv[3], argv[4]);
  if (mode == "leak") {
    const int n = std::atoi(argv[4]);
    if (n < 1 || n > 1000) Die("N must be 1..1000");
    return Leak(argv[2], argv[3], n);
  }
  return Usage();
}
