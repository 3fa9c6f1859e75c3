// RpcServer's limits, seen from a gRPC client over loopback: the gate runs on the headers before
// any handler or body read, each method has its message limit, handshakes and calls in flight
// are capped, and Shutdown ends calls that block.
#include "cluster/rpc_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/grpc_transport.h"
#include "suanli/cluster/v1/worker.grpc.pb.h"

namespace suanli::cluster {
namespace {

// A handler that blocks until released (a call in flight), counting its runs.
struct Latch {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int entered = 0;
  void Enter() {
    std::unique_lock<std::mutex> lock(mu);
    ++entered;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  }
  void WaitEntered(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return entered >= n; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
};

class RpcServerTest : public ::testing::Test {
 protected:
  void Start(std::vector<RpcMethod> methods, RpcLimits limits = {}) {
    auto s = RpcServer::Start(
        "127.0.0.1:0", SecurityOptions(), std::move(methods),
        [this](const ServerCall& c) {
          ++gated_;
          return c.Header("x-test-pass") == "yes";
        },
        limits);
    ASSERT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(*s);
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stub_ = v1::Worker::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials(), args));
  }
  grpc::StatusCode Ping(size_t payload, bool pass, std::string* echo = nullptr) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, 10);
    if (pass) ctx.AddMetadata("x-test-pass", "yes");
    v1::PingRequest req;
    req.set_payload(std::string(payload, 'p'));
    v1::PingReply rep;
    grpc::Status s = stub_->Ping(&ctx, req, &rep);
    if (echo) *echo = rep.payload();
    return s.error_code();
  }
  RpcMethod EchoPing(size_t max_bytes) {
    return UnaryMethod<v1::PingRequest, v1::PingReply>(
        "Ping", max_bytes, [this](ServerCall&, const v1::PingRequest& q, v1::PingReply* r) {
          ++handled_;
          r->set_payload(q.payload());
          return Status::Ok();
        });
  }

  std::unique_ptr<RpcServer> server_;
  std::unique_ptr<v1::Worker::Stub> stub_;
  std::atomic<int> gated_{0}, handled_{0};
};

TEST_F(RpcServerTest, TheGateRunsBeforeTheHandler) {
  Start({EchoPing(1 << 20)});
  EXPECT_EQ(Ping(1 << 19, false), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(handled_.load(), 0);
  EXPECT_EQ(gated_.load(), 1);
  std::string echo;
  EXPECT_EQ(Ping(100, true, &echo), grpc::StatusCode::OK);
  EXPECT_EQ(echo, std::string(100, 'p'));
  EXPECT_EQ(handled_.load(), 1);
  // A method nobody registered: refused without a gate or a handler.
  grpc::ClientContext ctx;
  SetDeadline(&ctx, 10);
  ctx.AddMetadata("x-test-pass", "yes");
  v1::UnloadReply none;
  EXPECT_EQ(stub_->Unload(&ctx, v1::UnloadRequest(), &none).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(RpcServerTest, EachMethodHasItsMessageLimit) {
  Start({EchoPing(1024)});
  EXPECT_EQ(Ping(900, true), grpc::StatusCode::OK);
  EXPECT_EQ(Ping(2048, true), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(handled_.load(), 1);
  EXPECT_EQ(Ping(10, true), grpc::StatusCode::OK);  // the server is unharmed
}

TEST_F(RpcServerTest, HandshakesInFlightAreCappedPerHost) {
  Latch latch;
  RpcMethod hello;
  hello.name = "Hello";
  hello.needs_session = false;
  hello.max_message_bytes = 0;
  hello.handler = [&](ServerCall& call) {
    latch.Enter();
    call.Write(v1::HelloReply());
    return Status::Ok();
  };
  RpcLimits limits;
  limits.max_handshakes_per_host = 2;
  Start({hello}, limits);
  std::vector<std::thread> held;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i)
    held.emplace_back([&] {
      grpc::ClientContext ctx;
      SetDeadline(&ctx, 20);
      v1::HelloReply r;
      if (stub_->Hello(&ctx, v1::HelloRequest(), &r).ok()) ++ok;
    });
  latch.WaitEntered(2);
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, 10);
    v1::HelloReply r;
    EXPECT_EQ(stub_->Hello(&ctx, v1::HelloRequest(), &r).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  EXPECT_EQ(gated_.load(), 0);  // handshakes need no session
  latch.Release();
  for (auto& t : held) t.join();
  EXPECT_EQ(ok.load(), 2);
  grpc::ClientContext ctx;  // the slots are free again
  SetDeadline(&ctx, 10);
  v1::HelloReply r;
  EXPECT_TRUE(stub_->Hello(&ctx, v1::HelloRequest(), &r).ok());
}

TEST_F(RpcServerTest, CallsInFlightAreCapped) {
  Latch latch;
  RpcMethod forward;
  forward.name = "Forward";
  forward.max_message_bytes = 1 << 20;
  forward.handler = [&](ServerCall& call) {
    latch.Enter();
    call.Write(v1::ForwardSummary());
    return Status::Ok();
  };
  RpcLimits limits;
  limits.max_calls = 2;
  Start({forward, EchoPing(1024)}, limits);
  std::vector<std::thread> held;
  for (int i = 0; i < 2; ++i)
    held.emplace_back([&] {
      grpc::ClientContext ctx;
      SetDeadline(&ctx, 20);
      ctx.AddMetadata("x-test-pass", "yes");
      v1::ForwardSummary s;
      auto w = stub_->Forward(&ctx, &s);
      w->WritesDone();
      EXPECT_TRUE(w->Finish().ok());
    });
  latch.WaitEntered(2);
  EXPECT_EQ(Ping(10, true), grpc::StatusCode::RESOURCE_EXHAUSTED);
  latch.Release();
  for (auto& t : held) t.join();
  EXPECT_EQ(Ping(10, true), grpc::StatusCode::OK);  // a call's slot is free once it has ended
}

TEST_F(RpcServerTest, ShutdownEndsBlockedStreams) {
  std::atomic<bool> returned{false};
  RpcMethod forward;
  forward.name = "Forward";
  forward.max_message_bytes = 1 << 20;
  forward.handler = [&](ServerCall& call) {
    v1::Batch b;
    while (call.Read(&b)) {
    }
    returned = true;
    return Status::Ok();
  };
  Start({forward});
  grpc::ClientContext ctx;
  SetDeadline(&ctx, 60);
  ctx.AddMetadata("x-test-pass", "yes");
  v1::ForwardSummary s;
  auto w = stub_->Forward(&ctx, &s);
  ASSERT_TRUE(w->Write(v1::Batch()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  server_->Shutdown();
  EXPECT_TRUE(returned.load());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_FALSE(w->Finish().ok());
}

}  // namespace
}  // namespace suanli::cluster
