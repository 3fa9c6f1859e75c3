// The pool's authority and what nodes do with it: bundles that verify, revocation lists that are
// signed and numbered, credentials that take only newer lists and refuse revoked peers, a
// handshake bound to both ends' certificates (a relay between two TLS links fails), revocation
// that reaches workers through a head and ends a revoked member's session, and plain TCP refused
// off loopback.
#include "cluster/pool_ca.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "base/mapped_file.h"
#include "cluster/credentials.h"
#include "cluster/fake_transport.h"
#include "cluster/session.h"
#include "handshake_server.h"

namespace suanli::cluster {
namespace {

namespace fs = std::filesystem;

class PoolCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("pool-ca-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    ASSERT_TRUE(PoolAuthority::Init(dir_ + "/ca").ok());
    auto ca = PoolAuthority::Open(dir_ + "/ca");
    ASSERT_TRUE(ca.ok()) << ca.status().message();
    for (const char* n : {"w1", "w2"}) {
      auto c = ca->Enroll(n, dir_ + "/" + n);
      ASSERT_TRUE(c.ok()) << c.status().message();
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Read(const std::string& path) {
    auto s = ReadFileToString(path);
    EXPECT_TRUE(s.ok()) << path;
    return s.ok() ? *s : "";
  }
  std::shared_ptr<Credentials> Creds(const std::string& bundle) {
    auto sec = SecurityOptions::FromPoolDir(dir_ + "/" + bundle);
    EXPECT_TRUE(sec.ok()) << sec.status().message();
    auto c = Credentials::Load(*sec);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return *c;
  }
  PoolAuthority Ca() { return *PoolAuthority::Open(dir_ + "/ca"); }

  std::string dir_;
};

TEST_F(PoolCaTest, BundlesHoldWhatANodeNeeds) {
  for (const char* b : {"ca", "w1", "w2"}) {
    auto sec = SecurityOptions::FromPoolDir(dir_ + "/" + b);
    ASSERT_TRUE(sec.ok()) << sec.status().message();
    EXPECT_TRUE(sec->tls());
    EXPECT_EQ(sec->tls_server_name, kPoolServerName);
    EXPECT_EQ(sec->token.size(), 32u);  // 128 bits in hex
    struct stat st;
    ASSERT_EQ(::stat(sec->tls_key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << b << ": the private key is readable by others";
    ASSERT_EQ(::stat((dir_ + "/" + b + "/token").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  EXPECT_EQ(Read(dir_ + "/w1/token"), Read(dir_ + "/ca/token"));
  auto w1 = ReadCertificate(Read(dir_ + "/w1/cert.pem"));
  auto w2 = ReadCertificate(Read(dir_ + "/w2/cert.pem"));
  ASSERT_TRUE(w1.ok() && w2.ok());
  EXPECT_EQ(w1->name, "w1");
  EXPECT_EQ(w1->serial.size(), 32u);
  EXPECT_NE(w1->serial, w2->serial);
  EXPECT_NE(w1->fingerprint, w2->fingerprint);
  EXPECT_GT(w1->not_after, ::time(nullptr) + 800 * 86400LL);
  auto list = Ca().List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);  // head, w1, w2
  EXPECT_EQ((*list)[0].name, "head");
  // What must not happen silently.
  EXPECT_EQ(PoolAuthority::Init(dir_ + "/ca").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Ca().Enroll("w3", dir_ + "/w1").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Ca().Enroll("a b", dir_ + "/x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ca().Enroll("../x", dir_ + "/x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PoolAuthority::Open(dir_ + "/w1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(SecurityOptions::FromPoolDir(dir_ + "/none").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(ReadCertificate("not a certificate").ok());
}

TEST_F(PoolCaTest, RevocationListsAreSignedAndNumbered) {
  const std::string ca_pem = Read(dir_ + "/ca/ca.pem");
  auto first = ReadRevocations(Read(dir_ + "/ca/crl.pem"), ca_pem);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->number, 1u);
  EXPECT_TRUE(first->serials.empty());
  auto n = Ca().Revoke("w1");
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(*Ca().Revoke("w1"), 0);  // already
  EXPECT_EQ(Ca().Revoke("w9").status().code(), StatusCode::kNotFound);
  auto rev = ReadRevocations(Read(dir_ + "/ca/crl.pem"), ca_pem);
  ASSERT_TRUE(rev.ok());
  EXPECT_EQ(rev->number, 2u);
  EXPECT_TRUE(rev->Revoked(ReadCertificate(Read(dir_ + "/w1/cert.pem"))->serial));
  EXPECT_FALSE(rev->Revoked(ReadCertificate(Read(dir_ + "/w2/cert.pem"))->serial));
  // By serial too, and the DER form parses as the PEM does.
  const std::string w2_serial = ReadCertificate(Read(dir_ + "/w2/cert.pem"))->serial;
  EXPECT_EQ(*Ca().Revoke(w2_serial), 1);
  auto third = ReadRevocations(Read(dir_ + "/ca/crl.pem"), ca_pem);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->number, 3u);
  auto der = ReadRevocations(third->der, ca_pem);
  ASSERT_TRUE(der.ok());
  EXPECT_EQ(der->serials, third->serials);
  // Another pool's list, a changed byte, garbage: refused.
  ASSERT_TRUE(PoolAuthority::Init(dir_ + "/other").ok());
  EXPECT_EQ(ReadRevocations(Read(dir_ + "/other/crl.pem"), ca_pem).status().code(),
            StatusCode::kPermissionDenied);
  std::string bent = third->der;
  bent[bent.size() / 2] ^= 1;
  EXPECT_FALSE(ReadRevocations(bent, ca_pem).ok());
  EXPECT_FALSE(ReadRevocations("garbage", ca_pem).ok());
  EXPECT_FALSE(ReadRevocations(std::string(1 << 20, 'x'), ca_pem).ok());
}

TEST_F(PoolCaTest, CredentialsTakeOnlyNewerListsAndRefuseRevokedPeers) {
  auto worker = Creds("w1");
  EXPECT_TRUE(worker->tls());
  EXPECT_EQ(worker->fingerprint().size(), 32u);
  EXPECT_EQ(worker->crl_number(), 1u);
  const std::string w2_pem = Read(dir_ + "/w2/cert.pem");
  ASSERT_TRUE(worker->CheckPeer(w2_pem).ok());
  EXPECT_EQ(worker->CheckPeer("").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(worker->CheckPeer("junk").status().code(), StatusCode::kUnauthenticated);
  const std::string old_crl = worker->crl();

  ASSERT_TRUE(Ca().Revoke("w2").ok());
  auto head = Creds("ca");
  EXPECT_EQ(head->crl_number(), 2u);
  auto taken = worker->Offer(head->crl());
  ASSERT_TRUE(taken.ok()) << taken.status().message();
  EXPECT_TRUE(*taken);
  EXPECT_FALSE(*worker->Offer(head->crl()));  // not newer
  EXPECT_FALSE(*worker->Offer(old_crl));      // older
  EXPECT_EQ(worker->crl_number(), 2u);
  EXPECT_EQ(worker->CheckPeer(w2_pem).status().code(), StatusCode::kUnauthenticated);
  // Kept in the bundle: a restarted worker still refuses w2.
  EXPECT_EQ(Creds("w1")->crl_number(), 2u);
  // A node whose own certificate is revoked does not start.
  auto w2_sec = SecurityOptions::FromPoolDir(dir_ + "/w2");
  w2_sec->tls_crl = dir_ + "/ca/crl.pem";
  EXPECT_EQ(Credentials::Load(*w2_sec).status().code(), StatusCode::kPermissionDenied);
  // Plain TCP credentials hold nothing to check.
  Credentials plain("0123456789abcdef");
  EXPECT_FALSE(plain.tls());
  EXPECT_TRUE(plain.CheckPeer("").ok());
  EXPECT_FALSE(*plain.Offer(head->crl()));
}

TEST_F(PoolCaTest, TheHandshakeIsBoundToBothCertificates) {
  const std::string head_pem = Read(dir_ + "/ca/cert.pem"), w1_pem = Read(dir_ + "/w1/cert.pem"),
                    w2_pem = Read(dir_ + "/w2/cert.pem");
  auto head = Creds("ca");
  {  // honest: each end presents the certificate its credentials hold
    FakeNetwork net;
    Handshake worker(net, w1_pem, Creds("w1"));
    auto ch = *net.Node("head", head_pem)->Dial("worker:1");
    auto s = ClientSession::Open(*ch, *head, kRoleHead, 5);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ((*s)->peer_serial(), ReadCertificate(w1_pem)->serial);
    EXPECT_TRUE(Ping(*ch, **s).ok());
  }
  {  // the TLS end the head reached is not the worker that proves (a relay with w2's cert)
    FakeNetwork net;
    Handshake worker(net, w2_pem, Creds("w1"));
    auto ch = *net.Node("head", head_pem)->Dial("worker:1");
    EXPECT_EQ(ClientSession::Open(*ch, *head, kRoleHead, 5).status().code(),
              StatusCode::kUnauthenticated);
  }
  {  // the worker sees another certificate than the head's (a relay on the head's side)
    FakeNetwork net;
    Handshake worker(net, w1_pem, Creds("w1"));
    auto ch = *net.Node("head", w2_pem)->Dial("worker:1");
    EXPECT_EQ(ClientSession::Open(*ch, *head, kRoleHead, 5).status().code(),
              StatusCode::kUnauthenticated);
  }
  {  // no certificate at all under TLS
    FakeNetwork net;
    Handshake worker(net, w1_pem, Creds("w1"));
    auto ch = *net.Node("head")->Dial("worker:1");
    EXPECT_EQ(ClientSession::Open(*ch, *head, kRoleHead, 5).status().code(),
              StatusCode::kUnauthenticated);
  }
}

TEST_F(PoolCaTest, ARevocationReachesWorkersThroughAHeadAndEndsTheSession) {
  const std::string head_pem = Read(dir_ + "/ca/cert.pem"), w1_pem = Read(dir_ + "/w1/cert.pem"),
                    w2_pem = Read(dir_ + "/w2/cert.pem");
  FakeNetwork net;
  auto w1 = Creds("w1");
  Handshake worker(net, w1_pem, w1);
  // w2, enrolled, talks to w1 as its previous stage would.
  auto w2_creds = Creds("w2");
  auto w2_ch = *net.Node("w2", w2_pem)->Dial("worker:1");
  auto w2_session = ClientSession::Open(*w2_ch, *w2_creds, kRolePeer, 5);
  ASSERT_TRUE(w2_session.ok()) << w2_session.status().message();
  ASSERT_TRUE(Ping(*w2_ch, **w2_session).ok());

  ASSERT_TRUE(Ca().Revoke("w2").ok());
  auto head = Creds("ca");  // a head started after the revocation
  auto head_ch = *net.Node("head", head_pem)->Dial("worker:1");
  ASSERT_TRUE(ClientSession::Open(*head_ch, *head, kRoleHead, 5).ok());
  EXPECT_EQ(w1->crl_number(), 2u);  // handed over in Authenticate
  // w2's session ends at its next call, and it cannot open another.
  EXPECT_EQ(Ping(*w2_ch, **w2_session).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(ClientSession::Open(*w2_ch, *w2_creds, kRolePeer, 5).status().code(),
            StatusCode::kUnauthenticated);
  // And the head refuses w2 as a worker.
  FakeNetwork net2;
  Handshake fake_w2(net2, w2_pem, w2_creds);
  auto ch = *net2.Node("head", head_pem)->Dial("worker:1");
  auto refused = ClientSession::Open(*ch, *head, kRoleHead, 5);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(refused.status().message().find("revoked"), std::string::npos)
      << refused.status().message();
}

TEST(LinkProtectionTest, PlainTcpStaysOnLoopbackUnlessAllowed) {
  SecurityOptions plain;
  plain.token = "0123456789abcdef";
  for (const char* a : {"127.0.0.1:7000", "localhost:1", "[::1]:7", "127.9.9.9:0"})
    EXPECT_TRUE(CheckLinkProtection(a, plain).ok()) << a;
  for (const char* a : {"10.0.0.2:7000", "0.0.0.0:7070", "[::]:1", "example.com:80",
                        "localhost.evil.example:1", "192.168.1.5:7"})
    EXPECT_EQ(CheckLinkProtection(a, plain).code(), StatusCode::kPermissionDenied) << a;
  SecurityOptions allowed = plain;
  allowed.allow_plaintext_remote = true;
  EXPECT_TRUE(CheckLinkProtection("10.0.0.2:7000", allowed).ok());
  SecurityOptions tls = plain;
  tls.tls_cert = tls.tls_key = tls.tls_ca = "/some/file";
  EXPECT_TRUE(CheckLinkProtection("10.0.0.2:7000", tls).ok());
}

}  // namespace
}  // namespace suanli::cluster
