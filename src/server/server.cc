#include "server/server.h"

#include <httplib.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <optional>
#include <thread>

#include "base/net_address.h"
#include "cluster/head.h"
#include "server/api_context.h"
#include "server/completion_handler.h"
#include "server/connection.h"
#include "server/dashboard.h"
#include "server/http_gate.h"
#include "server/openai.h"
#include "server/pool_state.h"

namespace suanli::server {

namespace {

thread_local bool t_overflow = false;  // this connection was accepted past the queue bound
// The gate refused the request being answered on this thread, which has a body: the answer is
// given once httplib has read (or skipped) the body, so the connection stays in step.
thread_local std::optional<ApiError> t_refusal;

// httplib's task queue with a bound: a fixed set of threads, at most `limit` connections waiting
// for one. A connection beyond that is answered 503 on the accepting thread (quickly: the gate
// refuses it before the handler), so memory stays bounded under a flood.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(size_t threads, size_t limit) : limit_(limit) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (jobs_.size() < limit_) {
        jobs_.push_back(std::move(fn));
        cv_.notify_one();
        return;
      }
    }
    t_overflow = true;
    fn();
    t_overflow = false;
    t_refusal.reset();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();  // one connection, all its requests
      t_refusal.reset();
    }
  }
  size_t limit_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
};

void SendJson(httplib::Response& res, const Json& j) {
  res.set_content(Dump(j), "application/json");
}

bool HasBody(const httplib::Request& req) {
  const std::string n = req.get_header_value("Content-Length");
  return (!n.empty() && n != "0") || req.has_header("Transfer-Encoding");
}

// An answer given before the request's body was read must end the connection: otherwise the
// unread body would be parsed as the next request on it (a client reusing the connection gets
// nonsense answers, and a body could smuggle requests past a proxy). httplib keeps a connection
// open even when the answer says "Connection: close", so the answer is written by a content
// provider that reports failure once everything is out, which makes httplib close the socket.
// (Used only where reading the body is not worth it; see the gate in Route.)
void CloseAfterAnswer(const httplib::Request& req, httplib::Response& res) {
  auto watch = std::make_shared<ConnectionWatch>(req.local_addr, req.local_port, req.remote_addr,
                                                 req.remote_port);
  auto body = std::make_shared<std::string>(std::move(res.body));
  res.body.clear();
  std::string type = res.get_header_value("Content-Type");
  if (type.empty()) type = "application/json";
  res.headers.erase("Content-Type");
  res.set_header("Connection", "close");
  if (body->empty()) *body = " ";
  res.set_content_provider(body->size(), type,
                           [body, watch](size_t offset, size_t length, httplib::DataSink& sink) {
                             sink.write(body->data() + offset, length);
                             // Let the client read the answer before the socket closes: drop
                             // what it still sends (never stored), bounded in bytes and time.
                             watch->DrainAfterAnswer(size_t{64} << 20, 2.0);
                             return false;  // done: close the connection
                           });
}

}  // namespace

struct Server::Impl {
  ServerOptions opts;
  GateConfig gate;
  ApiContext ctx;
  LiveFigures live;
  httplib::Server http;
  std::thread listener, sampler;
  std::atomic<bool> ready{false};     // a runtime is attached
  std::atomic<bool> draining{false};  // shutting down: new requests get 503
  std::mutex mu;
  std::condition_variable cv;
  bool stop_sampler = false;
  bool stopped = false;   // Shutdown began
  bool finished = false;  // Shutdown ended (Wait returns)
  int port = 0;

  void Route();
  void SampleLoop();
};

void Server::Impl::SampleLoop() {
  std::unique_lock<std::mutex> lock(mu);
  while (!stop_sampler) {
    cv.wait_for(lock, std::chrono::seconds(1));
    if (stop_sampler) break;
    if (!ready.load()) continue;
    lock.unlock();
    live.Tick(*ctx.rt, &ctx.metrics);
    for (runtime::ExecutorEvent& e : ctx.rt->TakeEvents())
      ctx.events.Add(std::move(e.kind), std::move(e.message));
    lock.lock();
  }
}

void Server::Impl::Route() {
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_refusal.reset();
    // A refused request's body is still unread. A small one (64 KiB: an ordinary API call) is
    // read so the connection stays in step and the client surely gets the answer; a larger or
    // unsized one is never read: the answer closes the connection. So a client without the key
    // makes the server hold at most 64 KiB for it.
    auto refuse = [&](const ApiError& e) {
      if (!t_overflow && HasBody(req)) {
        const std::string n = req.get_header_value("Content-Length");
        const unsigned long long declared = std::strtoull(n.c_str(), nullptr, 10);
        constexpr unsigned long long kReadable = 64 << 10;
        if (!n.empty() && declared <= kReadable) {
          t_refusal = e;
          return httplib::Server::HandlerResponse::Unhandled;
        }
      }
      SendError(res, e);
      if (t_overflow || HasBody(req)) CloseAfterAnswer(req, res);
      return httplib::Server::HandlerResponse::Handled;
    };
    if (t_overflow)
      return refuse(ApiError::FromStatus(Unavailable("the server is overloaded; try again")));
    GateRequest g;
    g.method = req.method;
    g.path = req.path;
    g.host = req.get_header_value("Host");
    g.origin = req.get_header_value("Origin");
    g.authorization = req.get_header_value("Authorization");
    g.content_length = req.get_header_value("Content-Length");
    if (auto e = CheckGate(gate, g)) return refuse(*e);
    if (!opts.cors_origin.empty() && !g.origin.empty()) {
      res.set_header("Access-Control-Allow-Origin", g.origin);
      res.set_header("Vary", "Origin");
    }
    if (req.method == "OPTIONS") {
      res.status = 204;
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Max-Age", "600");
      return httplib::Server::HandlerResponse::Handled;
    }
    // /health and /v1/pool/state report loading and shutting down themselves.
    const bool reports_status = req.path == "/health" || req.path == "/v1/pool/state";
    if (draining.load() && !reports_status)
      return refuse(ApiError::FromStatus(Unavailable("the server is shutting down")));
    if (!ready.load() && !IsOpenPath(req.method, req.path) && req.path != "/metrics" &&
        !reports_status)
      return refuse(ApiError::FromStatus(Unavailable("the model is loading")));
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Every handler first gives a refusal the gate deferred until the body was read.
  auto guarded = [](httplib::Server::Handler fn) {
    return [fn = std::move(fn)](const httplib::Request& req, httplib::Response& res) {
      if (t_refusal) {
        SendError(res, *t_refusal);
        t_refusal.reset();
        return;
      }
      fn(req, res);
    };
  };
  auto get = [&](const std::string& path, httplib::Server::Handler fn) {
    http.Get(path, guarded(std::move(fn)));
  };
  auto post = [&](const std::string& path, httplib::Server::Handler fn) {
    http.Post(path, guarded(std::move(fn)));
  };
  get("/health", [this](const httplib::Request&, httplib::Response& res) {
    Json j = Json::object();
    if (draining.load()) {
      res.status = 503;
      j["status"] = "shutting down";
    } else if (!ready.load()) {
      res.status = 503;
      j["status"] = "loading model";
    } else if (const runtime::SchedulerStats st = ctx.rt->Stats();
               st.lanes > 0 && st.lanes_dead == st.lanes) {
      // Every pipeline lost a worker and none could be rebuilt: nothing can serve.
      res.status = 503;
      j["status"] = "unavailable";
      j["error"] = "the pool lost its workers and no device took over";
    } else if (st.lanes_dead + st.lanes_recovering == st.lanes) {
      j["status"] = "recovering";  // requests wait for the rebuilt pipeline
    } else {
      j["status"] = "ok";
    }
    SendJson(res, j);
  });
  auto models = [this](const httplib::Request&, httplib::Response& res) {
    Json m = Json::object();
    m["id"] = ctx.model_id;
    m["object"] = "model";
    m["created"] = 0;
    m["owned_by"] = "suanli";
    Json meta = Json::object();
    const HParams& hp = ctx.rt->model().hparams();
    meta["architecture"] = hp.arch;
    meta["n_ctx"] = ctx.rt->n_ctx();
    meta["n_ctx_train"] = hp.n_ctx_train;
    meta["n_vocab"] = hp.n_vocab;
    meta["n_embd"] = hp.dim;
    meta["n_layers"] = hp.n_layers;
    m["meta"] = meta;
    Json j = Json::object();
    j["object"] = "list";
    j["data"] = Json::array({m});
    SendJson(res, j);
  };
  get("/v1/models", models);
  get("/models", models);
  auto completions = [this](const httplib::Request& q, httplib::Response& r) {
    HandleCompletion(ctx, q, r, false);
  };
  auto chat = [this](const httplib::Request& q, httplib::Response& r) {
    HandleCompletion(ctx, q, r, true);
  };
  post("/v1/completions", completions);
  post("/completions", completions);
  post("/v1/chat/completions", chat);
  post("/chat/completions", chat);
  post("/apply-template",
       [this](const httplib::Request& q, httplib::Response& r) { HandleApplyTemplate(ctx, q, r); });
  post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    Json body = Json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("content") || !body["content"].is_string())
      return SendError(res, ApiError::BadRequest("'content' must be a string", "content"));
    bool add_special = false, parse_special = true, with_pieces = false;
    for (auto [key, out] :
         {std::pair{"add_special", &add_special}, std::pair{"parse_special", &parse_special},
          std::pair{"with_pieces", &with_pieces}})
      if (body.contains(key)) {
        if (!body[key].is_boolean())
          return SendError(
              res, ApiError::BadRequest(std::string("'") + key + "' must be a boolean", key));
        *out = body[key].get<bool>();
      }
    const Tokenizer& tok = ctx.rt->tokenizer();
    const auto ids = tok.Encode(body["content"].get<std::string>(), add_special, parse_special);
    Json tokens = Json::array();
    for (int32_t id : ids) {
      if (!with_pieces) {
        tokens.push_back(id);
        continue;
      }
      Json t = Json::object();
      t["id"] = id;
      t["piece"] = tok.TokenToPiece(id);
      tokens.push_back(t);
    }
    Json j = Json::object();
    j["tokens"] = tokens;
    SendJson(res, j);
  });
  post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    Json body = Json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("tokens") || !body["tokens"].is_array())
      return SendError(res, ApiError::BadRequest("'tokens' must be an array of ids", "tokens"));
    const Tokenizer& tok = ctx.rt->tokenizer();
    std::vector<int32_t> ids;
    for (const Json& t : body["tokens"]) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.n_vocab())
        return SendError(
            res, ApiError::BadRequest("'tokens' holds an id outside the vocabulary", "tokens"));
      ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    Json j = Json::object();
    j["content"] = tok.Decode(ids);
    SendJson(res, j);
  });
  get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(ctx.metrics.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  get("/v1/pool/state", [this](const httplib::Request&, httplib::Response& res) {
    const std::string status = draining ? "shutting_down" : ready ? "ok" : "loading";
    SendJson(res, PoolState(ready ? ctx.rt : nullptr, ctx.model_id, status, live, ctx.events));
  });
  auto dashboard = [](const httplib::Request& req, httplib::Response& res) {
    const EmbeddedFile* f = FindDashboardFile(req.path);
    if (!f) {
      ApiError e;
      e.status = 404;
      e.type = "not_found_error";
      e.message = "no such file: " + req.path;
      return SendError(res, e);
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; connect-src 'self'; img-src 'self' data:");
    res.set_content(reinterpret_cast<const char*>(f->data), f->size, MimeType(f->path));
  };
  get("/", dashboard);
  get("/index.html", dashboard);
  get(R"(/dashboard/[A-Za-z0-9_.-]+)", dashboard);
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (t_refusal) {  // a refused request with a body: no handler ran (or the body was too large)
      res.status = t_refusal->status;
      res.body.clear();
      res.headers.erase("Content-Type");
      SendError(res, *t_refusal);
      t_refusal.reset();
      return;
    }
    if (!res.body.empty() || res.content_provider_) return;  // a handler already answered
    ApiError e;
    e.status = res.status;
    if (res.status == 404) {
      e.type = "not_found_error";
      e.message = "no such endpoint: " + req.method + " " + req.path;
    } else if (res.status == 413) {
      e.code = "request_too_large";
      e.message = "the request body is too large";
    } else if (res.status == 405) {
      e.message = "method not allowed";
    } else {
      e.message = "HTTP error";
    }
    res.set_content(Dump(e.ToJson()), "application/json");
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        ApiError e;
        e.status = 500;
        e.type = "server_error";
        e.message = "internal error";
        SendError(res, e);
      });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->opts = o;
  if (o.api_key.empty() && !IsLoopbackHost(o.host) && !o.no_auth)
    return InvalidArgument("serving " + o.host +
                           " (not loopback) without an API key: set one, or pass no_auth to "
                           "serve anyone who can reach the address");
  impl->gate.bound_host = o.host;
  impl->gate.api_key = o.api_key;
  impl->gate.cors_origin = o.cors_origin;
  impl->gate.allowed_hosts = o.allowed_hosts;
  impl->gate.max_body_bytes = o.max_body_bytes;
  impl->ctx.model_id = o.model_id;
  impl->ctx.allow_script = o.allow_test_script;
  impl->ctx.log_requests = o.log_requests;
  Metrics& m = impl->ctx.metrics;
  m.DeclareCounter("suanli_requests_total", "Requests answered, by endpoint and HTTP status.");
  m.DeclareCounter("suanli_prompt_tokens_total", "Prompt tokens of answered requests.");
  m.DeclareCounter("suanli_prompt_tokens_cached_total",
                   "Prompt tokens reused from the prefix cache.");
  m.DeclareCounter("suanli_generated_tokens_total", "Tokens generated for answered requests.");
  const std::vector<double> latency = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  m.DeclareHistogram("suanli_time_to_first_token_seconds",
                     "From a request's arrival to its first generated token.", latency);
  m.DeclareHistogram("suanli_inter_token_latency_seconds",
                     "Between consecutive tokens of one choice.", latency);
  m.DeclareHistogram("suanli_request_duration_seconds", "From arrival to the last byte.",
                     {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300});
  m.DeclareGauge("suanli_queue_depth", "Requests waiting for room to run.");
  m.DeclareGauge("suanli_running_sequences", "Sequences being generated.");
  m.DeclareGauge("suanli_kv_blocks_used", "KV cache blocks held by sequences.");
  m.DeclareGauge("suanli_kv_blocks_total", "KV cache blocks in all.");
  m.DeclareGauge("suanli_prefix_cache_hit_ratio",
                 "Prompt blocks found in the prefix cache / blocks looked up.");
  m.DeclareGauge("suanli_generated_tokens_per_second", "Generation rate over the last second.");
  m.DeclareGauge("suanli_device_tokens_per_second", "Tokens a device computed per second.");
  m.DeclareGauge("suanli_device_memory_bytes", "Memory a device holds for the model.");
  m.DeclareGauge("suanli_device_battery_ratio", "Battery level of a device (0..1).");
  m.DeclareGauge("suanli_device_throttled", "1 when a device is thermally throttled.");
  m.DeclareGauge("suanli_device_up", "1 while a device answers.");
  m.DeclareGauge("suanli_recoveries", "Pipelines rebuilt after losing a device, since start.");
  m.DeclareGauge("suanli_recovery_last_seconds",
                 "The last recovery: from the failure seen to the pipeline running again.");
  m.DeclareGauge("suanli_recovery_next_token_last_seconds",
                 "The last recovery: from running again to a replayed stream's next token.");
  impl->Route();
  httplib::Server& http = impl->http;
  http.set_payload_max_length(o.max_body_bytes);
  http.set_read_timeout(10, 0);
  http.set_write_timeout(30, 0);
  http.set_keep_alive_timeout(10);
  const size_t threads = o.http_threads > 0 ? static_cast<size_t>(o.http_threads) : 64;
  http.new_task_queue = [threads] { return new BoundedPool(threads, 4 * threads); };
  const int port = o.port == 0 ? http.bind_to_any_port(o.host) : o.port;
  if (port <= 0 || (o.port != 0 && !http.bind_to_port(o.host, o.port)))
    return Unavailable("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                       " (address in use, or not an address of this host)");
  impl->port = port;
  impl->gate.port = port;
  Impl* p = impl.get();
  impl->listener = std::thread([p] { p->http.listen_after_bind(); });
  impl->sampler = std::thread([p] { p->SampleLoop(); });
  impl->ctx.events.Add("load", "listening on " + o.host + ":" + std::to_string(port));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Status Server::Attach(runtime::Runtime* rt) {
  ApiContext& ctx = impl_->ctx;
  ctx.rt = rt;
  const Tokenizer& tok = rt->tokenizer();
  const std::string bos = tok.bos_id() >= 0 ? std::string(tok.token_text(tok.bos_id())) : "";
  const std::string eos = tok.eos_id() >= 0 ? std::string(tok.token_text(tok.eos_id())) : "";
  std::string source;
  if (impl_->opts.chat_template) {
    source = *impl_->opts.chat_template;
  } else if (auto v = rt->model().file().GetString("tokenizer.chat_template"); v.ok()) {
    source = *v;
  }
  if (source.empty()) {
    ctx.chat = std::make_unique<ChatTemplate>(ChatTemplate::DefaultChatML(bos, eos));
    std::fprintf(stderr,
                 "suanli serve: the model has no chat template; chats use the ChatML default "
                 "(<|im_start|>role ... <|im_end|>)\n");
    ctx.events.Add("load", "no chat template in the model: using ChatML");
  } else {
    auto t = ChatTemplate::Load(source, bos, eos);
    if (!t.ok()) return t.status().WithContext("chat template");
    ctx.chat = std::make_unique<ChatTemplate>(std::move(*t));
  }
  ctx.tool_format = DetectToolFormat(ctx.chat->source());
  ctx.template_thinks = ctx.chat->source().find("<think>") != std::string::npos;
  ctx.events.Add("load", "model " + ctx.model_id + " ready (" + rt->Describe() + ")");
  // The gauges exist from the first /metrics on, not from the sampler's first tick a second
  // later (the sampler does not run before `ready`).
  impl_->live.Tick(*ctx.rt, &ctx.metrics);
  impl_->ready = true;
  return Status::Ok();
}

void Server::SetModelId(const std::string& id) { impl_->ctx.model_id = id; }

std::string Server::url() const {
  const std::string& h = impl_->opts.host;
  const std::string host = h.find(':') != std::string::npos ? "[" + h + "]" : h;
  return "http://" + host + ":" + std::to_string(impl_->port) + "/";
}

int Server::port() const { return impl_->port; }

void Server::Shutdown() {
  Impl& s = *impl_;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    if (s.stopped) {  // another thread is stopping it: wait for that
      s.cv.wait(lock, [&] { return s.finished; });
      return;
    }
    s.stopped = true;
  }
  s.draining = true;
  s.ctx.events.Add("shutdown", "shutting down");
  // Running requests get the shutdown timeout to finish; the runtime ends the rest with an error
  // event (streams) or status (others), then the handlers answer and the HTTP server stops.
  if (s.ready && s.ctx.rt) s.ctx.rt->Shutdown(s.opts.shutdown_timeout_seconds);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (s.ctx.active.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  s.http.stop();
  if (s.listener.joinable()) s.listener.join();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stop_sampler = true;
  }
  s.cv.notify_all();
  if (s.sampler.joinable()) s.sampler.join();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.finished = true;
  }
  s.cv.notify_all();
}

void Server::Wait() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->finished; });
}

Server::~Server() { Shutdown(); }

}  // namespace suanli::server
