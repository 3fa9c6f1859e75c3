// RpcServer: the worker's end of pool calls, message by message, with every limit a stranger
// meets before it can cost anything.
//
// A call's headers are checked before a byte of its body is read: a method that needs a session
// is refused (UNAUTHENTICATED) when the gate says no, and its body is never read; unread bytes
// are bounded by HTTP/2 flow control. The handshake's own messages travel in headers (bounded by
// the metadata limit), so no call reads a body without a session. Beyond that: each method's
// message size limit, a cap on calls in flight (each holds a thread), a smaller one on
// handshakes in flight overall and per host, a cap on streams per connection, and idle
// connections are closed.
//
// The implementation is gRPC's generic callback API (a call is a stream of serialized protobuf
// messages); handlers see only ServerCall (transport.h), so they do not depend on it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/transport.h"
#include "suanli/status.h"

namespace suanli::cluster {

class RpcServer final : public Server {
 public:
  // Listens on `listen` ("host:port"; port 0: any free one). Errors: the address cannot be
  // bound, bad TLS files.
  static StatusOr<std::unique_ptr<RpcServer>> Start(const std::string& listen,
                                                    const SecurityOptions& sec,
                                                    std::vector<RpcMethod> methods, Gate gate,
                                                    const RpcLimits& limits = {});
  ~RpcServer() override;
  int port() const override;
  void Wait() override;
  void Shutdown() override;

  struct Impl;

 private:
  explicit RpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace suanli::cluster
