#include "cli/pool_options.h"

#include <sys/stat.h>

#include <cstdlib>

#include "cluster/auth.h"

namespace suanli::cli {

void AddSecurityOptions(CLI::App* app, SecurityFlags* f) {
  app->add_option("--token", f->token,
                  "Pool token, the same on the head and every worker (visible in the process "
                  "list: prefer --token-file or SUANLI_TOKEN)");
  app->add_option("--token-file", f->token_file, "Read the pool token from this file");
  app->add_option("--tls-cert", f->tls_cert, "TLS: this node's certificate (PEM)");
  app->add_option("--tls-key", f->tls_key, "TLS: this node's private key (PEM)");
  app->add_option("--tls-ca", f->tls_ca, "TLS: CA that signed every peer's certificate (PEM)");
  app->add_option("--pool-dir", f->pool_dir,
                  "The pool's token, certificates and revocation list: a directory from `suanli "
                  "pool init` (the head) or `suanli pool enroll` (a device); default "
                  "$SUANLI_POOL_DIR, or " +
                      DefaultPoolDir() + " when no --token/--tls-* is given and it exists");
  app->add_flag("--insecure", f->insecure,
                "Allow plain TCP to or from addresses off loopback (refused by default: anyone "
                "on the network could read prompts and outputs)");
}

std::string DefaultPoolDir() {
  if (const char* d = std::getenv("SUANLI_POOL_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    return std::string(x) + "/suanli/pool";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/suanli/pool";
  return "suanli-pool";
}

StatusOr<cluster::SecurityOptions> ResolveSecurity(const SecurityFlags& f) {
  const bool explicit_token = !f.token.empty() || !f.token_file.empty();
  const bool explicit_tls = !f.tls_cert.empty() || !f.tls_key.empty() || !f.tls_ca.empty();
  std::string dir = f.pool_dir;
  if (dir.empty() && std::getenv("SUANLI_POOL_DIR") && *std::getenv("SUANLI_POOL_DIR"))
    dir = DefaultPoolDir();
  if (!dir.empty() && (explicit_token || explicit_tls))
    return InvalidArgument(
        "--pool-dir holds the token and certificates: give it without --token, "
        "--token-file or --tls-*");
  if (dir.empty() && !explicit_token && !explicit_tls && !std::getenv("SUANLI_TOKEN")) {
    struct stat st;  // `suanli pool init` made the default directory: use it
    if (::stat((DefaultPoolDir() + "/cert.pem").c_str(), &st) == 0) dir = DefaultPoolDir();
  }
  if (!dir.empty()) {
    auto s = cluster::SecurityOptions::FromPoolDir(dir);
    if (!s.ok()) return s.status().WithContext("--pool-dir");
    s->allow_plaintext_remote = f.insecure;
    return s;
  }
  cluster::SecurityOptions s;
  s.allow_plaintext_remote = f.insecure;
  auto token = cluster::ResolvePoolToken(f.token, f.token_file);
  if (!token.ok()) {
    if (token.status().code() == StatusCode::kNotFound)
      return InvalidArgument(token.status().message() +
                             ": give --pool-dir DIR (suanli pool init), --token T, --token-file "
                             "PATH or set SUANLI_TOKEN");
    return token.status();
  }
  s.token = *token;
  s.tls_cert = f.tls_cert;
  s.tls_key = f.tls_key;
  s.tls_ca = f.tls_ca;
  if (Status v = s.Validate(); !v.ok()) return v.WithContext("--tls-cert, --tls-key and --tls-ca");
  return s;
}

void AddPoolOptions(CLI::App* app, PoolFlags* f) {
  app->add_option("--workers", f->workers,
                  "Run through a pool: comma-separated worker addresses HOST:PORT (see "
                  "`suanli worker`)");
  app->add_flag("--discover", f->discover,
                "Find workers on the LAN by UDP multicast (added to --workers)");
  app->add_option("--objective", f->objective,
                  "Placement goal: latency (one fast stream) or throughput (many streams)")
      ->check(CLI::IsMember({"latency", "throughput"}));
  app->add_option("--split", f->split,
                  "Force layer counts per worker, in --workers order (e.g. 3,5,8)");
  app->add_option("--act", f->act,
                  "Activations between workers: f32 (exact), f16 (default) or q8_0")
      ->check(CLI::IsMember({"f32", "f16", "q8_0"}));
  app->add_option("--detect-timeout", f->detect_seconds,
                  "Seconds within which a worker that froze, died or was cut off is noticed "
                  "(a heartbeat to every stage each quarter of it; default 2)")
      ->check(CLI::Range(0.2, 600.0));
  app->add_option("--recovery-timeout", f->recovery_seconds,
                  "Seconds to re-place a lost worker's layers on the others (or on a worker that "
                  "comes back) before its requests fail with a retryable error (default 30)")
      ->check(CLI::Range(0.0, 3600.0));
  AddSecurityOptions(app, &f->security);
}

StatusOr<std::optional<runtime::PoolOptions>> ResolvePool(const PoolFlags& f) {
  if (!f.active()) return std::optional<runtime::PoolOptions>();
  runtime::PoolOptions o;
  SL_ASSIGN_OR_RETURN(o.security, ResolveSecurity(f.security));
  if (!f.workers.empty())
    for (const std::string& addr : SplitCommas(f.workers)) {
      if (addr.empty() || addr.find(':') == std::string::npos)
        return InvalidArgument("--workers: '" + addr + "' is not HOST:PORT");
      if (Status p = cluster::CheckLinkProtection(addr, o.security); !p.ok())
        return Status(p.code(), "--workers: " + p.message() + " (--pool-dir, or --insecure)");
      o.workers.push_back(addr);
    }
  o.discover = f.discover;
  o.discover_seconds = f.discover_seconds;
  o.objective = f.objective == "throughput" ? placement::Objective::kThroughput
                                            : placement::Objective::kLatency;
  if (!f.split.empty()) {
    SL_ASSIGN_OR_RETURN(o.split, ParseLayerCounts(f.split));
    if (!f.discover && o.split.size() != o.workers.size())
      return InvalidArgument("--split gives " + std::to_string(o.split.size()) +
                             " layer counts for " + std::to_string(o.workers.size()) + " workers");
  }
  auto act = placement::ParseActFormat(f.act);
  if (!act) return InvalidArgument("--act: '" + f.act + "' is not one of f32, f16, q8_0");
  o.act = *act;
  o.detect_seconds = f.detect_seconds;
  o.recovery_seconds = f.recovery_seconds;
  return std::optional<runtime::PoolOptions>(std::move(o));
}

}  // namespace suanli::cli
