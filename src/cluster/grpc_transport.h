// The real network: Transport over gRPC (HTTP/2 on TCP, TLS with --tls-*), with the pool's
// keepalive, message limits and status mapping. Servers are RpcServer (rpc_server.h). Every
// method travels as a generic stream of serialized messages, so one client and one server
// implementation carry every call; worker.proto names the messages and methods.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "cluster/transport.h"
#include "suanli/status.h"

namespace suanli::cluster {

// The prefix of every method's gRPC path.
inline constexpr std::string_view kServicePrefix = "/suanli.cluster.v1.Worker/";

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(SecurityOptions sec) : sec_(std::move(sec)) {}
  StatusOr<std::shared_ptr<Channel>> Dial(const std::string& address) override;
  StatusOr<std::unique_ptr<Server>> Serve(const std::string& listen, std::vector<RpcMethod> methods,
                                          Gate gate, const RpcLimits& limits) override;

 private:
  SecurityOptions sec_;
};

// Blocking operations over a gRPC callback reactor (the client's streams and RpcServer's calls):
// a thread Begins an operation (refused when `stop()` holds, or one of its kind is pending),
// starts it on the reactor and Waits; the reactor's callback reports Done. mu and cv guard the
// owner's other state too.
struct ReactorOps {
  struct Op {
    bool pending = false;
    bool ok = false;
  };
  template <typename Stop>
  bool Begin(Op* op, Stop stop) {
    std::lock_guard<std::mutex> lock(mu);
    if (stop() || op->pending) return false;
    op->pending = true;
    return true;
  }
  bool Wait(Op* op) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !op->pending; });
    return op->ok;
  }
  void Done(Op* op, bool ok) {
    {
      std::lock_guard<std::mutex> lock(mu);
      op->pending = false;
      op->ok = ok;
    }
    cv.notify_all();
  }
  mutable std::mutex mu;
  std::condition_variable cv;
};

// A channel to a worker, with keepalive and the message limit (tests that forge calls with the
// generated stub use it directly).
StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                     const SecurityOptions& sec);
StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& sec);

// The certificate the peer presented on a TLS connection (PEM), "" otherwise.
std::string PeerCertificate(const grpc::AuthContext* ac);

// Sets a deadline `seconds` from now.
void SetDeadline(grpc::ClientContext* ctx, double seconds);

// The status a call ended with, as suanli says it: the code kept, the message explained for the
// codes a user meets (unreachable, no answer in time, rejected token).
Status FromGrpc(const grpc::Status& s);
grpc::Status ToGrpc(const Status& s);

}  // namespace suanli::cluster
