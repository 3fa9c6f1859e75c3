// The in-process network: its calls behave as the gRPC transport's do (codes, deadlines, the
// gate, limits), its faults do what they say, and the production head and workers run over it:
// a pool of in-process workers where a frozen, killed or cut-off worker is found and named, and
// the head places the layers again on the others.
#include "cluster/fake_transport.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <thread>

#include "base/clock.h"
#include "base/timer.h"
#include "cluster/head.h"
#include "cluster/worker.h"
#include "suanli/cluster/v1/worker.pb.h"
#include "tiny_model.h"

namespace suanli::cluster {
namespace {

namespace fs = std::filesystem;

// "Ping": echoes a payload of reply_bytes; "Hold": reads until the caller ends (a stream);
// "Hello": answers at once.
std::vector<RpcMethod> EchoMethods(std::atomic<int>* handled) {
  std::vector<RpcMethod> ms;
  ms.push_back(UnaryMethod<v1::PingRequest, v1::PingReply>(
      "Ping", 1024, [handled](ServerCall&, const v1::PingRequest& q, v1::PingReply* r) {
        ++*handled;
        r->set_payload(std::string(q.reply_bytes(), 'x'));
        return Status::Ok();
      }));
  RpcMethod hold;
  hold.name = "Hold";
  hold.handler = [](ServerCall& c) {
    v1::PingRequest q;
    while (c.Read(&q)) {
      v1::PingReply r;
      r.set_payload(q.payload());
      if (!c.Write(r)) break;
    }
    return Status::Ok();
  };
  ms.push_back(hold);
  RpcMethod hello;  // answers without reading a body, as the handshake does
  hello.name = "Hello";
  hello.needs_session = false;
  hello.handler = [](ServerCall& c) {
    c.Write(v1::PingReply());
    return Status::Ok();
  };
  ms.push_back(hello);
  return ms;
}

class FakeTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = net_.Node("srv")->Serve(
        "srv:0", EchoMethods(&handled_),
        [](const ServerCall& c) { return c.Header("x-pass") == "yes"; }, {});
    ASSERT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(*s);
    ch_ = *net_.Node("cli")->Dial("srv:" + std::to_string(server_->port()));
  }
  Status Ping(double seconds, uint32_t reply_bytes = 0, bool pass = true) {
    CallOptions o;
    o.seconds = seconds;
    if (pass) o.headers.emplace_back("x-pass", "yes");
    v1::PingRequest q;
    q.set_reply_bytes(reply_bytes);
    v1::PingReply r;
    Status s = ch_->Call("Ping", o, q, &r);
    if (s.ok() && r.payload().size() != reply_bytes) return Internal("wrong payload");
    return s;
  }
  FakeNetwork net_;
  std::atomic<int> handled_{0};
  std::unique_ptr<Server> server_;
  std::shared_ptr<Channel> ch_;
};

TEST_F(FakeTransportTest, CallsBehaveAsOnTheNetwork) {
  EXPECT_TRUE(Ping(5, 100).ok());
  EXPECT_EQ(Ping(5, 0, /*pass=*/false).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(handled_.load(), 1);  // the gate refused before the handler
  v1::PingRequest big;
  big.set_payload(std::string(4096, 'a'));  // above Ping's 1024-byte limit
  CallOptions o;
  o.headers.emplace_back("x-pass", "yes");
  v1::PingReply r;
  EXPECT_EQ(ch_->Call("Ping", o, big, &r).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ch_->Call("Nope", o, big, &r).code(), StatusCode::kUnimplemented);
  auto nowhere = *net_.Node("cli")->Dial("srv:99");
  EXPECT_EQ(nowhere->Call("Ping", o, v1::PingRequest(), &r).code(), StatusCode::kUnavailable);
  EXPECT_EQ(handled_.load(), 1);
}

TEST_F(FakeTransportTest, KillEndsCallsAndRefusesNewOnes) {
  CallOptions o;
  o.headers.emplace_back("x-pass", "yes");
  auto stream = ch_->Open("Hold", o);
  v1::PingRequest q;
  q.set_payload("a");
  v1::PingReply r;
  ASSERT_TRUE(stream->Write(q));
  ASSERT_TRUE(stream->Read(&r));
  net_.Kill("srv");
  EXPECT_FALSE(stream->Read(&r));
  EXPECT_EQ(stream->Finish().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Ping(5).code(), StatusCode::kUnavailable);
  net_.Revive("srv");
  EXPECT_TRUE(Ping(5).ok());
}

TEST_F(FakeTransportTest, PartitionHoldsThenBreaksAfterTheKeepalive) {
  net_.SetKeepaliveSeconds(0.3);
  CallOptions o;
  o.headers.emplace_back("x-pass", "yes");
  auto stream = ch_->Open("Hold", o);
  double t0 = NowSeconds();
  net_.Partition("cli", "srv");
  EXPECT_EQ(Ping(0.1).code(), StatusCode::kDeadlineExceeded);  // held: the deadline ends it
  v1::PingReply r;
  EXPECT_FALSE(stream->Read(&r));           // broken by the keepalive, not held forever
  const double waited = NowSeconds() - t0;  // since the cut (either end notices it)
  EXPECT_EQ(stream->Finish().code(), StatusCode::kUnavailable);
  EXPECT_GE(waited, 0.29);
  EXPECT_LT(waited, 2.0);
  net_.Heal("cli", "srv");
  EXPECT_TRUE(Ping(5).ok());
  // A server that answers at once while the link is cut: the answer is held, and the caller's
  // deadline still ends the call (before, a finished call ignored its deadline and hung).
  net_.SetKeepaliveSeconds(60);
  net_.Partition("cli", "srv");
  t0 = NowSeconds();
  CallOptions quick;
  quick.seconds = 0.2;
  EXPECT_EQ(ch_->Call("Hello", quick, v1::PingRequest(), &r).code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(NowSeconds() - t0, 2.0);
  net_.Heal("cli", "srv");
  // A short partition within the keepalive only delays.
  net_.Partition("cli", "srv");
  std::thread heal([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    net_.Heal("cli", "srv");
  });
  EXPECT_TRUE(Ping(5).ok());
  heal.join();
}

TEST_F(FakeTransportTest, DelayAndDrop) {
  net_.SetDelay("cli", "srv", 0.05);
  double t0 = NowSeconds();
  EXPECT_TRUE(Ping(5).ok());
  EXPECT_GE(NowSeconds() - t0, 0.1);  // there and back
  net_.SetDelay("cli", "srv", 0);
  net_.SetDrop("cli", "srv", 1.0);
  EXPECT_EQ(Ping(0.2).code(), StatusCode::kDeadlineExceeded);
  EXPECT_GT(net_.counts().dropped, 0u);
  net_.SetDrop("cli", "srv", 0);
  EXPECT_TRUE(Ping(5).ok());
}

TEST_F(FakeTransportTest, JitterKeepsEachStreamInOrder) {
  net_.SetDelay("cli", "srv", 0.001, 0.02);
  CallOptions o;
  o.headers.emplace_back("x-pass", "yes");
  auto stream = ch_->Open("Hold", o);
  for (int i = 0; i < 20; ++i) {
    v1::PingRequest q;
    q.set_payload(std::to_string(i));
    ASSERT_TRUE(stream->Write(q));
  }
  stream->WritesDone();
  for (int i = 0; i < 20; ++i) {
    v1::PingReply r;
    ASSERT_TRUE(stream->Read(&r));
    EXPECT_EQ(r.payload(), std::to_string(i));
  }
  EXPECT_TRUE(stream->Finish().ok());
}

// The head and three workers over the fake network.
class FakePoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(
        (fs::path(::testing::TempDir()) / ("suanli-fakepool-" + std::to_string(getpid())))
            .string());
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ + "/models");
    SynthTinyModel(*dir_ + "/models/m.gguf");
    auto m = Model::Load(*dir_ + "/models/m.gguf");
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = m->release();
  }
  static void TearDownTestSuite() {
    delete model_;
    fs::remove_all(*dir_);
  }
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      auto w = StartWorker("w" + std::to_string(i + 1), i == 0);
      ASSERT_TRUE(w.ok()) << w.status().message();
      workers_.push_back(std::move(*w));
    }
  }
  // A worker on node `name` (at `listen`, default name:0) holding the model file or not (then it
  // is sent the weights).
  StatusOr<std::unique_ptr<WorkerServer>> StartWorker(const std::string& name, bool has_model,
                                                      std::string listen = "",
                                                      std::string token = kToken) {
    WorkerOptions o;
    o.listen = listen.empty() ? name + ":0" : listen;
    o.threads = 1;
    o.transport = net_.Node(name);
    o.clock = &clock_;
    o.security.token = token;
    if (has_model) o.model_dir = *dir_ + "/models";
    o.cache_dir =
        *dir_ + "/" + name + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    o.profile_cache_dir = *dir_ + "/profile";
    o.cache_quota_bytes = 256 << 20;
    o.profile.seconds_per_kernel = 0.005;
    o.profile.matvec_bytes = 4 << 20;
    o.profile.bandwidth_bytes = 4 << 20;
    if (TestNameHas("PastTheStageTimeout")) o.stage_timeout_seconds = 0.5;
    return WorkerServer::Start(o);
  }
  void TearDown() override {
    pool_.reset();
    workers_.clear();
  }
  PoolOptions Options() {
    PoolOptions o;
    for (auto& w : workers_) o.workers.push_back(w->address());
    o.security.token = kToken;
    o.transport = net_.Node("head");
    o.split = {2, 1, 1};
    o.act = placement::ActFormat::kF32;
    o.n_ctx = 64;
    o.detect_seconds = 1;
    o.cache_dir = *dir_ + "/head";
    o.quiet = true;
    o.clock = &clock_;
    return o;
  }
  void OpenPool() { OpenPool(Options()); }
  void OpenPool(const PoolOptions& o) {
    auto p = Pool::Open(*model_, o);
    ASSERT_TRUE(p.ok()) << p.status().message();
    pool_ = std::move(*p);
    ASSERT_EQ(pool_->pipelines(), 1u);
  }
  bool HasEvent(const std::vector<PoolEvent>& events, const std::string& text) {
    for (const PoolEvent& e : events)
      if (e.message.find(text) != std::string::npos) return true;
    return false;
  }
  // One token through pipeline 0: its last logits, or the batch's error.
  StatusOr<std::vector<float>> Step(uint64_t id, int64_t pos, int32_t token) {
    StepBatch b;
    b.id = id;
    SeqStep s;
    s.seq = 1;
    s.pos = pos;
    s.tokens = {token};
    s.blocks = {0};
    s.logits = LogitsWant::kLast;
    b.steps.push_back(s);
    std::promise<StepOutput> done;
    auto got = done.get_future();
    pool_->pipeline(0).Send(b, [&](StepOutput out) { done.set_value(std::move(out)); });
    StepOutput out = got.get();
    if (!out.status.ok()) return out.status;
    if (out.outputs.size() != 1) return Internal("no output");
    if (!out.outputs[0].status.ok()) return out.outputs[0].status;
    return out.outputs[0].logits;
  }
  // Waits (10 s at most) for pipeline 0 to break; why it broke.
  std::string WaitBroken(double* seconds) {
    const double t0 = NowSeconds();
    while (pool_->pipeline(0).broken().empty() && NowSeconds() - t0 < 10)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    *seconds = NowSeconds() - t0;
    return pool_->pipeline(0).broken();
  }

  static constexpr const char* kToken = "fake-pool-test-token";
  static std::string* dir_;
  static Model* model_;
  // Tests named ...InVirtualTime run the head and the network on a ManualClock.
  static bool TestNameHas(const std::string& text) {
    return std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())
               .find(text) != std::string::npos;
  }
  static bool Virtual() { return TestNameHas("InVirtualTime"); }
  ManualClock manual_;
  const Clock& clock_ = Virtual() ? static_cast<const Clock&>(manual_) : Clock::Real();
  FakeNetwork net_{1, clock_};
  std::vector<std::unique_ptr<WorkerServer>> workers_;
  std::unique_ptr<Pool> pool_;
};
std::string* FakePoolTest::dir_ = nullptr;
Model* FakePoolTest::model_ = nullptr;

TEST_F(FakePoolTest, RunsAndPushesWeightsOverTheFake) {
  OpenPool();
  auto logits = Step(1, 0, 5);
  ASSERT_TRUE(logits.ok()) << logits.status().message();
  EXPECT_EQ(logits->size(), static_cast<size_t>(model_->hparams().n_vocab));
  for (float x : *logits) ASSERT_TRUE(std::isfinite(x));
  EXPECT_GT(net_.counts().delivered, 100u);  // weights went to w2 and w3 in 1 MiB chunks
}

TEST_F(FakePoolTest, AFrozenWorkerIsNamedWithinTheDetectionTime) {
  OpenPool();
  ASSERT_TRUE(Step(1, 0, 5).ok());
  net_.Freeze("w2");
  double seconds = 0;
  const std::string why = WaitBroken(&seconds);
  EXPECT_NE(why.find("worker " + workers_[1]->address() + " (stage 2 of 3)"), std::string::npos)
      << why;
  EXPECT_LT(seconds, 2.0);  // detect_seconds 1, plus one heartbeat
  EXPECT_EQ(pool_->pipeline(0).lost_stage(), 1);
  // The head places the layers on the other two (w2 stays frozen) and the pipeline runs again.
  ASSERT_TRUE(pool_->Recover(0, 10).ok());
  auto logits = Step(2, 0, 5);
  EXPECT_TRUE(logits.ok()) << logits.status().message();
  for (const PoolWorker* w : pool_->pipeline_workers(0))
    EXPECT_NE(w->address, workers_[1]->address());
  net_.Thaw("w2");
}

// The same in virtual time: while the clock stands still a frozen worker is not declared lost
// however long the test waits; advanced in 50 ms steps it is named within the detection time of
// the head's clock, and the test takes a fraction of that in real time.
TEST_F(FakePoolTest, AFrozenWorkerIsNamedWithinTheDetectionTimeInVirtualTime) {
  OpenPool();
  ASSERT_TRUE(Step(1, 0, 5).ok());
  net_.Freeze("w2");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past 1 s of real time
  EXPECT_EQ(pool_->pipeline(0).broken(), "");
  const auto t0 = clock_.Now();
  for (int i = 0; i < 200 && pool_->pipeline(0).broken().empty(); ++i) {
    manual_.Advance(0.05);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double virtual_seconds = clock_.SecondsSince(t0);
  const std::string why = pool_->pipeline(0).broken();
  EXPECT_NE(why.find("worker " + workers_[1]->address() + " (stage 2 of 3)"), std::string::npos)
      << why;
  EXPECT_LE(virtual_seconds, 1.0 + 0.1) << why;  // detect_seconds 1 (a heartbeat per 0.25 s)
  EXPECT_LE(pool_->pipeline(0).detect_seconds(), 1.0 + 0.1);
  EXPECT_EQ(pool_->pipeline(0).lost_stage(), 1);
  net_.Thaw("w2");
}

TEST_F(FakePoolTest, AKilledLastWorkerIsNamedNotItsNeighbour) {
  OpenPool();
  ASSERT_TRUE(Step(1, 0, 5).ok());
  net_.Kill("w3");
  auto failed = Step(2, 1, 6);
  EXPECT_FALSE(failed.ok());
  double seconds = 0;
  const std::string why = WaitBroken(&seconds);
  EXPECT_NE(why.find(workers_[2]->address()), std::string::npos) << why;
  EXPECT_EQ(pool_->pipeline(0).lost_stage(), 2);
}

TEST_F(FakePoolTest, ACutBetweenTwoStagesIsFound) {
  OpenPool();
  net_.SetKeepaliveSeconds(0.5);
  ASSERT_TRUE(Step(1, 0, 5).ok());
  net_.Partition("w1", "w2");  // the head still reaches both
  double t0 = NowSeconds();
  auto failed = Step(2, 1, 6);  // held between stage 1 and 2: the heartbeat must end it
  EXPECT_FALSE(failed.ok());
  EXPECT_LT(NowSeconds() - t0, 5.0);
  const std::string why = pool_->pipeline(0).broken();
  // The link is named, not one of its ends as a lost worker (before: "w2:1 no longer holds its
  // stage (it restarted or unloaded it)").
  EXPECT_NE(why.find("the link from worker " + workers_[0]->address() + " (stage 1) to worker " +
                     workers_[1]->address() + " (stage 2 of 3) broke"),
            std::string::npos)
      << why;
  net_.Heal("w1", "w2");
}

// A pipeline that waits for its first request keeps its stages: the head's attach tells every
// stage a Forward feeds it. Before, each worker freed its stages as abandoned after
// --stage-timeout (60 s), so an idle `suanli serve` pool broke and was placed again every minute.
TEST_F(FakePoolTest, AnIdlePipelineKeepsItsStagesPastTheStageTimeout) {
  OpenPool();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // 3 stage timeouts
  EXPECT_TRUE(pool_->pipeline_up(0)) << pool_->pipeline(0).broken();
  auto logits = Step(1, 0, 5);
  EXPECT_TRUE(logits.ok()) << logits.status().message();
}

// A worker the head never met (started after it) is found by discovery, authenticates, and is
// placeable: when every worker of the pipeline is gone, the layers go to it. An impostor that
// answers discovery too is refused, and said so once.
TEST_F(FakePoolTest, AWorkerFoundWhileThePoolRunsJoinsAndTakesTheLayers) {
  auto w4 = StartWorker("w4", false);
  ASSERT_TRUE(w4.ok()) << w4.status().message();
  auto fake = StartWorker("w5", false, "", "not-the-pool-token-0123");
  ASSERT_TRUE(fake.ok()) << fake.status().message();
  std::atomic<int> asked{0};
  PoolOptions o = Options();
  o.find_workers = [&] {
    ++asked;
    return std::vector<std::string>{(*w4)->address(), (*fake)->address()};
  };
  o.find_every_seconds = 0;
  OpenPool(o);
  ASSERT_TRUE(Step(1, 0, 5).ok());
  EXPECT_EQ(pool_->worker_count(), 3u);
  EXPECT_EQ(pool_->Rejoin(), 1);
  ASSERT_EQ(pool_->worker_count(), 4u);
  EXPECT_EQ(pool_->worker(3).address, (*w4)->address());
  EXPECT_EQ(pool_->Rejoin(), 0);  // known: not joined twice
  EXPECT_EQ(pool_->worker_count(), 4u);
  EXPECT_EQ(asked.load(), 2);
  const std::vector<PoolEvent> events = pool_->TakeEvents();
  EXPECT_TRUE(HasEvent(events, "worker " + (*w4)->address() + " joined")) << events.size();
  int refused = 0;
  for (const PoolEvent& e : events)
    refused += e.message.find("worker " + (*fake)->address() + " is refused") != std::string::npos;
  EXPECT_EQ(refused, 1);
  // The running pipeline was not touched by the join.
  EXPECT_EQ(pool_->pipeline_workers(0).size(), 3u);
  ASSERT_TRUE(Step(2, 1, 6).ok());
  // Only the newcomer is left: the layers go to it (the head sends it the weights).
  for (const char* n : {"w1", "w2", "w3"}) net_.Kill(n);
  double seconds = 0;
  EXPECT_FALSE(Step(3, 2, 7).ok());
  EXPECT_FALSE(WaitBroken(&seconds).empty());
  Status s = pool_->Recover(0, 20);
  ASSERT_TRUE(s.ok()) << s.message();
  const auto placed = pool_->pipeline_workers(0);
  ASSERT_EQ(placed.size(), 1u);
  EXPECT_EQ(placed[0]->address, (*w4)->address());
  auto logits = Step(4, 0, 5);
  EXPECT_TRUE(logits.ok()) << logits.status().message();
  pool_.reset();  // before w4 and the impostor go
}

// A spare that froze since it joined (no heartbeat watches a spare) does not hold a recovery for
// its load deadline (120 s): the link's keepalive (1 s, and 1 s for the answer, as on gRPC)
// breaks the LoadStage. With every other worker dead too, the recovery gives up at its own
// timeout.
TEST_F(FakePoolTest, AFrozenSpareDoesNotHoldARecovery) {
  auto w4 = StartWorker("w4", false);
  ASSERT_TRUE(w4.ok()) << w4.status().message();
  OpenPool();
  ASSERT_TRUE(pool_->Join((*w4)->address()).ok());
  ASSERT_TRUE(Step(1, 0, 5).ok());
  net_.Freeze("w4");
  for (const char* n : {"w1", "w2", "w3"}) net_.Kill(n);
  double seconds = 0;
  EXPECT_FALSE(Step(2, 1, 6).ok());
  EXPECT_FALSE(WaitBroken(&seconds).empty());
  const double t0 = NowSeconds();
  Status s = pool_->Recover(0, 3);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.message();
  EXPECT_LT(NowSeconds() - t0, 8.0) << s.message();
  net_.Thaw("w4");
  pool_.reset();
}

// The worker reads time from its clock too: a drain (SIGTERM, low battery) whose stages the head
// does not move waits --drain-timeout (30 s) of the worker's clock, not of the wall's.
TEST_F(FakePoolTest, ADrainWaitsOnTheWorkersClockInVirtualTime) {
  OpenPool();
  std::atomic<bool> drained{false};
  std::thread drain([&] {
    workers_[1]->Drain("a test");
    drained = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(drained.load());               // the clock stands still
  for (int i = 0; i < 62 && !drained; ++i) {  // 31 s, in 0.5 s steps
    manual_.Advance(0.5);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double t0 = NowSeconds();
  while (!drained && NowSeconds() - t0 < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(drained.load()) << "the drain waited on the wall clock";
  workers_[1]->EndDrain();
  drain.join();
}

// A listed worker that is down when the head starts is tried again every 10 s of the head's
// clock, and joins once it answers.
TEST_F(FakePoolTest, AListedWorkerDownAtOpenJoinsWhenItComesUpInVirtualTime) {
  PoolOptions o = Options();
  o.split.clear();
  o.workers.push_back("w4:7000");  // nothing listens there yet
  OpenPool(o);
  EXPECT_EQ(pool_->worker_count(), 3u);
  auto w4 = StartWorker("w4", false, "w4:7000");
  ASSERT_TRUE(w4.ok()) << w4.status().message();
  // In 50 ms steps, so the pipeline's heartbeats keep up with the clock.
  int joined_at = -1;
  for (int step = 1; step <= 240 && joined_at < 0; ++step) {
    manual_.Advance(0.05);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (step % 20 == 0 && pool_->Rejoin() > 0) joined_at = step;
  }
  ASSERT_GT(joined_at, 0) << "not joined within 12 s of virtual time";
  EXPECT_GE(joined_at * 0.05, 10.0 - 1e-6);  // not before the retry interval
  ASSERT_EQ(pool_->worker_count(), 4u);
  EXPECT_EQ(pool_->worker(3).address, "w4:7000");
  EXPECT_TRUE(pool_->pipeline_up(0));
  // Closes at once (it waited 10 s for a results stream the first stage could not end, not
  // knowing the pipeline of a Forward stream nothing was sent on).
  const double t0 = NowSeconds();
  pool_.reset();
  EXPECT_LT(NowSeconds() - t0, 2.0);
}

}  // namespace
}  // namespace suanli::cluster
