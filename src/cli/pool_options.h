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
  std::string pool_dir;  // a pool directory or a device's bundle (suanli pool)
  bool insecure = false;
};
void AddSecurityOptions(CLI::App* app, SecurityFlags* f);
// --pool-dir (or $SUANLI_POOL_DIR): the token, certificates and revocation list of the pool.
// Else the pool token from --token, else --token-file (first line, trimmed), else
// $SUANLI_TOKEN, with the --tls-* files; when none of these is given, the default pool
// directory (DefaultPoolDir) if `suanli pool init` made one. Errors: no token anywhere, a token
// under 16 characters, unreadable files, --pool-dir with --token or --tls-*.
StatusOr<cluster::SecurityOptions> ResolveSecurity(const SecurityFlags& f);
// $SUANLI_POOL_DIR, else $XDG_CONFIG_HOME/suanli/pool, else ~/.config/suanli/pool.
std::string DefaultPoolDir();

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
