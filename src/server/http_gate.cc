#include "server/http_gate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "base/net_address.h"

namespace suanli::server {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsIpLiteral(const std::string& h) {
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool IsWildcard(const std::string& h) { return h == "0.0.0.0" || h == "::" || h.empty(); }

}  // namespace

bool SecureEqual(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

bool IsOpenPath(const std::string& method, const std::string& path) {
  if (method != "GET" && method != "HEAD") return false;
  return path == "/health" || path == "/" || path == "/index.html" ||
         path.rfind("/dashboard/", 0) == 0;
}

std::optional<ApiError> CheckGate(const GateConfig& c, const GateRequest& r) {
  // Host: loopback names, the bound address, configured names; any IP literal when listening on
  // all addresses (a rebinding attack arrives under a domain name, never as the IP).
  const std::string host = HostOfAddress(r.host);
  const bool host_ok = !host.empty() && (IsLoopbackHost(host) || host == Lower(c.bound_host) ||
                                         std::find(c.allowed_hosts.begin(), c.allowed_hosts.end(),
                                                   host) != c.allowed_hosts.end() ||
                                         (IsWildcard(c.bound_host) && IsIpLiteral(host)));
  if (!host_ok) {
    ApiError e;
    e.status = 403;
    e.type = "permission_error";
    e.message = "Host '" + r.host +
                "' is not this server's address or localhost (a DNS-rebinding guard); name it "
                "among the allowed hosts to serve under it";
    return e;
  }
  // Origin: a browser page may call the API only from this server itself or the allowed origin.
  if (!r.origin.empty() && r.origin != "null") {
    const std::string o = Lower(r.origin);
    const bool same = o == "http://" + Lower(r.host) || o == "https://" + Lower(r.host);
    const bool allowed = !c.cors_origin.empty() && o == Lower(c.cors_origin);
    if (!same && !allowed) {
      ApiError e;
      e.status = 403;
      e.type = "permission_error";
      e.message = "requests from origin '" + r.origin + "' are not allowed";
      return e;
    }
  } else if (r.origin == "null") {
    ApiError e;
    e.status = 403;
    e.type = "permission_error";
    e.message = "requests from an opaque origin are not allowed";
    return e;
  }
  if (r.method == "OPTIONS") return std::nullopt;  // a preflight: answered by the CORS handler
  if (!c.api_key.empty() && !IsOpenPath(r.method, r.path)) {
    const std::string prefix = "Bearer ";
    const bool ok = r.authorization.size() > prefix.size() &&
                    r.authorization.compare(0, prefix.size(), prefix) == 0 &&
                    SecureEqual(r.authorization.substr(prefix.size()), c.api_key);
    if (!ok) {
      ApiError e;
      e.status = 401;
      e.type = "authentication_error";
      e.code = "invalid_api_key";
      e.message = r.authorization.empty()
                      ? "an API key is required: send 'Authorization: Bearer <key>'"
                      : "the API key is not valid";
      return e;
    }
  }
  if (!r.content_length.empty()) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(r.content_length.c_str(), &end, 10);
    if (end == r.content_length.c_str() || *end != '\0')
      return ApiError::BadRequest("bad Content-Length");
    if (n > c.max_body_bytes) {
      ApiError e;
      e.status = 413;
      e.code = "request_too_large";
      e.message = "the request body is " + r.content_length + " bytes; this server takes at most " +
                  std::to_string(c.max_body_bytes);
      return e;
    }
  }
  return std::nullopt;
}

}  // namespace suanli::server
