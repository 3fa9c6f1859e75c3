// Pool flags shared by the job commands (generate, eval, bench, serve) and `suanli worker`,
// turned into the runtime's plain PoolOptions.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "cli/common.h"
#include "cluster/transport.h"
#include "runtime/options.h"

namespace suanli::cli {

struct SecurityFlags {
  std::string token, token_file, tls_cert, tls_key, tls_ca;
};
void AddSecurityOptions(CLI::App* app, SecurityFlags* f);
// The pool token from --token, else --token-file (first line, trimmed), else $SUANLI_TOKEN, and
// the TLS files. Errors: no token anywhere, a token under 8 characters, unreadable files.
StatusOr<cluster::SecurityOptions> ResolveSecurity(const SecurityFlags& f);

struct PoolFlags {
  std::string workers;  // host:port,host:port
  bool discover = false;
  double discover_seconds = 1.5;
  std::string objective = "latency";
  std::string split;
  std::string act = "f16";
  double detect_seconds = 2;
  double recovery_seconds = 30;
  SecurityFlags security;
  bool active() const { return !workers.empty() || discover; }
};
void AddPoolOptions(CLI::App* app, PoolFlags* f);
// nullopt when no pool flag is given.
StatusOr<std::optional<runtime::PoolOptions>> ResolvePool(const PoolFlags& f);

}  // namespace suanli::cli
