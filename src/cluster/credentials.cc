#include "cluster/credentials.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>

#include "base/mapped_file.h"

namespace suanli::cluster {

namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
bool SameTime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}
}  // namespace

StatusOr<std::shared_ptr<Credentials>> Credentials::Load(const SecurityOptions& sec) {
  auto c = std::make_shared<Credentials>(sec.token);
  if (!sec.tls()) return c;
  SL_RETURN_IF_ERROR(sec.Validate());
  SL_ASSIGN_OR_RETURN(std::string cert, ReadFileToString(sec.tls_cert));
  auto info = ReadCertificate(cert);
  if (!info.ok()) return info.status().WithContext(sec.tls_cert);
  c->fingerprint_ = info->fingerprint;
  SL_ASSIGN_OR_RETURN(c->ca_pem_, ReadFileToString(sec.tls_ca));
  if (!sec.tls_crl.empty()) {
    SL_ASSIGN_OR_RETURN(std::string crl, ReadFileToString(sec.tls_crl));
    auto rev = ReadRevocations(crl, c->ca_pem_);
    if (!rev.ok()) return rev.status().WithContext(sec.tls_crl);
    c->rev_ = std::move(*rev);
    c->crl_path_ = sec.tls_crl;
    struct stat st;
    if (::stat(sec.tls_crl.c_str(), &st) == 0) c->crl_mtime_ = st.st_mtim;
    c->last_check_ms_ = NowMs();
  }
  if (c->rev_.Revoked(info->serial))
    return PermissionDenied(sec.tls_cert + ": this node's certificate (" + info->name +
                            ") was revoked; enroll it again");
  return c;
}

bool Credentials::Revoked(const std::string& serial) const {
  std::lock_guard<std::mutex> lock(mu_);
  return rev_.Revoked(serial);
}

StatusOr<CertInfo> Credentials::CheckPeer(const std::string& pem) const {
  if (!tls()) return CertInfo();
  if (pem.empty()) return Unauthenticated("it presented no certificate");
  auto info = ReadCertificate(pem);
  if (!info.ok()) return Unauthenticated("its certificate does not parse");
  if (Revoked(info->serial))
    return Unauthenticated("its certificate (" + info->name + ", serial " + info->serial +
                           ") was revoked");
  return info;
}

uint64_t Credentials::crl_number() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rev_.number;
}

std::string Credentials::crl() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rev_.der;
}

StatusOr<bool> Credentials::Offer(const std::string& crl) {
  if (!tls() || crl.empty()) return false;
  SL_ASSIGN_OR_RETURN(Revocations r, ReadRevocations(crl, ca_pem_));
  std::lock_guard<std::mutex> lock(mu_);
  if (r.number <= rev_.number) return false;
  rev_ = std::move(r);
  if (!crl_path_.empty()) {  // kept across restarts; a read-only bundle only loses that
    const std::string pem = RevocationsPem(rev_);
    if (WriteFileAtomic(crl_path_, pem.data(), pem.size()).ok()) {
      struct stat st;
      if (::stat(crl_path_.c_str(), &st) == 0) crl_mtime_ = st.st_mtim;
    }
  }
  return true;
}

bool Credentials::Refresh() {
  if (crl_path_.empty()) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = NowMs();
    if (now - last_check_ms_ < 1000) return false;
    last_check_ms_ = now;
    struct stat st;
    if (::stat(crl_path_.c_str(), &st) != 0 || SameTime(st.st_mtim, crl_mtime_)) return false;
    crl_mtime_ = st.st_mtim;
  }
  auto text = ReadFileToString(crl_path_);
  if (!text.ok()) return false;
  auto taken = Offer(*text);
  if (!taken.ok())
    std::fprintf(stderr, "suanli: warning: %s: %s (the revocation list held stays)\n",
                 crl_path_.c_str(), taken.status().message().c_str());
  return taken.ok() && *taken;
}

}  // namespace suanli::cluster
