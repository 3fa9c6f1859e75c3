// suanli pool init | enroll | revoke | list: the pool's certificate authority (cluster/pool_ca.h).
#include <cstdio>
#include <ctime>

#include "cli/common.h"
#include "cli/pool_options.h"
#include "cluster/auth.h"
#include "cluster/pool_ca.h"

namespace suanli::cli {
namespace {

struct PoolArgs {
  std::string dir;
  bool force = false;
  std::string name;
  std::string out;
  int days = 825;
};

std::string Date(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

int RunInit(const PoolArgs& a) {
  if (Status s = cluster::PoolAuthority::Init(a.dir, a.force); !s.ok())
    return Fail(s.code() == StatusCode::kFailedPrecondition
                    ? s.message() + "; pass --force to make a new one anyway"
                    : s.message());
  std::printf(
      "made a pool in %s: its CA, token, revocation list and the head's certificate\n"
      "next, for each device:\n"
      "  suanli pool enroll NAME --dir %s           # writes %s/nodes/NAME\n"
      "  copy that directory to the device, then run there:\n"
      "  suanli worker --listen 0.0.0.0:7070 --pool-dir DIR\n"
      "and on this machine (the head):\n"
      "  suanli serve --workers HOST:7070,... --pool-dir %s\n"
      "keep %s/ca.key secret: whoever has it can enroll devices\n",
      a.dir.c_str(), a.dir.c_str(), a.dir.c_str(), a.dir.c_str(), a.dir.c_str());
  return 0;
}

int RunEnroll(const PoolArgs& a) {
  auto ca = cluster::PoolAuthority::Open(a.dir);
  if (!ca.ok()) return Fail(ca.status());
  const std::string out = a.out.empty() ? a.dir + "/nodes/" + a.name : a.out;
  auto cert = ca->Enroll(a.name, out, a.days);
  if (!cert.ok()) return Fail(cert.status());
  std::printf(
      "enrolled %s (serial %s, valid until %s) in %s\n"
      "copy that directory to the device and run: suanli worker --listen 0.0.0.0:7070 "
      "--pool-dir DIR\n",
      cert->name.c_str(), cert->serial.c_str(), Date(cert->not_after).c_str(), out.c_str());
  return 0;
}

int RunRevoke(const PoolArgs& a) {
  auto ca = cluster::PoolAuthority::Open(a.dir);
  if (!ca.ok()) return Fail(ca.status());
  auto n = ca->Revoke(a.name);
  if (!n.ok()) return Fail(n.status());
  if (*n == 0) {
    std::printf("%s was revoked already\n", a.name.c_str());
    return 0;
  }
  std::printf(
      "revoked %d certificate%s of %s: heads using %s stop using it within a heartbeat, and hand "
      "the new list to every worker they authenticate\n",
      *n, *n == 1 ? "" : "s", a.name.c_str(), a.dir.c_str());
  return 0;
}

int RunList(const PoolArgs& a) {
  auto ca = cluster::PoolAuthority::Open(a.dir);
  if (!ca.ok()) return Fail(ca.status());
  auto certs = ca->List();
  if (!certs.ok()) return Fail(certs.status());
  std::printf("%-20s %-34s %-10s %s\n", "name", "serial", "expires", "state");
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const cluster::IssuedCert& c : *certs)
    std::printf("%-20s %-34s %-10s %s\n", c.name.c_str(), c.serial.c_str(),
                Date(c.not_after).c_str(),
                c.revoked ? "revoked" : (c.not_after < now ? "expired" : "valid"));
  return 0;
}

}  // namespace

void AddPoolCommand(CLI::App& app, RunFn* run) {
  CLI::App* pool = app.add_subcommand(
      "pool", "The pool's certificate authority: make a pool, enroll devices, revoke them");
  pool->require_subcommand(1);
  auto a = std::make_shared<PoolArgs>();
  a->dir = DefaultPoolDir();
  auto dir_option = [&](CLI::App* sub) {
    sub->add_option("--dir", a->dir, "The pool directory (default " + a->dir + ")");
  };

  CLI::App* init = pool->add_subcommand(
      "init", "Make a pool: a CA, a 128-bit token, a revocation list and the head's certificate");
  dir_option(init);
  init->add_flag("--force", a->force, "Replace a pool already there (every device must re-enroll)");
  init->callback([a, run] { *run = [a] { return RunInit(*a); }; });

  CLI::App* enroll = pool->add_subcommand(
      "enroll", "Give a device its certificate: writes a directory to copy to it (--pool-dir)");
  enroll->add_option("name", a->name, "The device's name (letters, digits, '.', '_', '-')")
      ->required();
  dir_option(enroll);
  enroll->add_option("-o,--out", a->out, "Where to write its bundle (default DIR/nodes/NAME)");
  enroll->add_option("--days", a->days, "Validity in days (default 825)")
      ->check(CLI::Range(1, 3650));
  enroll->callback([a, run] { *run = [a] { return RunEnroll(*a); }; });

  CLI::App* revoke = pool->add_subcommand(
      "revoke", "Take a device out of the pool: its certificates are refused from now on");
  revoke->add_option("name", a->name, "The device's name, or a certificate's serial")->required();
  dir_option(revoke);
  revoke->callback([a, run] { *run = [a] { return RunRevoke(*a); }; });

  CLI::App* list = pool->add_subcommand("list", "The certificates issued, and which are revoked");
  dir_option(list);
  list->callback([a, run] { *run = [a] { return RunList(*a); }; });
}

}  // namespace suanli::cli
