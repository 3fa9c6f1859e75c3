// Sessions: mutual authentication of the two ends of a pool link, and a MAC on every call.
//
// The pool token never crosses the wire, and nothing either side sends can be replayed or
// relayed to authenticate elsewhere (protocol 6). With fc and fw the SHA-256 fingerprints of the
// client's and the worker's TLS certificates as each end saw them ("" on plain TCP):
//
//   client → Hello{cn, role}           cn: 16 fresh random bytes; role: "head" or "peer"
//   worker → HelloReply{wn, proof_w}   wn: 16 fresh bytes; proof_w = MAC(token, "worker"‖role‖
//                                      cn‖wn‖fc‖fw)
//   client checks proof_w (a stranger cannot make it; a relay between two TLS links sees other
//   fingerprints), then
//   client → Authenticate{cn, wn, proof_c, crl}   proof_c = MAC(token, "client"‖role‖cn‖wn‖fc‖fw)
//   worker checks proof_c → {session id, profile}
//
// Both sides then hold K = MAC(token, "session"‖role‖cn‖wn‖fc‖fw), and every other call carries
// (session id, counter, MAC(K, method‖id‖counter)); the worker takes each counter once and knows
// which role the session has (a peer worker may only Forward and Ping). A client that dials an
// impostor gives it a nonce and nothing else; the worker's proof covers the client's nonce, so it
// cannot be used as an answer to anybody else's challenge. Under TLS each end also refuses a
// certificate the pool revoked (credentials.h), and a head hands a newer revocation list to the
// worker in Authenticate. The worker keeps pending handshakes and sessions in bounded tables and
// refuses, for a while, a host whose proofs keep failing.
//
// Hello and Authenticate carry their requests in a header (kHandshakeHeader), so a worker reads
// no message body of a caller without a session (rpc_server.h), and checks a call's MAC from its
// headers before its body.
//
// What it does not do: on plain TCP the message bodies are neither encrypted nor MACed; TLS
// (pool certificates) covers that. docs/security.md has the threat model.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "cluster/credentials.h"
#include "cluster/transport.h"
#include "suanli/cluster/v1/worker.pb.h"
#include "suanli/status.h"

namespace suanli::cluster {

inline constexpr std::string_view kRoleHead = "head";
inline constexpr std::string_view kRolePeer = "peer";  // a worker calling the next stage
// The header that carries a serialized HelloRequest or AuthenticateRequest ("-bin": raw bytes).
inline constexpr const char* kHandshakeHeader = "x-suanli-handshake-bin";
// Every later call's headers: the session, the call's counter and its MAC (ClientSession::Sign).
inline constexpr const char* kSessionKey = "x-suanli-session";
inline constexpr const char* kCounterKey = "x-suanli-call";
inline constexpr const char* kMacKey = "x-suanli-mac";

// The handshake's two calls as sent on the wire (the request in kHandshakeHeader, within
// `seconds`): ClientSession::Open's steps, and what tests forge.
// `peer_cert` (when given) receives the certificate the worker presented.
Status CallHello(Channel& ch, const v1::HelloRequest& req, v1::HelloReply* reply, double seconds,
                 std::string* peer_cert = nullptr);
Status CallAuthenticate(Channel& ch, const v1::AuthenticateRequest& req,
                        v1::AuthenticateReply* reply, double seconds,
                        std::string* peer_cert = nullptr);

// The client's side of one link.
class ClientSession {
 public:
  // Runs the handshake on `ch` as `role` within `seconds`. Errors: unreachable (the call's
  // status), kUnauthenticated when the worker's proof is wrong (it does not know the token) or it
  // refuses ours, kFailedPrecondition for another protocol version. *reply gets the worker's
  // profile and address.
  static StatusOr<std::shared_ptr<ClientSession>> Open(Channel& ch, const Credentials& creds,
                                                       std::string_view role, double seconds,
                                                       v1::AuthenticateReply* reply = nullptr);
  // Plain TCP with `token` alone (tests).
  static StatusOr<std::shared_ptr<ClientSession>> Open(Channel& ch, std::string_view token,
                                                       std::string_view role, double seconds,
                                                       v1::AuthenticateReply* reply = nullptr);
  // The serial of the worker's certificate ("" on plain TCP), to notice a later revocation.
  const std::string& peer_serial() const { return peer_serial_; }
  // One call of `method`: its MAC (a fresh counter each time) and, when seconds > 0, a
  // deadline. Thread-safe.
  CallOptions Sign(std::string_view method, double seconds = 0);

 private:
  ClientSession(std::string id, std::string key, std::string serial)
      : id_(std::move(id)), key_(std::move(key)), peer_serial_(std::move(serial)) {}
  std::string id_;   // hex
  std::string key_;  // K
  std::string peer_serial_;
  std::atomic<uint64_t> counter_{0};
};

// The worker's side: pending handshakes and live sessions.
class SessionTable {
 public:
  // Expiry, idle sessions and back-off read `clock` (tests run them in virtual time).
  explicit SessionTable(std::shared_ptr<Credentials> creds, const Clock& clock = Clock::Real());

  // Hello from `peer` (its address, "ipv4:1.2.3.4:5") that presented `peer_cert` (PEM; "" on
  // plain TCP): the worker's nonce and proof. kUnauthenticated for a revoked certificate.
  Status Challenge(const v1::HelloRequest& req, const std::string& peer,
                   const std::string& peer_cert, v1::HelloReply* reply);
  // Authenticate: a new session's id, or kUnauthenticated / kResourceExhausted (back-off). A
  // revocation list it carries is offered to the credentials once the proof holds.
  StatusOr<std::string> Accept(const v1::AuthenticateRequest& req, const std::string& peer,
                               const std::string& peer_cert);
  // Whether a call carries a live session's MAC over a counter not used before, for `method`
  // (a peer session may only call Forward and Ping).
  // `header` gives a request header's value ("" when absent).
  bool Verify(std::string_view method, const std::function<std::string(std::string_view)>& header);

  size_t sessions() const;

 private:
  struct Pending {
    std::string client_nonce, role, client_fingerprint, client_serial;
    std::chrono::steady_clock::time_point expires;
  };
  struct Session {
    std::string key, role, client_serial;
    uint64_t max_counter = 0;
    std::set<uint64_t> recent;  // counters above max_counter - kWindow already taken
    std::chrono::steady_clock::time_point last_used;
  };
  bool BackedOff(const std::string& host, std::chrono::steady_clock::time_point now);
  void Failed(const std::string& host, std::chrono::steady_clock::time_point now);

  std::shared_ptr<Credentials> creds_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Pending> pending_;   // by worker nonce
  std::deque<std::string> pending_order_;    // oldest first, to bound pending_
  std::map<std::string, Session> sessions_;  // by id (hex)
  struct Failures {
    int count = 0;
    std::chrono::steady_clock::time_point since, blocked_until;
  };
  std::map<std::string, Failures> failures_;  // by peer host
};

}  // namespace suanli::cluster
