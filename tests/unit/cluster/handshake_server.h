// A worker's handshake over the fake network, the way WorkerServer serves it: Hello and
// Authenticate answered from a SessionTable with the certificate the caller presented, and a
// Ping that needs a session (tests of sessions, certificates and their timing).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/clock.h"
#include "cluster/fake_transport.h"
#include "cluster/session.h"

namespace suanli::cluster {

class Handshake {
 public:
  // Serves at "worker:1" as node "worker" presenting `node_cert`.
  Handshake(FakeNetwork& net, const std::string& node_cert, std::shared_ptr<Credentials> creds,
            const Clock& clock = Clock::Real())
      : table_(std::move(creds), clock) {
    std::vector<RpcMethod> ms;
    RpcMethod hello;
    hello.name = "Hello";
    hello.needs_session = false;
    hello.handler = [this](ServerCall& c) {
      v1::HelloRequest req;
      if (!req.ParseFromString(c.Header(kHandshakeHeader))) return InvalidArgument("header");
      v1::HelloReply rep;
      SL_RETURN_IF_ERROR(table_.Challenge(req, c.peer(), c.peer_certificate(), &rep));
      c.Write(rep);
      return Status::Ok();
    };
    ms.push_back(hello);
    RpcMethod auth;
    auth.name = "Authenticate";
    auth.needs_session = false;
    auth.handler = [this](ServerCall& c) {
      v1::AuthenticateRequest req;
      if (!req.ParseFromString(c.Header(kHandshakeHeader))) return InvalidArgument("header");
      SL_ASSIGN_OR_RETURN(std::string id, table_.Accept(req, c.peer(), c.peer_certificate()));
      v1::AuthenticateReply rep;
      rep.set_session_id(id);
      c.Write(rep);
      return Status::Ok();
    };
    ms.push_back(auth);
    ms.push_back(UnaryMethod<v1::PingRequest, v1::PingReply>(
        "Ping", 1024,
        [](ServerCall&, const v1::PingRequest&, v1::PingReply*) { return Status::Ok(); }));
    auto s =
        net.Node("worker", node_cert)
            ->Serve(
                "worker:1", std::move(ms),
                [this](const ServerCall& c) {
                  return table_.Verify(c.method(), [&](std::string_view k) { return c.Header(k); });
                },
                RpcLimits());
    EXPECT_TRUE(s.ok());
    server_ = std::move(*s);
  }
  ~Handshake() { server_->Shutdown(); }

 private:
  SessionTable table_;
  std::unique_ptr<Server> server_;
};

inline Status Ping(Channel& ch, ClientSession& s) {
  v1::PingReply rep;
  return ch.Call("Ping", s.Sign("Ping", 5), v1::PingRequest(), &rep);
}

}  // namespace suanli::cluster
