// Pool authentication's primitives: every member of a pool knows one secret token (at least 16
// characters), and proves it without sending it (the handshake and per-call MACs are in
// session.h).
#pragma once

#include <string>
#include <string_view>

#include "suanli/status.h"

namespace suanli::cluster {

// The token given directly, else the first line of token_file (trimmed), else $SUANLI_TOKEN.
// Errors: no token anywhere (kNotFound), an unreadable file, a token under 16 characters.
StatusOr<std::string> ResolvePoolToken(const std::string& flag_token,
                                       const std::string& token_file);

// HMAC-SHA256(key, message), raw 32 bytes.
std::string HmacSha256(std::string_view key, std::string_view message);
std::string ToHex(std::string_view bytes);

// Constant-time comparison.
bool SecureEquals(std::string_view a, std::string_view b);
// 16 random bytes (OpenSSL RAND).
std::string RandomNonce();

}  // namespace suanli::cluster
