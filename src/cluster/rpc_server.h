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
// messages); handlers see only ServerCall, so they do not depend on it.
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/transport.h"
#include "suanli/status.h"

namespace suanli::cluster {

// One call as its handler sees it. Read/Write block; both return false once the call ended
// (the caller half-closed, cancelled, or its connection broke) or, for Read, on a message over
// the method's limit or one that does not parse (the call then ends with that error).
class ServerCall {
 public:
  virtual ~ServerCall() = default;
  virtual const std::string& method() const = 0;  // "Forward": no service prefix
  virtual const std::string& peer() const = 0;    // "ipv4:127.0.0.1:5555"
  // The value of a request header ("" when absent); "-bin" keys give the decoded bytes.
  virtual std::string Header(std::string_view key) const = 0;
  virtual bool Read(google::protobuf::MessageLite* m) = 0;
  virtual bool Write(const google::protobuf::MessageLite& m) = 0;
  // Sends the response headers now (a stream whose client waits for them before writing).
  virtual bool SendHeaders() = 0;
  virtual bool Cancelled() const = 0;
};

struct RpcMethod {
  std::string name;
  // false only for the handshake, whose messages come in headers (the handler reads no body).
  bool needs_session = true;
  size_t max_message_bytes = 64 << 10;
  std::function<Status(ServerCall&)> handler;
};

// The usual one-request, one-reply method: the handler fills the reply, sent when it returns OK.
template <typename Req, typename Rep, typename F>
RpcMethod UnaryMethod(std::string name, size_t max_message_bytes, F f) {
  RpcMethod m;
  m.name = std::move(name);
  m.max_message_bytes = max_message_bytes;
  m.handler = [f = std::move(f)](ServerCall& call) -> Status {
    Req req;
    if (!call.Read(&req)) return InvalidArgument(call.method() + ": no request message");
    Rep rep;
    SL_RETURN_IF_ERROR(f(call, req, &rep));
    if (!call.Write(rep)) return Cancelled(call.method() + ": the caller went away");
    return Status::Ok();
  };
  return m;
}

struct RpcLimits {
  size_t max_calls = 256;      // calls with a session, in flight (each holds a thread)
  size_t max_handshakes = 32;  // sessionless calls in flight
  size_t max_handshakes_per_host = 4;
  int max_streams_per_connection = 64;
  int max_header_bytes = 16 << 10;
  int idle_connection_ms = 5 * 60 * 1000;  // no call for this long: the connection is closed
};

class RpcServer {
 public:
  // Decides from the headers alone whether a call of a method that needs a session may run.
  using Gate = std::function<bool(const ServerCall&)>;
  // Listens on `listen` ("host:port"; port 0: any free one). Errors: the address cannot be
  // bound, bad TLS files.
  static StatusOr<std::unique_ptr<RpcServer>> Start(const std::string& listen,
                                                    const SecurityOptions& sec,
                                                    std::vector<RpcMethod> methods, Gate gate,
                                                    const RpcLimits& limits = {});
  ~RpcServer();
  int port() const;
  // Returns once Shutdown has finished.
  void Wait();
  // Ends every call (handlers see Read/Write fail and Cancelled()) and waits for the handlers to
  // return. Idempotent.
  void Shutdown();

  struct Impl;

 private:
  explicit RpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace suanli::cluster
