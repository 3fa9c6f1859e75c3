#include "cluster/session.h"

#include <algorithm>

#include "cluster/auth.h"
#include "cluster/transport.h"

namespace suanli::cluster {

namespace {

constexpr size_t kNonceBytes = 16;
constexpr size_t kMaxPending = 1024;   // handshakes begun, not finished
constexpr size_t kMaxSessions = 1024;  // the least recently used goes beyond
constexpr auto kPendingLife = std::chrono::seconds(10);
constexpr auto kSessionIdle = std::chrono::minutes(30);
constexpr uint64_t kWindow = 4096;  // calls may arrive this far out of order
constexpr int kMaxFailures = 8;     // failed proofs from one host within kFailureSpan ...
constexpr auto kFailureSpan = std::chrono::seconds(60);
constexpr auto kBlockFor = std::chrono::seconds(30);  // ... block it this long

// The MAC inputs: fixed-length nonces, a role from a fixed set and fingerprints in hex between
// separators, so no two inputs collide.
std::string Bound(std::string_view what, std::string_view role, std::string_view cn,
                  std::string_view wn, std::string_view fc, std::string_view fw) {
  return "suanli/6 " + std::string(what) + "|" + std::string(role) + "|" + std::string(cn) +
         std::string(wn) + "|" + ToHex(fc) + "|" + ToHex(fw);
}
std::string WorkerProofOf(std::string_view token, std::string_view role, std::string_view cn,
                          std::string_view wn, std::string_view fc, std::string_view fw) {
  return HmacSha256(token, Bound("worker", role, cn, wn, fc, fw));
}
std::string ClientProofOf(std::string_view token, std::string_view role, std::string_view cn,
                          std::string_view wn, std::string_view fc, std::string_view fw) {
  return HmacSha256(token, Bound("client", role, cn, wn, fc, fw));
}
std::string SessionKeyOf(std::string_view token, std::string_view role, std::string_view cn,
                         std::string_view wn, std::string_view fc, std::string_view fw) {
  return HmacSha256(token, Bound("session", role, cn, wn, fc, fw));
}
std::string CallMac(std::string_view key, std::string_view method, std::string_view id,
                    uint64_t counter) {
  return ToHex(
      HmacSha256(key, std::string(method) + "|" + std::string(id) + "|" + std::to_string(counter)));
}

}  // namespace

Status CallHello(Channel& ch, const v1::HelloRequest& req, v1::HelloReply* reply, double seconds,
                 std::string* peer_cert) {
  CallOptions o;
  o.seconds = seconds;
  o.peer_certificate = peer_cert;
  o.headers.emplace_back(kHandshakeHeader, req.SerializeAsString());
  return ch.Call("Hello", o, v1::HelloRequest(), reply);  // the body is never read
}

Status CallAuthenticate(Channel& ch, const v1::AuthenticateRequest& req,
                        v1::AuthenticateReply* reply, double seconds, std::string* peer_cert) {
  CallOptions o;
  o.seconds = seconds;
  o.peer_certificate = peer_cert;
  o.headers.emplace_back(kHandshakeHeader, req.SerializeAsString());
  return ch.Call("Authenticate", o, v1::AuthenticateRequest(), reply);
}

StatusOr<std::shared_ptr<ClientSession>> ClientSession::Open(Channel& ch, std::string_view token,
                                                             std::string_view role, double seconds,
                                                             v1::AuthenticateReply* reply) {
  return Open(ch, Credentials(std::string(token)), role, seconds, reply);
}

StatusOr<std::shared_ptr<ClientSession>> ClientSession::Open(Channel& ch, const Credentials& creds,
                                                             std::string_view role, double seconds,
                                                             v1::AuthenticateReply* reply) {
  const std::string cn = RandomNonce();  // fresh for every connection
  v1::HelloRequest hello;
  hello.set_nonce(cn);
  hello.set_role(std::string(role));
  v1::HelloReply challenge;
  std::string cert;
  SL_RETURN_IF_ERROR(CallHello(ch, hello, &challenge, seconds, &cert).WithContext("hello"));
  if (challenge.protocol_version() != kProtocolVersion)
    return FailedPrecondition("speaks protocol " + std::to_string(challenge.protocol_version()) +
                              ", this build " + std::to_string(kProtocolVersion) +
                              " (run the same suanli version everywhere)");
  SL_ASSIGN_OR_RETURN(CertInfo worker, creds.CheckPeer(cert));
  const std::string& fc = creds.fingerprint();
  const std::string& wn = challenge.worker_nonce();
  if (wn.size() != kNonceBytes ||
      !SecureEquals(challenge.proof(),
                    WorkerProofOf(creds.token(), role, cn, wn, fc, worker.fingerprint)))
    return Unauthenticated(
        "it does not prove it knows the pool token (is the token the same on both sides?)");
  v1::AuthenticateRequest auth;
  auth.set_client_nonce(cn);
  auth.set_worker_nonce(wn);
  auth.set_proof(ClientProofOf(creds.token(), role, cn, wn, fc, worker.fingerprint));
  if (creds.crl_number() > challenge.crl_number()) auth.set_crl(creds.crl());
  v1::AuthenticateReply answer;
  std::string cert2;
  SL_RETURN_IF_ERROR(
      CallAuthenticate(ch, auth, &answer, seconds, &cert2).WithContext("authenticate"));
  if (cert2 != cert)  // both calls must reach the certificate the proof was bound to
    return Unauthenticated("its certificate changed during the handshake");
  if (answer.session_id().empty() || answer.session_id().size() > 64)
    return Unauthenticated("it answered without a session");
  if (reply) *reply = answer;
  return std::shared_ptr<ClientSession>(new ClientSession(
      answer.session_id(), SessionKeyOf(creds.token(), role, cn, wn, fc, worker.fingerprint),
      worker.serial));
}

CallOptions ClientSession::Sign(std::string_view method, double seconds) {
  const uint64_t n = ++counter_;
  CallOptions o;
  o.seconds = seconds;
  o.headers = {{kSessionKey, id_},
               {kCounterKey, std::to_string(n)},
               {kMacKey, CallMac(key_, method, id_, n)}};
  return o;
}

SessionTable::SessionTable(std::shared_ptr<Credentials> creds, const Clock& clock)
    : creds_(std::move(creds)), clock_(clock) {}

size_t SessionTable::sessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

bool SessionTable::BackedOff(const std::string& host, std::chrono::steady_clock::time_point now) {
  auto it = failures_.find(host);
  return it != failures_.end() && now < it->second.blocked_until;
}

void SessionTable::Failed(const std::string& host, std::chrono::steady_clock::time_point now) {
  if (failures_.size() > 4096) failures_.clear();  // bounded; forgetting only loosens back-off
  Failures& f = failures_[host];
  if (now - f.since > kFailureSpan) {
    f.since = now;
    f.count = 0;
  }
  if (++f.count >= kMaxFailures) {
    f.blocked_until = now + kBlockFor;
    f.count = 0;
  }
}

Status SessionTable::Challenge(const v1::HelloRequest& req, const std::string& peer,
                               const std::string& peer_cert, v1::HelloReply* reply) {
  if (req.nonce().size() != kNonceBytes) return InvalidArgument("nonce must be 16 bytes");
  if (req.role() != kRoleHead && req.role() != kRolePeer)
    return InvalidArgument("role must be \"head\" or \"peer\"");
  const auto now = clock_.Now();
  const std::string wn = RandomNonce();
  auto client = creds_->CheckPeer(peer_cert);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (BackedOff(HostOf(peer), now))
      return ResourceExhausted("too many failed handshakes from this host; wait 30 s");
    if (!client.ok()) {
      Failed(HostOf(peer), now);
      return client.status();
    }
    // Oldest first: entries already used, expired, or over the bound.
    while (!pending_order_.empty()) {
      auto front = pending_.find(pending_order_.front());
      if (front != pending_.end() && front->second.expires >= now && pending_.size() < kMaxPending)
        break;
      if (front != pending_.end()) pending_.erase(front);
      pending_order_.pop_front();
    }
    pending_[wn] = {req.nonce(), req.role(), client->fingerprint, client->serial,
                    now + kPendingLife};
    pending_order_.push_back(wn);
  }
  reply->set_protocol_version(kProtocolVersion);
  reply->set_worker_nonce(wn);
  reply->set_proof(WorkerProofOf(creds_->token(), req.role(), req.nonce(), wn, client->fingerprint,
                                 creds_->fingerprint()));
  reply->set_crl_number(creds_->crl_number());
  return Status::Ok();
}

StatusOr<std::string> SessionTable::Accept(const v1::AuthenticateRequest& req,
                                           const std::string& peer, const std::string& peer_cert) {
  const auto now = clock_.Now();
  auto client = creds_->CheckPeer(peer_cert);  // outside the lock: it parses a certificate
  std::unique_lock<std::mutex> lock(mu_);
  const std::string host = HostOf(peer);
  if (BackedOff(host, now))
    return ResourceExhausted("too many failed handshakes from this host; wait 30 s");
  auto it = pending_.find(req.worker_nonce());
  if (it == pending_.end() || it->second.expires < now ||
      !SecureEquals(it->second.client_nonce, req.client_nonce())) {
    Failed(host, now);
    return Unauthenticated("no such handshake (it expired, or was used already)");
  }
  const Pending p = it->second;
  pending_.erase(it);  // each handshake once
  if (!client.ok() || client->fingerprint != p.client_fingerprint) {
    Failed(host, now);
    return Unauthenticated("the client's certificate is not the one its Hello came with");
  }
  if (!SecureEquals(req.proof(),
                    ClientProofOf(creds_->token(), p.role, p.client_nonce, req.worker_nonce(),
                                  p.client_fingerprint, creds_->fingerprint()))) {
    Failed(host, now);
    return Unauthenticated("wrong proof: this client does not know the pool token");
  }
  if (!req.crl().empty()) {  // from a member that proved the token; taken if the CA signed it
    lock.unlock();
    auto taken = creds_->Offer(req.crl());
    if (!taken.ok()) return taken.status().WithContext("the revocation list it sent");
    if (!p.client_serial.empty() && creds_->Revoked(p.client_serial))
      return Unauthenticated("its own certificate was revoked");
    lock.lock();
  }
  // Room: idle sessions go first, then the least recently used.
  for (auto s = sessions_.begin(); s != sessions_.end();)
    s = now - s->second.last_used > kSessionIdle ? sessions_.erase(s) : std::next(s);
  while (sessions_.size() >= kMaxSessions) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    sessions_.erase(oldest);
  }
  const std::string id = ToHex(RandomNonce());
  Session& s = sessions_[id];
  s.key = SessionKeyOf(creds_->token(), p.role, p.client_nonce, req.worker_nonce(),
                       p.client_fingerprint, creds_->fingerprint());
  s.role = p.role;
  s.client_serial = p.client_serial;
  s.last_used = now;
  return id;
}

bool SessionTable::Verify(std::string_view method,
                          const std::function<std::string(std::string_view)>& header) {
  const std::string id = header(kSessionKey), count = header(kCounterKey), mac = header(kMacKey);
  // 19 digits at most: every such number fits in 64 bits (stoull would throw past them).
  if (id.empty() || count.empty() || count.size() > 19 || mac.size() != 64) return false;
  if (!std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  const uint64_t n = std::stoull(count);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  Session& s = it->second;
  if (!SecureEquals(mac, CallMac(s.key, method, id, n))) return false;
  if (s.role == kRolePeer && method != "Forward" && method != "Ping") return false;
  if (!s.client_serial.empty() && creds_->Revoked(s.client_serial)) {  // revoked since
    sessions_.erase(it);
    return false;
  }
  // Each counter once: above the window's floor and not taken yet.
  if (n == 0 || (s.max_counter > kWindow && n <= s.max_counter - kWindow) || s.recent.count(n))
    return false;
  s.recent.insert(n);
  s.max_counter = std::max(s.max_counter, n);
  while (!s.recent.empty() && s.max_counter > kWindow &&
         *s.recent.begin() <= s.max_counter - kWindow)
    s.recent.erase(s.recent.begin());
  s.last_used = clock_.Now();
  return true;
}

}  // namespace suanli::cluster
