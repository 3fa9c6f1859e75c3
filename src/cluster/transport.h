// Transport: how pool nodes call each other, message by message, with no wire library in sight.
//
// A node dials a Channel to an address and makes calls on it: unary (one request, one reply) or
// a stream (messages either way until one side ends it). Every call has headers (the session MAC,
// the handshake) and may have a deadline; its end is a suanli Status whose code travelled as a
// code. A node serves with Serve: named methods whose handlers see a ServerCall. The head (Pool,
// PipelineClient), the workers and their sessions see only these types; grpc_transport.h is the
// real network (gRPC), fake_transport.h an in-process one that drops, delays, partitions and kills
// on command, for tests and the simulator.
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "suanli/status.h"

namespace suanli::cluster {

// The largest message either side accepts. Steps are sized well below it (a prompt chunk's
// activations or logits); anything bigger is refused before it is parsed.
inline constexpr int kMaxMessageBytes = 128 << 20;
// A pipeline as the workers know it: a label for logs and messages, and the capability every
// call on it presents (random, secret: never logged, never in an error message).
struct PipelineKey {
  std::string id;
  std::string capability;
};

// 4: capabilities; 5: handshake in headers (worker.proto); 6: proofs bound to certificates
inline constexpr uint32_t kProtocolVersion = 6;

// Every link pings its peer this often when idle and gives up on it after as long without an
// answer, so a peer that froze, died or was cut off breaks its streams within about 2 s. Servers
// accept pings twice as often.
inline constexpr int kKeepaliveMs = 1000;
// Closing a stream waits at most this long for a peer to acknowledge.
inline constexpr double kCloseSeconds = 5;

struct SecurityOptions {
  std::string token;     // the pool token (auth.h)
  std::string tls_cert;  // PEM files; all three empty: plain TCP
  std::string tls_key;
  std::string tls_ca;           // peers are verified against this CA
  std::string tls_crl;          // the pool's revocation list (pool_ca.h); optional
  std::string tls_server_name;  // the name peers' certificates carry; "": the dialled host
  // Plain TCP to or from an address off loopback (by default refused: it shows prompts,
  // activations and outputs to the network).
  bool allow_plaintext_remote = false;
  bool tls() const { return !tls_cert.empty() || !tls_key.empty() || !tls_ca.empty(); }
  // All or none of the TLS files, each readable.
  Status Validate() const;
  // A pool directory or a device's bundle (pool_ca.h): its token, certificate, key, CA and CRL,
  // peers checked against the pool's name. Errors: files missing (enroll the device first).
  static StatusOr<SecurityOptions> FromPoolDir(const std::string& dir);
};

// Whether a link to or from `address` ("host:port") may go ahead under `sec`: TLS, loopback, or
// plain TCP allowed explicitly (then a warning is printed once). Errors: kPermissionDenied.
Status CheckLinkProtection(const std::string& address, const SecurityOptions& sec);

// The host part of a peer string: "ipv4:1.2.3.4:5" → "ipv4:1.2.3.4".
std::string HostOf(const std::string& peer);

// The deadline of a transfer of `bytes`: a fixed allowance plus the time at a pessimistic
// bandwidth, so a 4 GB stream is not cut at the default while a dead peer is still noticed.
double TransferDeadlineSeconds(uint64_t bytes, double bytes_per_second);

using Headers = std::vector<std::pair<std::string, std::string>>;

struct CallOptions {
  double seconds = 0;  // the call's deadline from now; 0: none (streams that live long)
  Headers headers;
  // Unary calls: when set, receives the certificate the server presented (PEM; "" on plain TCP),
  // so the handshake can bind to it.
  std::string* peer_certificate = nullptr;
};

// The client's end of a stream. Read/Write block; both return false once the call ended (Finish
// then says how). One reader and one writer may work at once; Cancel from any thread.
class ClientStream {
 public:
  virtual ~ClientStream() = default;
  // Until the server sent its response headers: false when the call ended first.
  virtual bool WaitForHeaders() = 0;
  virtual bool Write(const google::protobuf::MessageLite& m) = 0;
  virtual bool Read(google::protobuf::MessageLite* m) = 0;
  // No more writes (the server's reads end).
  virtual bool WritesDone() = 0;
  // Waits for the call's end and returns its status (once the server ended it, the deadline
  // passed, the link broke or Cancel was called).
  virtual Status Finish() = 0;
  virtual void Cancel() = 0;
};

// Ends a stream within `seconds`: WritesDone (when `writes_done`), the server's last message into
// `reply` (when given), then Finish; the call is cancelled when the peer has not ended it by
// then, so a frozen peer cannot hold the caller.
Status FinishWithin(ClientStream& s, double seconds, bool writes_done,
                    google::protobuf::MessageLite* reply = nullptr);

// Calls to one address. Thread-safe; calls on one channel share its connection.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual const std::string& address() const = 0;
  // A unary call: `method` is the bare name ("Ping").
  virtual Status Call(std::string_view method, const CallOptions& o,
                      const google::protobuf::MessageLite& request,
                      google::protobuf::MessageLite* reply) = 0;
  // A stream (never null: a stream that could not start fails its first operation).
  virtual std::unique_ptr<ClientStream> Open(std::string_view method, const CallOptions& o) = 0;
};

// One call as its handler sees it. Read/Write block; both return false once the call ended
// (the caller half-closed, cancelled, or its connection broke) or, for Read, on a message over
// the method's limit or one that does not parse (the call then ends with that error).
class ServerCall {
 public:
  virtual ~ServerCall() = default;
  virtual const std::string& method() const = 0;  // "Forward": no service prefix
  virtual const std::string& peer() const = 0;    // "ipv4:127.0.0.1:5555"
  // The certificate the caller presented (PEM, verified against the CA); "" on plain TCP.
  virtual const std::string& peer_certificate() const = 0;
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

// What a stranger meets before it can cost anything (rpc_server.h says how each is enforced).
struct RpcLimits {
  size_t max_calls = 256;      // calls with a session, in flight (each holds a thread)
  size_t max_handshakes = 32;  // sessionless calls in flight
  size_t max_handshakes_per_host = 4;
  int max_streams_per_connection = 64;
  int max_header_bytes = 16 << 10;
  int idle_connection_ms = 5 * 60 * 1000;  // no call for this long: the connection is closed
};

// Decides from the headers alone whether a call of a method that needs a session may run.
using Gate = std::function<bool(const ServerCall&)>;

// A listening node.
class Server {
 public:
  virtual ~Server() = default;
  virtual int port() const = 0;
  // Returns once Shutdown has finished.
  virtual void Wait() = 0;
  // Ends every call (handlers see Read/Write fail and Cancelled()) and waits for the handlers to
  // return. Idempotent.
  virtual void Shutdown() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual StatusOr<std::shared_ptr<Channel>> Dial(const std::string& address) = 0;
  // Listens on `listen` ("host:port"; port 0: any free one). Errors: the address cannot be
  // bound, bad TLS files.
  virtual StatusOr<std::unique_ptr<Server>> Serve(const std::string& listen,
                                                  std::vector<RpcMethod> methods, Gate gate,
                                                  const RpcLimits& limits) = 0;
};

}  // namespace suanli::cluster
