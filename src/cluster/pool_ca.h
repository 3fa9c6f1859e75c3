// The pool's own certificate authority: `suanli pool init` makes it, `pool enroll` gives a device
// its certificate, `pool revoke` takes one back. TLS on every link then proves that a peer was
// enrolled, and the session handshake (session.h) binds to both certificates.
//
// A pool directory (init) holds, all PEM:
//   ca.pem, ca.key (0600)     the authority: EC P-256, self-signed, 10 years
//   token (0600)              the pool token: 128 random bits, hex
//   crl.pem                   revoked serials, signed by the CA, with a CRL number that grows
//   cert.pem, key.pem (0600)  the head's own certificate ("head")
//   issued.tsv                one line per certificate: serial, name, SHA-256, expiry
// A device's bundle (enroll) holds ca.pem, token, crl.pem, cert.pem and key.pem: every node reads
// the same five names (SecurityOptions::FromPoolDir), and a pool directory is also the head's
// bundle. Every certificate names the pool, not an address (DNS:suanli-pool), so devices may move
// between addresses; it is valid for both ends of a link (server and client).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "suanli/status.h"

namespace suanli::cluster {

// The name every enrolled certificate carries and every node checks its peer's against.
inline constexpr const char* kPoolServerName = "suanli-pool";
// A CRL travels in the handshake's header: this bounds it (some 200 revocations).
inline constexpr size_t kMaxCrlBytes = 8 << 10;

struct CertInfo {
  std::string fingerprint;  // SHA-256 of the DER encoding, raw 32 bytes
  std::string serial;       // hex, lower case
  std::string name;         // the subject's common name
  int64_t not_after = 0;    // unix seconds
};

// Reads the first certificate of a PEM text. Errors: no certificate in it.
StatusOr<CertInfo> ReadCertificate(const std::string& pem);

// A revocation list, verified against the pool CA.
struct Revocations {
  uint64_t number = 0;               // the CRL number: a newer list has a larger one
  std::vector<std::string> serials;  // hex, sorted
  std::string der;                   // the signed list, as it travels
  bool Revoked(const std::string& serial) const;
};
// Parses a CRL (DER or PEM) and checks that `ca_pem`'s key signed it. Errors: not a CRL, too
// big, not signed by this CA, no CRL number.
StatusOr<Revocations> ReadRevocations(const std::string& crl, const std::string& ca_pem);
// The list as a PEM file's text.
std::string RevocationsPem(const Revocations& r);

struct IssuedCert {
  std::string serial, name, fingerprint_hex;
  int64_t not_after = 0;
  bool revoked = false;
};

// The authority's operations on a pool directory.
class PoolAuthority {
 public:
  // Makes a new pool in `dir` (created if missing). Errors: `dir` already holds a pool (unless
  // `force`), files that cannot be written.
  static Status Init(const std::string& dir, bool force = false);
  // Opens an existing pool directory. Errors: not a pool directory (run init).
  static StatusOr<PoolAuthority> Open(const std::string& dir);

  // Issues a certificate for `name` (1..64 of [A-Za-z0-9._-]) valid for `days`, and writes the
  // device's bundle into `out_dir` (created; it must not hold a bundle already).
  StatusOr<CertInfo> Enroll(const std::string& name, const std::string& out_dir, int days = 825);
  // Revokes every certificate issued to `name_or_serial` and writes a new crl.pem. Returns how
  // many were revoked. Errors: no such certificate, the list would exceed kMaxCrlBytes.
  StatusOr<int> Revoke(const std::string& name_or_serial);
  StatusOr<std::vector<IssuedCert>> List() const;

  const std::string& dir() const { return dir_; }

 private:
  explicit PoolAuthority(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace suanli::cluster
