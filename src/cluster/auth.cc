#include "cluster/auth.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <random>

#include "base/mapped_file.h"

namespace suanli::cluster {

StatusOr<std::string> ResolvePoolToken(const std::string& flag_token,
                                       const std::string& token_file) {
  std::string token = flag_token, source = "the pool token given";
  if (token.empty() && !token_file.empty()) {
    SL_ASSIGN_OR_RETURN(std::string text, ReadFileToString(token_file));
    token = text.substr(0, text.find('\n'));
    source = token_file;
  }
  if (token.empty()) {
    if (const char* env = std::getenv("SUANLI_TOKEN")) {
      token = env;
      source = "SUANLI_TOKEN";
    }
  }
  while (!token.empty() && (token.back() == ' ' || token.back() == '\r' || token.back() == '\t'))
    token.pop_back();
  if (token.empty())
    return NotFound("a pool token is required (the same on the head and every worker)");
  if (token.size() < 16)
    return InvalidArgument(source + ": the pool token is " + std::to_string(token.size()) +
                           " characters; use at least 16 (e.g. od -An -tx1 -N16 /dev/urandom)");
  return token;
}

std::string HmacSha256(std::string_view key, std::string_view message) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string ToHex(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

bool SecureEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomNonce() {
  std::string n(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(n.data()), static_cast<int>(n.size())) != 1) {
    std::random_device rd;  // OpenSSL's generator failed: fall back to the OS's
    for (char& c : n) c = static_cast<char>(rd());
  }
  return n;
}

}  // namespace suanli::cluster
