// A worker in this process, spoken to over loopback gRPC: the token is required, LoadStage checks
// its fields, and hostile steps get an error result naming what is wrong (never a crash).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "cluster/auth.h"
#include "cluster/grpc_transport.h"
#include "cluster/session.h"
#include "cluster/stage_weights.h"
#include "cluster/worker.h"
#include "suanli/cluster/v1/worker.grpc.pb.h"
#include "tiny_model.h"

namespace suanli::cluster {
namespace {

namespace fs = std::filesystem;

// A session's signed headers and deadline on a raw gRPC call.
void Apply(grpc::ClientContext* ctx, const CallOptions& o) {
  for (const auto& [k, v] : o.headers) ctx->AddMetadata(k, v);
  if (o.seconds > 0) SetDeadline(ctx, o.seconds);
}
constexpr const char* kToken = "worker-test-token";

class WorkerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        (fs::path(::testing::TempDir()) / ("suanli-worker-" + std::to_string(getpid()))).string());
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ + "/models");
    SynthTinyModel(*dir_ + "/models/m.gguf");
    sha_ = new std::string(*Sha256File(*dir_ + "/models/m.gguf"));
    auto file = GgufFile::Open(*dir_ + "/models/m.gguf");
    ASSERT_TRUE(file.ok());
    digests_ = new StageDigests(FileDigests(**file));
    WorkerOptions o;
    o.threads = 1;
    o.model_dir = *dir_ + "/models";
    o.cache_dir = *dir_;
    o.security.token = kToken;
    o.profile.seconds_per_kernel = 0.005;
    o.profile.matvec_bytes = 4 << 20;
    o.profile.bandwidth_bytes = 4 << 20;
    auto s = WorkerServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    server_ = s->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    fs::remove_all(*dir_);
  }
  void SetUp() override {
    sec_.token = kToken;
    stub_ = v1::Worker::NewStub(*MakeChannel(server_->address(), sec_));
    ch_ = Dial(server_->address());
    auto session = ClientSession::Open(*ch_, kToken, kRoleHead, 10);
    ASSERT_TRUE(session.ok()) << session.status().message();
    session_ = *session;
  }
  v1::LoadStageRequest Stage(const std::string& id) {
    v1::LoadStageRequest r;
    r.set_pipeline_id(id);
    r.set_capability(Cap(id));
    r.set_model_sha256(*sha_);
    r.set_header_sha256(digests_->header);
    for (const auto& [name, d] : digests_->tensors) {
      v1::TensorDigest* t = r.add_tensors();
      t->set_name(name);
      t->set_sha256(d);
    }
    r.set_model_size(fs::file_size(*dir_ + "/models/m.gguf"));
    r.set_first_layer(0);
    r.set_last_layer(4);
    r.set_with_embedding(true);
    r.set_with_output(true);
    r.set_n_ctx(64);
    r.set_max_seqs(2);
    r.set_max_batch(16);
    r.set_kv_blocks(8);
    return r;
  }
  std::shared_ptr<Channel> Dial(const std::string& address) {
    auto ch = GrpcTransport(sec_).Dial(address);
    EXPECT_TRUE(ch.ok());
    return *ch;
  }
  static std::string Cap(const std::string& id) { return "capability-of-" + id + "-0123456789"; }
  // LoadStage on another worker, through its own session.
  static grpc::Status LoadOn(v1::Worker::Stub& stub, ClientSession& session,
                             const v1::LoadStageRequest& r, v1::LoadStageReply* reply = nullptr) {
    grpc::ClientContext ctx;
    Apply(&ctx, session.Sign("LoadStage", 30));
    v1::LoadStageReply ignored;
    return stub.LoadStage(&ctx, r, reply ? reply : &ignored);
  }
  grpc::Status Load(const v1::LoadStageRequest& r, v1::LoadStageReply* reply) {
    grpc::ClientContext ctx;
    Apply(&ctx, session_->Sign("LoadStage", 30));
    return stub_->LoadStage(&ctx, r, reply);
  }

  static std::string* dir_;
  static std::string* sha_;
  static StageDigests* digests_;
  static WorkerServer* server_;
  SecurityOptions sec_;
  std::unique_ptr<v1::Worker::Stub> stub_;  // typed calls, as a stranger would forge them
  std::shared_ptr<Channel> ch_;             // the handshake, through the transport
  std::shared_ptr<ClientSession> session_;
};
std::string* WorkerTest::dir_ = nullptr;
std::string* WorkerTest::sha_ = nullptr;
StageDigests* WorkerTest::digests_ = nullptr;
WorkerServer* WorkerTest::server_ = nullptr;

// The handshake: a client without the token learns nothing it can use, and a worker without it
// is found out before the client sends anything but a nonce.
TEST_F(WorkerTest, HandshakeNeedsTheTokenOnBothSides) {
  // A client with another token: the worker's proof does not check out for it, and a proof it
  // makes up is refused.
  auto stub = v1::Worker::NewStub(*MakeChannel(server_->address(), sec_));
  auto ch = Dial(server_->address());
  EXPECT_EQ(ClientSession::Open(*ch, "some-other-token-123", kRoleHead, 10).status().code(),
            StatusCode::kUnauthenticated);
  v1::HelloRequest hello;
  hello.set_nonce(RandomNonce());
  hello.set_role("head");
  v1::HelloReply challenge;
  ASSERT_TRUE(CallHello(*ch, hello, &challenge, 10).ok());
  EXPECT_EQ(challenge.protocol_version(), kProtocolVersion);
  v1::AuthenticateRequest forged;
  forged.set_client_nonce(hello.nonce());
  forged.set_worker_nonce(challenge.worker_nonce());
  forged.set_proof(HmacSha256("some-other-token-123", "anything"));
  v1::AuthenticateReply answer;
  EXPECT_EQ(CallAuthenticate(*ch, forged, &answer, 10).code(), StatusCode::kUnauthenticated);
  // The worker's proof is over the client's nonce too: it answers no other challenge (a fake
  // worker relaying it gets a proof for the nonce it relayed, not one it can reuse).
  v1::HelloReply again;
  ASSERT_TRUE(CallHello(*ch, hello, &again, 10).ok());
  EXPECT_NE(again.worker_nonce(), challenge.worker_nonce());
  EXPECT_NE(again.proof(), challenge.proof());
  // No session: every other call is refused, whatever it carries.
  grpc::ClientContext ctx;
  SetDeadline(&ctx, 10);
  ctx.AddMetadata("x-suanli-auth", "a-captured-key");
  v1::PingRequest ping;
  v1::PingReply pong;
  EXPECT_EQ(stub->Ping(&ctx, ping, &pong).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// A call's metadata is good once, for its own method: a captured call header opens nothing.
// Before, the call key was the same on every call, so one capture worked forever.
TEST_F(WorkerTest, CapturedCallsCannotBeReplayed) {
  const auto signed_ping = session_->Sign("Ping");
  auto call = [&](const CallOptions& md) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, 10);
    for (const auto& [k, v] : md.headers) ctx.AddMetadata(k, v);
    v1::PingRequest ping;
    v1::PingReply pong;
    return stub_->Ping(&ctx, ping, &pong).error_code();
  };
  EXPECT_EQ(call(signed_ping), grpc::StatusCode::OK);
  EXPECT_EQ(call(signed_ping), grpc::StatusCode::UNAUTHENTICATED);  // the same counter again
  EXPECT_EQ(call(session_->Sign("Unload")), grpc::StatusCode::UNAUTHENTICATED);  // other method
  // A counter past 64 bits is refused, not a crash.
  auto huge = session_->Sign("Ping");
  for (auto& [k, v] : huge.headers)
    if (k == "x-suanli-call") v = "99999999999999999999";
  EXPECT_EQ(call(huge), grpc::StatusCode::UNAUTHENTICATED);
  // A handshake is good once too.
  v1::AuthenticateReply reply;
  auto second = ClientSession::Open(*ch_, kToken, kRoleHead, 10, &reply);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(reply.profile_json().empty());  // the profile comes only after authentication
}

// A peer session (a worker calling the next stage) may only Forward and Ping.
TEST_F(WorkerTest, PeerSessionsOnlyForward) {
  auto peer = ClientSession::Open(*ch_, kToken, kRolePeer, 10);
  ASSERT_TRUE(peer.ok());
  grpc::ClientContext ctx;
  Apply(&ctx, (*peer)->Sign("LoadStage", 10));
  v1::LoadStageReply reply;
  EXPECT_EQ(stub_->LoadStage(&ctx, Stage("p-peer"), &reply).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(WorkerTest, LoadStageChecksItsFields) {
  v1::LoadStageReply reply;
  auto r = Stage("p-bad");
  r.set_last_layer(9);
  EXPECT_EQ(Load(r, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  r = Stage("p-bad");
  r.set_first_layer(3);
  r.set_last_layer(2);
  EXPECT_EQ(Load(r, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  r = Stage("p-bad");
  r.set_n_ctx(0);
  EXPECT_EQ(Load(r, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  r = Stage("p-bad");
  r.set_kv_blocks(3);  // less than one sequence's 64 positions
  EXPECT_EQ(Load(r, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  r = Stage("p-bad");
  r.set_kv_blocks(int64_t{1} << 40);
  EXPECT_EQ(Load(r, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  r = Stage("p-bad");
  r.set_model_sha256("not-a-hash");
  EXPECT_FALSE(Load(r, &reply).ok());
  r = Stage("p-bad");
  r.set_next_address("127.0.0.1:1");  // a last stage with a next stage
  EXPECT_EQ(Load(r, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // An unknown model: the worker asks for the weights instead of failing.
  r = Stage("p-bad");
  r.set_model_sha256(std::string(64, 'a'));
  ASSERT_TRUE(Load(r, &reply).ok());
  EXPECT_TRUE(reply.header_missing());
}

TEST_F(WorkerTest, HostileStepsGetErrorsNotCrashes) {
  v1::LoadStageReply reply;
  ASSERT_TRUE(Load(Stage("p1"), &reply).ok());
  EXPECT_EQ(reply.source(), "model-dir");
  grpc::ClientContext rctx;
  Apply(&rctx, session_->Sign("Results", 0));
  v1::ResultsRequest rr;
  rr.set_pipeline_id("p1");
  rr.set_capability(Cap("p1"));
  auto results = stub_->Results(&rctx, rr);
  results->WaitForInitialMetadata();
  grpc::ClientContext fctx;
  Apply(&fctx, session_->Sign("Forward", 0));
  v1::ForwardSummary summary;
  auto forward = stub_->Forward(&fctx, &summary);

  struct Step {
    Step(uint64_t s, int64_t p, std::vector<int32_t> t, std::vector<int32_t> b = {},
         bool with_sampler = true)
        : seq(s), pos(p), tokens(std::move(t)), blocks(std::move(b)), sampler(with_sampler) {}
    uint64_t seq;
    int64_t pos;
    std::vector<int32_t> tokens;
    std::vector<int32_t> blocks;  // empty: KvBlocksFor(pos + n) blocks from 0
    bool sampler;
  };
  uint64_t next_id = 1;
  auto run = [&](std::vector<Step> steps) {
    v1::Batch b;
    if (next_id == 1) {
      b.set_pipeline_id("p1");
      b.set_capability(Cap("p1"));
    }
    b.set_batch_id(next_id++);
    for (const Step& st : steps) {
      v1::SeqStep* p = b.add_steps();
      p->set_seq_id(st.seq);
      p->set_pos(st.pos);
      for (int32_t t : st.tokens) p->add_tokens(t);
      if (st.blocks.empty()) {
        const int64_t n = (st.pos + static_cast<int64_t>(st.tokens.size()) + 15) / 16;
        for (int64_t i = 0; i < n; ++i) p->add_blocks(static_cast<int32_t>(i));
      } else {
        for (int32_t x : st.blocks) p->add_blocks(x);
      }
      p->set_sample(true);
      if (st.sampler) p->mutable_sampler()->set_temperature(0);
    }
    EXPECT_TRUE(forward->Write(b));
    v1::BatchResult res;
    EXPECT_TRUE(results->Read(&res));
    EXPECT_EQ(res.batch_id(), b.batch_id());
    EXPECT_EQ(res.results_size(), b.steps_size());
    return res;
  };
  auto error = [&](Step st) {
    v1::BatchResult r = run({st});
    return r.results_size() == 1 ? r.results(0).error() : std::string("no result");
  };
  EXPECT_NE(error({1, 0, {1, 999999}}).find("outside the vocabulary"), std::string::npos);
  EXPECT_NE(error({1, 0, {-5}}).find("outside the vocabulary"), std::string::npos);
  EXPECT_NE(error({1, 0, {}}), "");
  EXPECT_NE(error({1, 0, std::vector<int32_t>(17, 1)}).find("at most"), std::string::npos);
  EXPECT_NE(error({1, 62, {1, 2, 3}}).find("context"), std::string::npos);
  // Block tables: the wrong length, a block that does not exist, positions never written.
  EXPECT_NE(error({1, 0, {1, 2}, {0, 1}}).find("block table"), std::string::npos);
  EXPECT_NE(error({1, 0, {1, 2}, {8}}).find("does not exist"), std::string::npos);
  EXPECT_NE(error({1, 0, {1, 2}, {-1}}).find("does not exist"), std::string::npos);
  EXPECT_NE(error({1, 5, {1}}).find("never computed"), std::string::npos);
  EXPECT_NE(error({1, 20, {1}, {1, 2}}).find("never computed"), std::string::npos);
  // A good prompt, then its next token; then another sequence sharing the first 3 positions.
  v1::BatchResult good = run({{1, 0, {1, 15043, 3186}}});
  ASSERT_EQ(good.results_size(), 1);
  EXPECT_EQ(good.results(0).error(), "");
  EXPECT_GE(good.results(0).token(), 0);
  EXPECT_EQ(error({1, 3, {good.results(0).token()}, {}, false}), "");
  EXPECT_EQ(error({2, 3, {7}, {0}}), "");
  // A sample before the sequence's sampler was set up; three sequences when the stage holds two.
  EXPECT_NE(error({9, 0, {1}, {3}, false}).find("sampler"), std::string::npos);
  EXPECT_NE(error({3, 0, {1}, {4}}).find("sequences"), std::string::npos);
  // The same sequence twice in one batch: the second is refused, the first runs.
  v1::BatchResult twice = run({{1, 4, {5}, {0}, false}, {1, 4, {6}, {0}, false}});
  ASSERT_EQ(twice.results_size(), 2);
  EXPECT_EQ(twice.results(0).error(), "");
  EXPECT_NE(twice.results(1).error().find("twice"), std::string::npos) << twice.results(1).error();
  forward->WritesDone();
  EXPECT_TRUE(forward->Finish().ok());
  v1::BatchResult extra;
  while (results->Read(&extra)) {
  }
}

// Another worker on this model directory, with some options changed.
std::unique_ptr<WorkerServer> StartWorker(const std::string& dir,
                                          const std::function<void(WorkerOptions&)>& change) {
  WorkerOptions o;
  o.threads = 1;
  o.model_dir = dir + "/models";
  o.cache_dir = dir;
  o.security.token = kToken;
  o.profile.seconds_per_kernel = 0.005;
  o.profile.matvec_bytes = 4 << 20;
  o.profile.bandwidth_bytes = 4 << 20;
  change(o);
  auto s = WorkerServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? std::move(*s) : nullptr;
}

v1::StageHealthReply::State Health(v1::Worker::Stub& stub, ClientSession& session,
                                   const std::string& id, const std::string& cap) {
  grpc::ClientContext ctx;
  Apply(&ctx, session.Sign("StageHealth", 10));
  v1::StageHealthRequest req;
  req.set_pipeline_id(id);
  req.set_capability(cap);
  v1::StageHealthReply reply;
  EXPECT_TRUE(stub.StageHealth(&ctx, req, &reply).ok());
  return reply.state();
}

void Unload(v1::Worker::Stub& stub, ClientSession& session, const std::string& id,
            const std::string& cap) {
  grpc::ClientContext ctx;
  Apply(&ctx, session.Sign("Unload", 10));
  v1::UnloadRequest req;
  req.set_pipeline_id(id);
  req.set_capability(cap);
  v1::UnloadReply reply;
  EXPECT_TRUE(stub.Unload(&ctx, req, &reply).ok());
}

// A pipeline id is only a label (it is in logs and on the wire): without the capability its
// LoadStage set, nobody reads the stage's results, feeds it, checks it, unloads or replaces it.
// Before, any holder of the pool key who saw the id could do all of these.
TEST_F(WorkerTest, PipelinesAnswerOnlyTheirCapability) {
  v1::LoadStageReply reply;
  ASSERT_TRUE(Load(Stage("p-own"), &reply).ok());
  const std::string own = Cap("p-own"), thief = "a-guessed-capability-0123";
  EXPECT_EQ(Health(*stub_, *session_, "p-own", own), v1::StageHealthReply::OK);
  EXPECT_EQ(Health(*stub_, *session_, "p-own", thief), v1::StageHealthReply::NO_STAGE);
  {
    grpc::ClientContext ctx;
    Apply(&ctx, session_->Sign("Results", 10));
    v1::ResultsRequest rr;
    rr.set_pipeline_id("p-own");
    rr.set_capability(thief);
    auto results = stub_->Results(&ctx, rr);
    v1::BatchResult res;
    EXPECT_FALSE(results->Read(&res));
    EXPECT_EQ(results->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    Apply(&ctx, session_->Sign("Forward", 10));
    v1::ForwardSummary summary;
    auto forward = stub_->Forward(&ctx, &summary);
    v1::Batch b;
    b.set_pipeline_id("p-own");
    b.set_capability(thief);
    b.set_batch_id(1);
    forward->Write(b);
    forward->WritesDone();
    EXPECT_EQ(forward->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  auto r = Stage("p-own");
  r.set_capability(thief);
  EXPECT_EQ(Load(r, &reply).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  Unload(*stub_, *session_, "p-own", thief);
  EXPECT_EQ(Health(*stub_, *session_, "p-own", own), v1::StageHealthReply::OK);  // still there
  r = Stage("p-short");
  r.set_capability("short");
  EXPECT_EQ(Load(r, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  Unload(*stub_, *session_, "p-own", own);
  EXPECT_EQ(Health(*stub_, *session_, "p-own", own), v1::StageHealthReply::NO_STAGE);
}

// A stage no Forward reaches is freed after --stage-timeout. Before, 60 LoadStage calls with no
// Forward kept 1.2 GB and 62 threads for good.
TEST_F(WorkerTest, UnfedStagesExpire) {
  auto w = StartWorker(*dir_, [](WorkerOptions& o) { o.stage_timeout_seconds = 0.3; });
  ASSERT_TRUE(w);
  auto stub = v1::Worker::NewStub(*MakeChannel(w->address(), sec_));
  auto ch = Dial(w->address());
  auto session = *ClientSession::Open(*ch, kToken, kRoleHead, 10);
  ASSERT_TRUE(LoadOn(*stub, *session, Stage("p-idle")).ok());
  EXPECT_EQ(Health(*stub, *session, "p-idle", Cap("p-idle")), v1::StageHealthReply::OK);
  v1::StageHealthReply::State st = v1::StageHealthReply::OK;
  for (int i = 0; i < 40 && st == v1::StageHealthReply::OK; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    st = Health(*stub, *session, "p-idle", Cap("p-idle"));
  }
  EXPECT_EQ(st, v1::StageHealthReply::NO_STAGE);
}

// The memory budget counts every stage's weights, KV pool and buffers (KV is allocated as it
// fills, so free memory at load time says little), and a worker holds at most 16 stages.
TEST_F(WorkerTest, BudgetCountsEveryStage) {
  v1::LoadStageReply one;
  ASSERT_TRUE(Load(Stage("p-size"), &one).ok());
  Unload(*stub_, *session_, "p-size", Cap("p-size"));
  const uint64_t need = one.memory_bytes();
  ASSERT_GT(need, 0u);
  auto w = StartWorker(*dir_, [&](WorkerOptions& o) { o.emulate_memory_bytes = need * 3 / 2; });
  ASSERT_TRUE(w);
  auto stub = v1::Worker::NewStub(*MakeChannel(w->address(), sec_));
  auto ch = Dial(w->address());
  auto session = *ClientSession::Open(*ch, kToken, kRoleHead, 10);
  auto load = [&](const std::string& id) { return LoadOn(*stub, *session, Stage(id)); };
  ASSERT_TRUE(load("p-a").ok());
  grpc::Status second = load("p-b");
  EXPECT_EQ(second.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(second.error_message().find("other stage"), std::string::npos)
      << second.error_message();
  Unload(*stub, *session, "p-a", Cap("p-a"));
  EXPECT_TRUE(load("p-b").ok());

  std::vector<std::string> ids;
  grpc::Status s;
  for (int i = 0; i < 17 && (s = Load(Stage("p-many-" + std::to_string(i)), &one)).ok(); ++i)
    ids.push_back("p-many-" + std::to_string(i));
  EXPECT_EQ(ids.size(), 16u);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  for (const std::string& id : ids) Unload(*stub_, *session_, id, Cap(id));
}

// A host whose proofs keep failing is refused for a while, so the token cannot be guessed
// online; the table of begun handshakes is bounded.
TEST_F(WorkerTest, FailedHandshakesBackOff) {
  auto w = StartWorker(*dir_, [](WorkerOptions&) {});
  ASSERT_TRUE(w);
  auto stub = v1::Worker::NewStub(*MakeChannel(w->address(), sec_));
  auto ch = Dial(w->address());
  auto forge = [&] {
    v1::HelloRequest hello;
    hello.set_nonce(RandomNonce());
    hello.set_role("head");
    v1::HelloReply challenge;
    const Status hs = CallHello(*ch, hello, &challenge, 10);
    if (!hs.ok()) return hs.code();
    v1::AuthenticateRequest forged;
    forged.set_client_nonce(hello.nonce());
    forged.set_worker_nonce(challenge.worker_nonce());
    forged.set_proof(std::string(32, 'x'));
    v1::AuthenticateReply answer;
    return CallAuthenticate(*ch, forged, &answer, 10).code();
  };
  for (int i = 0; i < 7; ++i) EXPECT_EQ(forge(), StatusCode::kUnauthenticated);
  EXPECT_EQ(forge(), StatusCode::kUnauthenticated);  // the 8th: now blocked
  EXPECT_EQ(forge(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ClientSession::Open(*ch, kToken, kRoleHead, 10).status().code(),
            StatusCode::kResourceExhausted);
}

// A worker whose battery runs low leaves the pool, but drains first: its heartbeats say DRAINING
// (the head moves its layers), it takes no new handshakes, and the drain ends when its stages
// are gone.
TEST_F(WorkerTest, LowBatteryDrainsFirst) {
  const std::string sys = *dir_ + "/fake-sys";
  const std::string bat = sys + "/class/power_supply/BAT0";
  fs::create_directories(bat);
  auto put = [](const std::string& path, const char* text) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text, f);
    std::fclose(f);
  };
  put(bat + "/type", "Battery\n");
  put(bat + "/capacity", "30\n");
  put(bat + "/status", "Discharging\n");
  auto w = StartWorker(*dir_, [&](WorkerOptions& o) {
    o.profile.sys_root = sys;
    o.leave_battery = 0.5;
    o.drain_seconds = 20;
  });
  ASSERT_TRUE(w);
  auto stub = v1::Worker::NewStub(*MakeChannel(w->address(), sec_));
  auto ch = Dial(w->address());
  auto session = *ClientSession::Open(*ch, kToken, kRoleHead, 10);
  ASSERT_TRUE(LoadOn(*stub, *session, Stage("p-bat")).ok());
  const std::string why = w->WaitForLeave();
  EXPECT_NE(why.find("battery at 30%"), std::string::npos) << why;
  const auto t0 = std::chrono::steady_clock::now();
  std::thread drain([&] { w->Drain(why); });
  v1::StageHealthReply::State st = v1::StageHealthReply::OK;
  for (int i = 0; i < 100 && st != v1::StageHealthReply::DRAINING; ++i) {
    st = Health(*stub, *session, "p-bat", Cap("p-bat"));
    if (st != v1::StageHealthReply::DRAINING)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(st, v1::StageHealthReply::DRAINING);
  EXPECT_EQ(ClientSession::Open(*ch, kToken, kRoleHead, 10).status().code(),
            StatusCode::kUnavailable);
  Unload(*stub, *session, "p-bat", Cap("p-bat"));  // the head moved the layers
  drain.join();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
}

// A worker whose /proc/meminfo says 1 MiB is available refuses a stage that cannot fit, naming
// what it needs and what it has.
TEST_F(WorkerTest, StageThatCannotFitIsRefused) {
  const std::string proc = *dir_ + "/fake-proc";
  fs::create_directories(proc);
  FILE* f = std::fopen((proc + "/meminfo").c_str(), "w");
  std::fputs("MemTotal:       2048 kB\nMemFree:        1024 kB\nMemAvailable:   1024 kB\n", f);
  std::fclose(f);
  auto small = StartWorker(*dir_, [&](WorkerOptions& o) {
    o.cache_dir = *dir_ + "/small";
    fs::create_directories(o.cache_dir);
    o.profile.proc_root = proc;
  });
  ASSERT_TRUE(small);
  auto stub = v1::Worker::NewStub(*MakeChannel(small->address(), sec_));
  auto ch = Dial(small->address());
  auto session = *ClientSession::Open(*ch, kToken, kRoleHead, 10);
  grpc::Status s = LoadOn(*stub, *session, Stage("p-small"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("available"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace suanli::cluster
