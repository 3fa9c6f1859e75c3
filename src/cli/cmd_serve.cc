// suanli serve: the OpenAI-compatible server (and dashboard) over one device or a pool.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "base/mapped_file.h"
#include "cli/common.h"
#include "cli/pool_options.h"
#include "runtime/runtime.h"
#include "server/server.h"

namespace suanli::cli {
namespace {

struct ServeArgs {
  ModelOptions model;
  std::string alias;
  std::string listen = "127.0.0.1:8080";
  int64_t parallel = 4;
  int64_t kv_size = 0;
  int64_t batch_tokens = 64;
  int64_t queue = 64;
  bool no_prefix_cache = false;
  bool swa_full = false;
  std::string api_key_file;
  bool no_auth = false;
  std::string cors_origin;
  std::vector<std::string> allowed_hosts;
  std::string chat_template_file;
  double shutdown_timeout = 30;
  double max_body_mib = 8;
  PoolFlags pool;
};

StatusOr<std::pair<std::string, int>> ParseListen(const std::string& s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 >= s.size())
    return InvalidArgument("--listen: '" + s + "' is not HOST:PORT");
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  const long port = std::strtol(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535)
    return InvalidArgument("--listen: '" + s + "' has no valid port");
  return std::make_pair(host, static_cast<int>(port));
}

int RunServe(const ServeArgs& a) {
  // Signals go to a thread of their own (set before any thread starts, so all inherit the mask).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  server::ServerOptions so;
  auto listen = ParseListen(a.listen);
  if (!listen.ok()) return Fail(listen.status());
  so.host = listen->first;
  so.port = listen->second;
  if (!a.api_key_file.empty()) {
    auto key = ReadFileToString(a.api_key_file);
    if (!key.ok()) return Fail(key.status().WithContext("--api-key-file"));
    so.api_key = key->substr(0, key->find('\n'));
    while (!so.api_key.empty() && (so.api_key.back() == '\r' || so.api_key.back() == ' '))
      so.api_key.pop_back();
    if (so.api_key.empty()) return Fail("--api-key-file " + a.api_key_file + " is empty");
  } else if (const char* env = std::getenv("SUANLI_API_KEY"); env && *env) {
    so.api_key = env;
  }
  so.no_auth = a.no_auth;
  if (so.api_key.empty() && !a.no_auth && listen->first != "127.0.0.1" &&
      listen->first != "localhost" && listen->first != "::1")
    return Fail("--listen " + a.listen +
                " is reachable from other machines: give an API key (--api-key-file or "
                "SUANLI_API_KEY), or --no-auth to serve without one");
  if (so.api_key.empty() && a.no_auth)
    std::fprintf(stderr,
                 "suanli serve: warning: --no-auth: anyone who can reach %s may use this server\n",
                 a.listen.c_str());
  so.cors_origin = a.cors_origin;
  so.allowed_hosts = a.allowed_hosts;
  so.max_body_bytes = static_cast<size_t>(a.max_body_mib * 1024 * 1024);
  so.shutdown_timeout_seconds = a.shutdown_timeout;
  so.http_threads = static_cast<int>(a.parallel + a.queue + 8);
  if (!a.chat_template_file.empty()) {
    auto t = ReadFileToString(a.chat_template_file);
    if (!t.ok()) return Fail(t.status().WithContext("--chat-template-file"));
    so.chat_template = *t;
  }
  if (const char* t = std::getenv("SUANLI_TEST_SCRIPT"); t && std::string(t) == "1") {
    so.allow_test_script = true;
    std::fprintf(stderr, "suanli serve: test mode: requests may script their replies\n");
  }
  auto ro = MakeRuntimeOptions(a.model);
  if (!ro.ok()) return Fail(ro.status());
  auto pool = ResolvePool(a.pool);
  if (!pool.ok()) return Fail(pool.status());
  ro->pool = *pool;
  ro->max_seqs = a.parallel;
  ro->kv_tokens = a.kv_size;
  ro->step_tokens = a.batch_tokens;
  ro->prefix_cache = !a.no_prefix_cache;
  ro->swa_full = a.swa_full;
  ro->max_queue = static_cast<size_t>(a.queue);

  so.model_id = a.alias;
  auto server = server::Server::Start(so);
  if (!server.ok()) return Fail(server.status());
  std::fprintf(stderr, "suanli serve: listening on %s (loading the model)\n",
               (*server)->url().c_str());
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    std::fprintf(stderr, "suanli serve: %s: finishing running requests (up to %.0f s)\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT", a.shutdown_timeout);
    (*server)->Shutdown();
  });
  auto rt = runtime::Runtime::Open(*ro);
  if (!rt.ok()) {
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
    return Fail(rt.status());
  }
  if (a.alias.empty()) {
    // The model id: the file name without .gguf.
    std::string id = std::filesystem::path((*rt)->model().path()).filename().string();
    if (id.size() > 5 && id.substr(id.size() - 5) == ".gguf") id.resize(id.size() - 5);
    so.model_id = id;
  }
  (*server)->SetModelId(so.model_id);
  if (Status s = (*server)->Attach(rt->get()); !s.ok()) {
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
    return Fail(s);
  }
  std::fprintf(stderr, "suanli serve: ready at %s (model %s, %s, %lld sequences at once)\n",
               (*server)->url().c_str(), so.model_id.c_str(), (*rt)->Describe().c_str(),
               static_cast<long long>(a.parallel));
  (*server)->Wait();
  signals.join();
  server->reset();
  rt->reset();
  std::fprintf(stderr, "suanli serve: stopped\n");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, RunFn* run) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* sub = app.add_subcommand(
      "serve", "Serve the model over an OpenAI-compatible HTTP API, with a dashboard at /");
  AddModelOptions(sub, &a->model);
  sub->add_option("--alias", a->alias, "Model id the API lists (default: the file name)");
  sub->add_option("--listen", a->listen, "HOST:PORT to serve (default 127.0.0.1:8080)");
  sub->add_option("--parallel", a->parallel, "Sequences running at once (default 4)")
      ->check(CLI::Range(int64_t{1}, int64_t{256}));
  sub->add_option("--kv-size", a->kv_size,
                  "KV cache positions shared by all sequences and the prefix cache (default: "
                  "--parallel x -c)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 28));
  sub->add_option(
         "--batch-tokens", a->batch_tokens,
         "Prompt budget per step: every decoding stream's next token, then prompt chunks up "
         "to this many tokens, a token deep in a prompt counting more (it reads more keys) "
         "(default 64; smaller keeps streams smoother while long prompts arrive)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  sub->add_option("--queue", a->queue, "Requests that may wait for room; more get 429 (default 64)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  sub->add_flag("--no-prefix-cache", a->no_prefix_cache,
                "Do not reuse the KV of earlier requests that share a prefix");
  sub->add_flag("--swa-full", a->swa_full,
                "Sliding-window models (gemma): keep every position's KV, not a ring of the "
                "window, so prompts share prefixes through the cache (more memory; this device "
                "only)");
  sub->add_option("--api-key-file", a->api_key_file,
                  "Require this key (first line of the file; or SUANLI_API_KEY) on every request");
  sub->add_flag("--no-auth", a->no_auth,
                "Serve a non-loopback --listen address without an API key");
  sub->add_option("--cors-origin", a->cors_origin,
                  "Let web pages of this origin call the API (e.g. https://app.example)");
  sub->add_option("--allowed-host", a->allowed_hosts,
                  "Also accept requests whose Host is this name (a reverse proxy's); repeatable");
  sub->add_option("--chat-template-file", a->chat_template_file,
                  "Use this Jinja chat template instead of the model's");
  sub->add_option("--shutdown-timeout", a->shutdown_timeout,
                  "On SIGTERM, seconds running requests get to finish (default 30)")
      ->check(CLI::Range(0.0, 3600.0));
  sub->add_option("--max-body-mib", a->max_body_mib, "Largest request body (default 8 MiB)")
      ->check(CLI::Range(0.001, 1024.0));
  AddPoolOptions(sub, &a->pool);
  sub->callback([a, run] { *run = [a] { return RunServe(*a); }; });
}

}  // namespace suanli::cli
