// HttpGate: the checks every request passes before a handler sees it (and before its body is
// read): the Host header (DNS rebinding), the Origin of browser requests (no cross-site calls
// unless an origin is allowed), the API key, and the body size. Pure: no sockets, unit-tested.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/openai.h"

namespace suanli::server {

struct GateConfig {
  std::string bound_host;  // the address the server listens on
  int port = 0;
  std::string api_key;                     // empty: no key needed
  std::string cors_origin;                 // allowed foreign origin ("https://app.example")
  std::vector<std::string> allowed_hosts;  // more Host names (reverse proxies)
  size_t max_body_bytes = 8 << 20;
};

struct GateRequest {
  std::string method;
  std::string path;
  std::string host;            // Host header ("" when absent)
  std::string origin;          // Origin header ("" when absent)
  std::string authorization;   // Authorization header
  std::string content_length;  // Content-Length header ("" when absent)
};

// nullopt: pass. Otherwise the error to answer with (401, 403, 413, 400).
std::optional<ApiError> CheckGate(const GateConfig& c, const GateRequest& r);
// Paths anyone may read (the health check and the dashboard's static page and assets).
bool IsOpenPath(const std::string& method, const std::string& path);
// Constant-time comparison (keys).
bool SecureEqual(const std::string& a, const std::string& b);

}  // namespace suanli::server
