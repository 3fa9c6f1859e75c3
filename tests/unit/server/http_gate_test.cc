// The request gate: Host (DNS rebinding), Origin, API key and body size, checked before a body is
// read.
#include "server/http_gate.h"

#include <gtest/gtest.h>

#include "base/net_address.h"

namespace suanli::server {
namespace {

GateRequest Req(std::string host, std::string path = "/v1/models", std::string auth = "") {
  GateRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.host = std::move(host);
  r.authorization = std::move(auth);
  return r;
}

TEST(HttpGate, HostHeaderGuardsAgainstRebinding) {
  GateConfig c;
  c.bound_host = "127.0.0.1";
  c.port = 8080;
  EXPECT_FALSE(CheckGate(c, Req("127.0.0.1:8080")));
  EXPECT_FALSE(CheckGate(c, Req("localhost:8080")));
  EXPECT_FALSE(CheckGate(c, Req("[::1]:8080")));
  auto e = CheckGate(c, Req("evil.example:8080"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 403);
  EXPECT_TRUE(CheckGate(c, Req("")));                  // no Host at all
  EXPECT_TRUE(CheckGate(c, Req("192.168.1.9:8080")));  // not our address
  c.allowed_hosts = {"llm.internal"};
  EXPECT_FALSE(CheckGate(c, Req("llm.internal")));
  // Listening on every address: IP literals pass, names still do not.
  c.bound_host = "0.0.0.0";
  EXPECT_FALSE(CheckGate(c, Req("192.168.1.9:8080")));
  EXPECT_TRUE(CheckGate(c, Req("attacker.example:8080")));
}

TEST(HttpGate, ForeignOriginsAreRefused) {
  GateConfig c;
  c.bound_host = "127.0.0.1";
  GateRequest r = Req("127.0.0.1:8080");
  r.origin = "http://127.0.0.1:8080";  // the dashboard itself
  EXPECT_FALSE(CheckGate(c, r));
  r.origin = "https://evil.example";
  ASSERT_TRUE(CheckGate(c, r));
  EXPECT_EQ(CheckGate(c, r)->status, 403);
  r.origin = "null";
  EXPECT_TRUE(CheckGate(c, r));
  c.cors_origin = "https://app.example";
  r.origin = "https://app.example";
  EXPECT_FALSE(CheckGate(c, r));
}

TEST(HttpGate, ApiKeyGuardsAllButHealthAndTheDashboard) {
  GateConfig c;
  c.bound_host = "127.0.0.1";
  c.api_key = "sekrit-key";
  auto e = CheckGate(c, Req("localhost", "/v1/models"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 401);
  EXPECT_EQ(e->code, "invalid_api_key");
  EXPECT_TRUE(CheckGate(c, Req("localhost", "/v1/models", "Bearer wrong")));
  EXPECT_TRUE(CheckGate(c, Req("localhost", "/v1/models", "sekrit-key")));  // no "Bearer"
  EXPECT_TRUE(CheckGate(c, Req("localhost", "/v1/models", "Bearer sekrit-key2")));
  EXPECT_FALSE(CheckGate(c, Req("localhost", "/v1/models", "Bearer sekrit-key")));
  EXPECT_FALSE(CheckGate(c, Req("localhost", "/health")));
  EXPECT_FALSE(CheckGate(c, Req("localhost", "/")));
  EXPECT_FALSE(CheckGate(c, Req("localhost", "/dashboard/dashboard.js")));
  EXPECT_TRUE(CheckGate(c, Req("localhost", "/metrics")));
  GateRequest post = Req("localhost", "/health");
  post.method = "POST";
  EXPECT_TRUE(CheckGate(c, post));  // only GET is open
}

TEST(HttpGate, BodySizeIsCheckedFromTheHeader) {
  GateConfig c;
  c.bound_host = "127.0.0.1";
  c.max_body_bytes = 1000;
  GateRequest r = Req("localhost", "/v1/completions");
  r.method = "POST";
  r.content_length = "1000";
  EXPECT_FALSE(CheckGate(c, r));
  r.content_length = "1001";
  ASSERT_TRUE(CheckGate(c, r));
  EXPECT_EQ(CheckGate(c, r)->status, 413);
  r.content_length = "99999999999999999999999";
  EXPECT_TRUE(CheckGate(c, r));
  r.content_length = "12abc";
  EXPECT_EQ(CheckGate(c, r)->status, 400);
}

TEST(HttpGate, Helpers) {
  EXPECT_EQ(HostOfAddress("Example.COM:80"), "example.com");
  EXPECT_EQ(HostOfAddress("[::1]:8080"), "::1");
  EXPECT_EQ(HostOfAddress("::1"), "::1");
  EXPECT_TRUE(IsLoopbackHost("127.0.0.2"));
  EXPECT_TRUE(IsLoopbackHost("app.localhost"));
  EXPECT_FALSE(IsLoopbackHost("localhost.evil.example"));
  EXPECT_TRUE(SecureEqual("abc", "abc"));
  EXPECT_FALSE(SecureEqual("abc", "abd"));
  EXPECT_FALSE(SecureEqual("abc", "abcd"));
}

}  // namespace
}  // namespace suanli::server
