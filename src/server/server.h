// suanli's HTTP server: the OpenAI-compatible API, llama.cpp's helper endpoints, Prometheus
// metrics, the pool's state and the dashboard, over one Runtime (this device or a pool).
//
// Start() binds and serves at once; until Attach() hands it the loaded runtime, /health answers
// 503 and the API 503 "loading". Every request but /health and the dashboard's static files needs
// the API key when one is set; a Host header that is not the bound address or localhost is
// refused (DNS rebinding), and so is a browser request from a foreign origin (no CORS unless an
// origin is allowed). Shutdown() stops taking requests (503), lets running ones finish within
// the shutdown timeout, ends the rest with an error event, and stops. Endpoints, parameters and
// metrics: docs/api.md.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/runtime.h"
#include "suanli/status.h"

namespace suanli::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;          // 0: any free port
  std::string model_id;     // what /v1/models lists and requests name (file name without .gguf)
  std::string api_key;      // empty: no key (then only loopback unless no_auth)
  bool no_auth = false;     // serve a non-loopback address without a key (logged as a warning)
  std::string cors_origin;  // one browser origin allowed to call the API
  std::vector<std::string> allowed_hosts;  // further Host names (behind a reverse proxy)
  size_t max_body_bytes = 8 << 20;
  double shutdown_timeout_seconds = 30;
  std::optional<std::string> chat_template;  // instead of the model's own (a file's text)
  bool allow_test_script = false;            // the test-only suanli_test_script field (docs/api.md)
  int http_threads = 0;                      // 0: enough for every running and queued request
  bool log_requests = true;                  // one line per request on stderr
};

class Server {
 public:
  // Errors: the address cannot be bound; a non-loopback address without a key (and no no_auth).
  static StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& o);
  ~Server();

  // The runtime is loaded: load the chat template (errors: a template this server cannot render,
  // naming the construct and line) and serve. The runtime must outlive the server.
  Status Attach(runtime::Runtime* rt);
  // The model id requests must name (set before Attach when it comes from the loaded file).
  void SetModelId(const std::string& id);
  std::string url() const;
  int port() const;
  // Graceful stop (see above); returns when the HTTP server has stopped.
  void Shutdown();
  // Blocks until the server stops.
  void Wait();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace suanli::server
