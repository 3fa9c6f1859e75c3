// What a node proves itself with on a pool link and whom it accepts: the pool token and, under
// TLS, its certificate's fingerprint (bound into the handshake's proofs, session.h) and the
// pool's revocation list. Heads hand their list to the workers they authenticate; a worker takes
// a list only when the pool CA signed it and it is newer than its own, and keeps it in its
// --pool-dir's crl.pem when that is writable. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "cluster/pool_ca.h"
#include "cluster/transport.h"
#include "suanli/status.h"

namespace suanli::cluster {

class Credentials {
 public:
  // Plain TCP: the token alone (no certificates, nothing revoked).
  explicit Credentials(std::string token) : token_(std::move(token)) {}
  // From a node's options: under TLS reads its certificate, the CA and the CRL. Errors:
  // unreadable or malformed files, a CRL the CA did not sign, this node's own certificate revoked.
  static StatusOr<std::shared_ptr<Credentials>> Load(const SecurityOptions& sec);

  const std::string& token() const { return token_; }
  bool tls() const { return !ca_pem_.empty(); }
  // This node's certificate, raw SHA-256 of its DER; "" on plain TCP.
  const std::string& fingerprint() const { return fingerprint_; }

  // The certificate a peer presented on a link (PEM as TLS delivered it; "" on plain TCP): what
  // it says, or kUnauthenticated when it is revoked, or missing or malformed under TLS.
  StatusOr<CertInfo> CheckPeer(const std::string& pem) const;
  bool Revoked(const std::string& serial) const;

  // The list held (DER; "" when none) and its number (0: none).
  uint64_t crl_number() const;
  std::string crl() const;
  // A list a peer handed over: taken when the pool CA signed it and its number is larger.
  // Returns whether it was taken. Errors: not a list of this pool.
  StatusOr<bool> Offer(const std::string& crl);
  // Re-reads the CRL file when it changed on disk (`suanli pool revoke` while a head runs): a
  // stat, at most once a second. Returns whether the list changed.
  bool Refresh();

 private:
  std::string token_, fingerprint_, ca_pem_, crl_path_;
  mutable std::mutex mu_;
  Revocations rev_;
  struct timespec crl_mtime_ {};
  int64_t last_check_ms_ = 0;
};

}  // namespace suanli::cluster
