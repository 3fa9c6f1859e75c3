#include "cluster/session.h"

#include <algorithm>

#include "cluster/auth.h"
#include "cluster/transport.h"

namespace suanli::cluster {

namespace {

constexpr const char* kSessionKey = "x-suanli-session";
constexpr const char* kCounterKey = "x-suanli-call";
constexpr const char* kMacKey = "x-suanli-mac";
constexpr size_t kNonceBytes = 16;
constexpr size_t kMaxPending = 1024;   // handshakes begun, not finished
constexpr size_t kMaxSessions = 1024;  // the least recently used goes beyond
constexpr auto kPendingLife = std::chrono::seconds(10);
constexpr auto kSessionIdle = std::chrono::minutes(30);
constexpr uint64_t kWindow = 4096;  // calls may arrive this far out of order
constexpr int kMaxFailures = 8;     // failed proofs from one host within kFailureSpan ...
constexpr auto kFailureSpan = std::chrono::seconds(60);
constexpr auto kBlockFor = std::chrono::seconds(30);  // ... block it this long

// The MAC inputs: fixed-length nonces and a role from a fixed set, so no two inputs collide.
std::string WorkerProofOf(std::string_view token, std::string_view role, std::string_view cn,
                          std::string_view wn) {
  return HmacSha256(
      token, "suanli/4 worker|" + std::string(role) + "|" + std::string(cn) + std::string(wn));
}
std::string ClientProofOf(std::string_view token, std::string_view role, std::string_view cn,
                          std::string_view wn) {
  return HmacSha256(
      token, "suanli/4 client|" + std::string(role) + "|" + std::string(cn) + std::string(wn));
}
std::string SessionKeyOf(std::string_view token, std::string_view role, std::string_view cn,
                         std::string_view wn) {
  return HmacSha256(
      token, "suanli/4 session|" + std::string(role) + "|" + std::string(cn) + std::string(wn));
}
std::string CallMac(std::string_view key, std::string_view method, std::string_view id,
                    uint64_t counter) {
  return ToHex(
      HmacSha256(key, std::string(method) + "|" + std::string(id) + "|" + std::to_string(counter)));
}

}  // namespace

Status CallHello(Channel& ch, const v1::HelloRequest& req, v1::HelloReply* reply, double seconds) {
  CallOptions o;
  o.seconds = seconds;
  o.headers.emplace_back(kHandshakeHeader, req.SerializeAsString());
  return ch.Call("Hello", o, v1::HelloRequest(), reply);  // the body is never read
}

Status CallAuthenticate(Channel& ch, const v1::AuthenticateRequest& req,
                        v1::AuthenticateReply* reply, double seconds) {
  CallOptions o;
  o.seconds = seconds;
  o.headers.emplace_back(kHandshakeHeader, req.SerializeAsString());
  return ch.Call("Authenticate", o, v1::AuthenticateRequest(), reply);
}

StatusOr<std::shared_ptr<ClientSession>> ClientSession::Open(Channel& ch, std::string_view token,
                                                             std::string_view role, double seconds,
                                                             v1::AuthenticateReply* reply) {
  const std::string cn = RandomNonce();  // fresh for every connection
  v1::HelloRequest hello;
  hello.set_nonce(cn);
  hello.set_role(std::string(role));
  v1::HelloReply challenge;
  SL_RETURN_IF_ERROR(CallHello(ch, hello, &challenge, seconds).WithContext("hello"));
  if (challenge.protocol_version() != kProtocolVersion)
    return FailedPrecondition("speaks protocol " + std::to_string(challenge.protocol_version()) +
                              ", this build " + std::to_string(kProtocolVersion) +
                              " (run the same suanli version everywhere)");
  const std::string& wn = challenge.worker_nonce();
  if (wn.size() != kNonceBytes ||
      !SecureEquals(challenge.proof(), WorkerProofOf(token, role, cn, wn)))
    return Unauthenticated(
        "it does not prove it knows the pool token (is the token the same on both sides?)");
  v1::AuthenticateRequest auth;
  auth.set_client_nonce(cn);
  auth.set_worker_nonce(wn);
  auth.set_proof(ClientProofOf(token, role, cn, wn));
  v1::AuthenticateReply answer;
  SL_RETURN_IF_ERROR(CallAuthenticate(ch, auth, &answer, seconds).WithContext("authenticate"));
  if (answer.session_id().empty() || answer.session_id().size() > 64)
    return Unauthenticated("it answered without a session");
  if (reply) *reply = answer;
  return std::shared_ptr<ClientSession>(
      new ClientSession(answer.session_id(), SessionKeyOf(token, role, cn, wn)));
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

SessionTable::SessionTable(std::string token) : token_(std::move(token)) {}

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
                               v1::HelloReply* reply) {
  if (req.nonce().size() != kNonceBytes) return InvalidArgument("nonce must be 16 bytes");
  if (req.role() != kRoleHead && req.role() != kRolePeer)
    return InvalidArgument("role must be \"head\" or \"peer\"");
  const auto now = std::chrono::steady_clock::now();
  const std::string wn = RandomNonce();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (BackedOff(HostOf(peer), now))
      return ResourceExhausted("too many failed handshakes from this host; wait 30 s");
    // Oldest first: entries already used, expired, or over the bound.
    while (!pending_order_.empty()) {
      auto front = pending_.find(pending_order_.front());
      if (front != pending_.end() && front->second.expires >= now && pending_.size() < kMaxPending)
        break;
      if (front != pending_.end()) pending_.erase(front);
      pending_order_.pop_front();
    }
    pending_[wn] = {req.nonce(), req.role(), now + kPendingLife};
    pending_order_.push_back(wn);
  }
  reply->set_protocol_version(kProtocolVersion);
  reply->set_worker_nonce(wn);
  reply->set_proof(WorkerProofOf(token_, req.role(), req.nonce(), wn));
  return Status::Ok();
}

StatusOr<std::string> SessionTable::Accept(const v1::AuthenticateRequest& req,
                                           const std::string& peer) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
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
  if (!SecureEquals(req.proof(),
                    ClientProofOf(token_, p.role, p.client_nonce, req.worker_nonce()))) {
    Failed(host, now);
    return Unauthenticated("wrong proof: this client does not know the pool token");
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
  s.key = SessionKeyOf(token_, p.role, p.client_nonce, req.worker_nonce());
  s.role = p.role;
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
  // Each counter once: above the window's floor and not taken yet.
  if (n == 0 || (s.max_counter > kWindow && n <= s.max_counter - kWindow) || s.recent.count(n))
    return false;
  s.recent.insert(n);
  s.max_counter = std::max(s.max_counter, n);
  while (!s.recent.empty() && s.max_counter > kWindow &&
         *s.recent.begin() <= s.max_counter - kWindow)
    s.recent.erase(s.recent.begin());
  s.last_used = std::chrono::steady_clock::now();
  return true;
}

}  // namespace suanli::cluster
