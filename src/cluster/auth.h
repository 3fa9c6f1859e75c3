// Pool authentication: every member of a pool knows one secret token.
//
//   * Calls carry "x-suanli-auth: <hex HMAC-SHA256(token, "suanli-pool-call-v1")>" in their
//     metadata (a bearer key derived from the token, so the token itself never travels); a worker
//     rejects any call without it (UNAUTHENTICATED) and logs the peer.
//   * The head sends a random nonce in Hello; the worker answers HMAC-SHA256(token, "worker" ||
//     nonce), so a worker that does not know the token (but saw a bearer key) is rejected.
// Over plain TCP the bearer key can be sniffed: pools on untrusted networks add TLS (transport.h).
#pragma once

#include <string>
#include <string_view>

#include "suanli/status.h"

namespace suanli::cluster {

inline constexpr const char* kAuthMetadataKey = "x-suanli-auth";

// The token given directly, else the first line of token_file (trimmed), else $SUANLI_TOKEN.
// Errors: no token anywhere (kNotFound), an unreadable file, a token under 8 characters.
StatusOr<std::string> ResolvePoolToken(const std::string& flag_token,
                                       const std::string& token_file);

// HMAC-SHA256(key, message), raw 32 bytes.
std::string HmacSha256(std::string_view key, std::string_view message);
std::string ToHex(std::string_view bytes);

// The metadata value calls carry.
std::string CallKey(std::string_view token);
// The worker's answer to a Hello nonce.
std::string WorkerProof(std::string_view token, std::string_view nonce);
// Constant-time comparison.
bool SecureEquals(std::string_view a, std::string_view b);
// 16 random bytes (OpenSSL RAND).
std::string RandomNonce();

}  // namespace suanli::cluster
