#include "cli/pool_options.h"

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
}

StatusOr<cluster::SecurityOptions> ResolveSecurity(const SecurityFlags& f) {
  cluster::SecurityOptions s;
  auto token = cluster::ResolvePoolToken(f.token, f.token_file);
  if (!token.ok()) {
    if (token.status().code() == StatusCode::kNotFound)
      return InvalidArgument(token.status().message() +
                             ": give --token T, --token-file PATH or set SUANLI_TOKEN");
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
