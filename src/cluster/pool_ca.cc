#include "cluster/pool_ca.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <memory>
#include <sstream>

#include "base/mapped_file.h"
#include "cluster/auth.h"

namespace suanli::cluster {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Crl = std::unique_ptr<X509_CRL, Deleter<X509_CRL, X509_CRL_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using Asn1Int = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Asn1Time = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME, ASN1_TIME_free>>;

Bio MemBio(const std::string& s) {
  return Bio(BIO_new_mem_buf(s.data(), static_cast<int>(std::min<size_t>(s.size(), INT32_MAX))));
}
std::string BioText(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string SerialHex(const ASN1_INTEGER* a) {
  Bn bn(ASN1_INTEGER_to_BN(a, nullptr));
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string s = hex ? Lower(hex) : "";
  OPENSSL_free(hex);
  return s;
}

StatusOr<Cert> ParseCert(const std::string& pem) {
  Bio b = MemBio(pem);
  Cert c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!c) return InvalidArgument("no PEM certificate in it");
  return c;
}

StatusOr<Key> ParseKey(const std::string& pem) {
  Bio b = MemBio(pem);
  Key k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k) return InvalidArgument("no PEM private key in it");
  return k;
}

CertInfo InfoOf(X509* c) {
  CertInfo info;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(c, EVP_sha256(), md, &n) == 1)
    info.fingerprint.assign(reinterpret_cast<char*>(md), n);
  info.serial = SerialHex(X509_get0_serialNumber(c));
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof(cn));
  info.name = cn;
  struct tm t {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(c), &t) == 1) info.not_after = timegm(&t);
  return info;
}

Status Crypto(bool ok, const char* what) {
  return ok ? Status::Ok() : Internal(std::string("OpenSSL: ") + what + " failed");
}

StatusOr<Key> NewKey() {
  Key k(EVP_EC_gen("P-256"));
  if (!k) return Internal("OpenSSL: making an EC P-256 key failed");
  return k;
}

std::string KeyPem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  return BioText(b.get());
}
std::string CertPem(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  return BioText(b.get());
}

Status AddExt(X509* c, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, c, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!e) return Internal(std::string("OpenSSL: extension ") + value);
  const int ok = X509_add_ext(c, e, -1);
  X509_EXTENSION_free(e);
  return Crypto(ok == 1, "adding an extension");
}

// A certificate for `cn` and `key`'s public half, signed by (issuer, issuer_key); a CA when
// issuer is null (then self-signed).
StatusOr<Cert> MakeCert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                        int days) {
  Cert c(X509_new());
  if (!c) return Internal("OpenSSL: X509_new failed");
  SL_RETURN_IF_ERROR(Crypto(X509_set_version(c.get(), X509_VERSION_3) == 1, "version"));
  std::string serial = RandomNonce();
  serial[0] = static_cast<char>(serial[0] & 0x7f);  // positive, 127 random bits
  if (serial[0] == 0) serial[0] = 1;                // and 16 bytes long
  Bn bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()),
                  static_cast<int>(serial.size()), nullptr));
  SL_RETURN_IF_ERROR(
      Crypto(bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(c.get())), "serial"));
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);  // clocks a little behind still accept
  X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(days) * 86400L);
  X509_NAME* name = X509_get_subject_name(c.get());
  if (!issuer)
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("suanli pool"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  SL_RETURN_IF_ERROR(Crypto(
      X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name) == 1, "issuer"));
  SL_RETURN_IF_ERROR(Crypto(X509_set_pubkey(c.get(), key) == 1, "public key"));
  X509* by = issuer ? issuer : c.get();
  SL_RETURN_IF_ERROR(AddExt(c.get(), by, NID_subject_key_identifier, "hash"));
  if (!issuer) {
    SL_RETURN_IF_ERROR(AddExt(c.get(), by, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    SL_RETURN_IF_ERROR(AddExt(c.get(), by, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    SL_RETURN_IF_ERROR(AddExt(c.get(), by, NID_basic_constraints, "critical,CA:FALSE"));
    SL_RETURN_IF_ERROR(
        AddExt(c.get(), by, NID_key_usage, "critical,digitalSignature,keyAgreement"));
    SL_RETURN_IF_ERROR(AddExt(c.get(), by, NID_ext_key_usage, "serverAuth,clientAuth"));
    SL_RETURN_IF_ERROR(AddExt(c.get(), by, NID_authority_key_identifier, "keyid:always"));
    SL_RETURN_IF_ERROR(
        AddExt(c.get(), by, NID_subject_alt_name, (std::string("DNS:") + kPoolServerName).c_str()));
  }
  SL_RETURN_IF_ERROR(Crypto(X509_sign(c.get(), issuer_key, EVP_sha256()) > 0, "signing"));
  return c;
}

// A CRL of `serials` (hex) numbered `number`, signed by the CA: PEM.
StatusOr<std::string> MakeCrl(X509* ca, EVP_PKEY* ca_key, uint64_t number,
                              const std::vector<std::string>& serials) {
  Crl crl(X509_CRL_new());
  if (!crl) return Internal("OpenSSL: X509_CRL_new failed");
  SL_RETURN_IF_ERROR(Crypto(X509_CRL_set_version(crl.get(), 1) == 1, "CRL version"));  // v2
  SL_RETURN_IF_ERROR(
      Crypto(X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca)) == 1, "CRL issuer"));
  const time_t now = std::time(nullptr);
  Asn1Time last(ASN1_TIME_adj(nullptr, now, 0, 0)), next(ASN1_TIME_adj(nullptr, now, 3650, 0));
  SL_RETURN_IF_ERROR(Crypto(last && next && X509_CRL_set1_lastUpdate(crl.get(), last.get()) == 1 &&
                                X509_CRL_set1_nextUpdate(crl.get(), next.get()) == 1,
                            "CRL dates"));
  for (const std::string& s : serials) {
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, s.c_str()) == 0) return InvalidArgument("serial '" + s + "' is not hex");
    Bn bn(raw);
    Asn1Int ai(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    X509_REVOKED* r = X509_REVOKED_new();
    if (!ai || !r || X509_REVOKED_set_serialNumber(r, ai.get()) != 1 ||
        X509_REVOKED_set_revocationDate(r, last.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), r) != 1) {
      X509_REVOKED_free(r);
      return Internal("OpenSSL: adding a revoked serial failed");
    }
  }
  Asn1Int num(ASN1_INTEGER_new());
  SL_RETURN_IF_ERROR(Crypto(
      num && ASN1_INTEGER_set_uint64(num.get(), number) == 1 &&
          X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, num.get(), 0, X509V3_ADD_REPLACE) == 1,
      "CRL number"));
  X509_CRL_sort(crl.get());
  SL_RETURN_IF_ERROR(Crypto(X509_CRL_sign(crl.get(), ca_key, EVP_sha256()) > 0, "signing a CRL"));
  Bio b(BIO_new(BIO_s_mem()));
  SL_RETURN_IF_ERROR(Crypto(PEM_write_bio_X509_CRL(b.get(), crl.get()) == 1, "writing a CRL"));
  return BioText(b.get());
}

std::string Path(const std::string& dir, const char* name) { return dir + "/" + name; }

Status Write(const std::string& path, const std::string& text, unsigned mode = 0644) {
  return WriteFileAtomic(path, text.data(), text.size(), mode);
}

Status MakeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(dir + ": cannot create the directory: " + ec.message());
  ::chmod(dir.c_str(), 0700);  // keys live here
  return Status::Ok();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string IssuedLine(const CertInfo& c) {
  return c.serial + "\t" + c.name + "\t" + ToHex(c.fingerprint) + "\t" +
         std::to_string(c.not_after) + "\n";
}

bool ValidName(const std::string& n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

}  // namespace

StatusOr<CertInfo> ReadCertificate(const std::string& pem) {
  SL_ASSIGN_OR_RETURN(Cert c, ParseCert(pem));
  return InfoOf(c.get());
}

bool Revocations::Revoked(const std::string& serial) const {
  return std::binary_search(serials.begin(), serials.end(), Lower(serial));
}

StatusOr<Revocations> ReadRevocations(const std::string& crl_text, const std::string& ca_pem) {
  if (crl_text.size() > 2 * kMaxCrlBytes)
    return InvalidArgument("the revocation list is over " + std::to_string(2 * kMaxCrlBytes) +
                           " bytes");
  Crl crl;
  if (crl_text.rfind("-----BEGIN", 0) == 0) {
    Bio b = MemBio(crl_text);
    crl.reset(PEM_read_bio_X509_CRL(b.get(), nullptr, nullptr, nullptr));
  } else {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(crl_text.data());
    crl.reset(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl_text.size())));
  }
  if (!crl) return InvalidArgument("not a certificate revocation list");
  SL_ASSIGN_OR_RETURN(Cert ca, ParseCert(ca_pem));
  EVP_PKEY* ca_pub = X509_get0_pubkey(ca.get());
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca.get())) != 0 ||
      !ca_pub || X509_CRL_verify(crl.get(), ca_pub) != 1)
    return PermissionDenied("the revocation list is not signed by this pool's CA");
  Revocations r;
  ASN1_INTEGER* num =
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr));
  if (!num) return InvalidArgument("the revocation list has no CRL number");
  const bool got = ASN1_INTEGER_get_uint64(&r.number, num) == 1;
  ASN1_INTEGER_free(num);
  if (!got) return InvalidArgument("the revocation list's CRL number is out of range");
  STACK_OF(X509_REVOKED)* revs = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; revs && i < sk_X509_REVOKED_num(revs); ++i)
    r.serials.push_back(SerialHex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revs, i))));
  std::sort(r.serials.begin(), r.serials.end());
  unsigned char* der = nullptr;
  const int n = i2d_X509_CRL(crl.get(), &der);
  if (n <= 0) return Internal("OpenSSL: encoding a CRL failed");
  r.der.assign(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  if (r.der.size() > kMaxCrlBytes)
    return InvalidArgument("the revocation list is over " + std::to_string(kMaxCrlBytes) +
                           " bytes");
  return r;
}

std::string RevocationsPem(const Revocations& r) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(r.der.data());
  Crl crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(r.der.size())));
  if (!crl) return "";
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(b.get(), crl.get());
  return BioText(b.get());
}

Status PoolAuthority::Init(const std::string& dir, bool force) {
  if (!force && Exists(Path(dir, "ca.key")))
    return FailedPrecondition(dir +
                              " already holds a pool (its CA would be replaced, and every "
                              "device would need enrolling again)");
  SL_RETURN_IF_ERROR(MakeDir(dir));
  SL_ASSIGN_OR_RETURN(Key ca_key, NewKey());
  SL_ASSIGN_OR_RETURN(Cert ca,
                      MakeCert("suanli pool CA", ca_key.get(), nullptr, ca_key.get(), 3650));
  SL_ASSIGN_OR_RETURN(Key head_key, NewKey());
  SL_ASSIGN_OR_RETURN(Cert head, MakeCert("head", head_key.get(), ca.get(), ca_key.get(), 3650));
  SL_ASSIGN_OR_RETURN(std::string crl, MakeCrl(ca.get(), ca_key.get(), 1, {}));
  const std::string token = ToHex(RandomNonce()) + "\n";  // 128 bits
  SL_RETURN_IF_ERROR(Write(Path(dir, "ca.key"), KeyPem(ca_key.get()), 0600));
  SL_RETURN_IF_ERROR(Write(Path(dir, "ca.pem"), CertPem(ca.get())));
  SL_RETURN_IF_ERROR(Write(Path(dir, "token"), token, 0600));
  SL_RETURN_IF_ERROR(Write(Path(dir, "crl.pem"), crl));
  SL_RETURN_IF_ERROR(Write(Path(dir, "key.pem"), KeyPem(head_key.get()), 0600));
  SL_RETURN_IF_ERROR(Write(Path(dir, "cert.pem"), CertPem(head.get())));
  return Write(Path(dir, "issued.tsv"), IssuedLine(InfoOf(head.get())));
}

StatusOr<PoolAuthority> PoolAuthority::Open(const std::string& dir) {
  for (const char* f : {"ca.key", "ca.pem", "token", "crl.pem", "issued.tsv"})
    if (!Exists(Path(dir, f)))
      return NotFound(dir + " is not a pool directory (no " + f + "; make one with pool init)");
  return PoolAuthority(dir);
}

StatusOr<CertInfo> PoolAuthority::Enroll(const std::string& name, const std::string& out_dir,
                                         int days) {
  if (!ValidName(name))
    return InvalidArgument("name '" + name + "': use 1 to 64 letters, digits, '.', '_' or '-'");
  if (days < 1 || days > 3650) return InvalidArgument("days must be 1..3650");
  if (Exists(Path(out_dir, "cert.pem")) || Exists(Path(out_dir, "ca.key")))
    return FailedPrecondition(out_dir + " already holds a certificate; choose another directory");
  SL_ASSIGN_OR_RETURN(std::string ca_pem, ReadFileToString(Path(dir_, "ca.pem")));
  SL_ASSIGN_OR_RETURN(std::string ca_key_pem, ReadFileToString(Path(dir_, "ca.key")));
  SL_ASSIGN_OR_RETURN(std::string token, ReadFileToString(Path(dir_, "token")));
  SL_ASSIGN_OR_RETURN(std::string crl, ReadFileToString(Path(dir_, "crl.pem")));
  SL_ASSIGN_OR_RETURN(std::string issued, ReadFileToString(Path(dir_, "issued.tsv")));
  SL_ASSIGN_OR_RETURN(Cert ca, ParseCert(ca_pem));
  SL_ASSIGN_OR_RETURN(Key ca_key, ParseKey(ca_key_pem));
  SL_ASSIGN_OR_RETURN(Key key, NewKey());
  SL_ASSIGN_OR_RETURN(Cert c, MakeCert(name, key.get(), ca.get(), ca_key.get(), days));
  const CertInfo info = InfoOf(c.get());
  SL_RETURN_IF_ERROR(MakeDir(out_dir));
  SL_RETURN_IF_ERROR(Write(Path(out_dir, "key.pem"), KeyPem(key.get()), 0600));
  SL_RETURN_IF_ERROR(Write(Path(out_dir, "cert.pem"), CertPem(c.get())));
  SL_RETURN_IF_ERROR(Write(Path(out_dir, "ca.pem"), ca_pem));
  SL_RETURN_IF_ERROR(Write(Path(out_dir, "token"), token, 0600));
  SL_RETURN_IF_ERROR(Write(Path(out_dir, "crl.pem"), crl));
  SL_RETURN_IF_ERROR(Write(Path(dir_, "issued.tsv"), issued + IssuedLine(info)));
  return info;
}

StatusOr<std::vector<IssuedCert>> PoolAuthority::List() const {
  SL_ASSIGN_OR_RETURN(std::string issued, ReadFileToString(Path(dir_, "issued.tsv")));
  SL_ASSIGN_OR_RETURN(std::string ca_pem, ReadFileToString(Path(dir_, "ca.pem")));
  SL_ASSIGN_OR_RETURN(std::string crl, ReadFileToString(Path(dir_, "crl.pem")));
  SL_ASSIGN_OR_RETURN(Revocations rev, ReadRevocations(crl, ca_pem));
  std::vector<IssuedCert> out;
  std::istringstream in(issued);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    IssuedCert c;
    if (!(f >> c.serial >> c.name >> c.fingerprint_hex >> c.not_after)) continue;
    c.revoked = rev.Revoked(c.serial);
    out.push_back(c);
  }
  return out;
}

StatusOr<int> PoolAuthority::Revoke(const std::string& name_or_serial) {
  SL_ASSIGN_OR_RETURN(std::vector<IssuedCert> issued, List());
  SL_ASSIGN_OR_RETURN(std::string ca_pem, ReadFileToString(Path(dir_, "ca.pem")));
  SL_ASSIGN_OR_RETURN(std::string ca_key_pem, ReadFileToString(Path(dir_, "ca.key")));
  SL_ASSIGN_OR_RETURN(std::string crl_pem, ReadFileToString(Path(dir_, "crl.pem")));
  SL_ASSIGN_OR_RETURN(Revocations rev, ReadRevocations(crl_pem, ca_pem));
  std::vector<std::string> serials = rev.serials;
  int matched = 0, added = 0;
  for (const IssuedCert& c : issued) {
    if (c.name != name_or_serial && c.serial != Lower(name_or_serial)) continue;
    ++matched;
    if (!c.revoked) {
      serials.push_back(c.serial);
      ++added;
    }
  }
  if (matched == 0) return NotFound("no certificate was issued to '" + name_or_serial + "'");
  if (added == 0) return 0;
  SL_ASSIGN_OR_RETURN(Cert ca, ParseCert(ca_pem));
  SL_ASSIGN_OR_RETURN(Key ca_key, ParseKey(ca_key_pem));
  SL_ASSIGN_OR_RETURN(std::string crl, MakeCrl(ca.get(), ca_key.get(), rev.number + 1, serials));
  if (auto check = ReadRevocations(crl, ca_pem); !check.ok())
    return check.status().WithContext("too many revocations for the handshake (make a new pool)");
  SL_RETURN_IF_ERROR(Write(Path(dir_, "crl.pem"), crl));
  return added;
}

}  // namespace suanli::cluster
