// The worker's session table in virtual time (a ManualClock): a host whose proofs keep failing
// is refused for 30 s and then again accepted, a begun handshake expires after 10 s, and a session
// idle for 30 minutes is gone. None of these could be tested without waiting before the Clock.
#include <gtest/gtest.h>

#include "base/clock.h"
#include "cluster/fake_transport.h"
#include "cluster/session.h"
#include "handshake_server.h"

namespace suanli::cluster {
namespace {

constexpr const char* kToken = "session-test-token-0123";

class SessionClockTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  FakeNetwork net_{1, clock_};
  Handshake worker_{net_, "", std::make_shared<Credentials>(kToken), clock_};
  std::shared_ptr<Channel> ch_ = *net_.Node("head")->Dial("worker:1");

  // A handshake whose proof is wrong, `wait` seconds between Hello and Authenticate: what the
  // worker answered (it says whether the handshake had expired, or the proof was wrong).
  Status BadHandshake(double wait = 0) {
    v1::HelloRequest hello;
    hello.set_nonce(std::string(16, 'n'));
    hello.set_role(std::string(kRoleHead));
    v1::HelloReply challenge;
    SL_RETURN_IF_ERROR(CallHello(*ch_, hello, &challenge, 5));
    clock_.Advance(wait);
    v1::AuthenticateRequest auth;
    auth.set_client_nonce(hello.nonce());
    auth.set_worker_nonce(challenge.worker_nonce());
    auth.set_proof(std::string(32, 'p'));
    v1::AuthenticateReply reply;
    return CallAuthenticate(*ch_, auth, &reply, 5);
  }
};

TEST_F(SessionClockTest, BackOffLiftsAfterThirtySeconds) {
  for (int i = 0; i < 8; ++i) EXPECT_EQ(BadHandshake().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(ClientSession::Open(*ch_, kToken, kRoleHead, 5).status().code(),
            StatusCode::kResourceExhausted);
  clock_.Advance(29);
  EXPECT_EQ(ClientSession::Open(*ch_, kToken, kRoleHead, 5).status().code(),
            StatusCode::kResourceExhausted);
  clock_.Advance(2);
  auto s = ClientSession::Open(*ch_, kToken, kRoleHead, 5);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(Ping(*ch_, **s).ok());
}

TEST_F(SessionClockTest, ABegunHandshakeExpiresAfterTenSeconds) {
  EXPECT_NE(BadHandshake(9).message().find("wrong proof"), std::string::npos);
  EXPECT_NE(BadHandshake(11).message().find("expired"), std::string::npos);
}

TEST_F(SessionClockTest, AnIdleSessionEndsAfterThirtyMinutes) {
  auto s = ClientSession::Open(*ch_, kToken, kRoleHead, 5);
  ASSERT_TRUE(s.ok());
  clock_.Advance(29 * 60);
  ASSERT_TRUE(Ping(*ch_, **s).ok());  // used: idle again from now
  clock_.Advance(29 * 60);
  ASSERT_TRUE(ClientSession::Open(*ch_, kToken, kRoleHead, 5).ok());  // sweeps idle ones
  EXPECT_TRUE(Ping(*ch_, **s).ok());
  clock_.Advance(31 * 60);
  ASSERT_TRUE(ClientSession::Open(*ch_, kToken, kRoleHead, 5).ok());
  EXPECT_EQ(Ping(*ch_, **s).code(), StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace suanli::cluster
