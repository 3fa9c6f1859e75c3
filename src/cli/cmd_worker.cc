// suanli worker: offer this device to a pool (the head connects with --workers).
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <thread>

#include "base/thread_pool.h"
#include "cli/common.h"
#include "cli/pool_options.h"
#include "cluster/discovery.h"
#include "cluster/worker.h"
#include "model/default_model.h"

namespace suanli::cli {
namespace {

struct WorkerArgs {
  std::string listen;
  int threads = 0;
  std::string model_dir;
  std::string cache_dir;
  std::string name;
  SecurityFlags security;
  bool announce = false;
  bool fresh_profile = false;
  double seconds_per_kernel = 0.2;
  double matvec_mib = 0;
  double emulate_slowdown = 1;
  double emulate_memory_gib = 0;
  double stage_timeout = 60;
  double cache_quota_gib = 0;
  double emulate_throttle = 1;
  double emulate_throttle_after = 0;
  double leave_battery = 0;
  double leave_temp = 0;
  double drain_timeout = 30;
};

int RunWorker(const WorkerArgs& a) {
  cluster::WorkerOptions o;
  o.listen = a.listen;
  o.threads = a.threads;
  o.model_dir = a.model_dir;
  o.name = a.name;
  auto user_cache = CacheDir();
  if (!user_cache.ok()) return Fail(user_cache.status());
  o.profile_cache_dir = *user_cache;  // one profile per host, whatever --cache-dir says
  if (a.cache_dir.empty()) {
    o.cache_dir = *user_cache;
  } else {
    o.cache_dir = a.cache_dir;
    if (Status s = EnsureDirectory(o.cache_dir); !s.ok()) return Fail(s);
  }
  auto sec = ResolveSecurity(a.security);
  if (!sec.ok()) return Fail(sec.status());
  o.security = *sec;
  if (Status p = cluster::CheckLinkProtection(o.listen, o.security); !p.ok())
    return Fail("--listen: " + p.message() + " (--pool-dir, or --insecure)");
  o.profile.seconds_per_kernel = a.seconds_per_kernel;
  o.profile.matvec_bytes = static_cast<size_t>(a.matvec_mib * (1 << 20));
  if (a.fresh_profile) o.profile_max_age_s = 0;
  o.emulate_slowdown = a.emulate_slowdown;
  o.emulate_memory_bytes = static_cast<uint64_t>(a.emulate_memory_gib * (1ull << 30));
  o.stage_timeout_seconds = a.stage_timeout;
  o.emulate_throttle = a.emulate_throttle;
  o.emulate_throttle_after_seconds = a.emulate_throttle_after;
  o.leave_battery = a.leave_battery;
  o.leave_temp_c = a.leave_temp;
  o.drain_seconds = a.drain_timeout;
  o.cache_quota_bytes = static_cast<uint64_t>(a.cache_quota_gib * (1ull << 30));

  // Signals are taken by a thread of their own so the server shuts down cleanly.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);  // ends the signal thread when the battery or heat made us leave
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  const int threads = a.threads > 0 ? a.threads : ThreadPool::HardwareThreads();
  struct stat st;
  if (a.fresh_profile ||
      ::stat((o.profile_cache_dir + "/profile-t" + std::to_string(threads) + ".json").c_str(),
             &st) != 0)
    std::fprintf(stderr,
                 "suanli worker: measuring this device (cached in %s after the first time; "
                 "workers on one host take turns)\n",
                 o.profile_cache_dir.c_str());
  auto server = cluster::WorkerServer::Start(o);
  if (!server.ok()) return Fail(server.status());
  std::fprintf(stderr, "suanli worker: listening on %s%s\n", (*server)->address().c_str(),
               o.security.tls() ? " (TLS)" : " (plain TCP)");
  std::fflush(stderr);
  std::unique_ptr<cluster::Announcer> announcer;
  if (a.announce) {
    auto an = cluster::Announcer::Start((*server)->address());
    if (!an.ok()) return Fail(an.status());
    announcer = std::move(*an);
  }
  // The first SIGTERM / SIGINT drains (the head moves this worker's layers first); a second one
  // stops at once.
  std::thread sig([&] {
    for (int n = 0;; ++n) {
      int got = 0;
      sigwait(&set, &got);
      if (got == SIGUSR1) return;
      if (n == 0) {
        (*server)->RequestLeave(got == SIGINT ? "SIGINT" : "SIGTERM");
      } else {
        std::fprintf(stderr, "suanli worker: stopping now (a second signal)\n");
        (*server)->EndDrain();
        return;
      }
    }
  });
  const std::string why = (*server)->WaitForLeave();
  if (announcer) announcer->Stop();
  (*server)->Drain(why);
  std::fprintf(stderr, "suanli worker: stopping (%s)\n", why.c_str());
  (*server)->Shutdown();
  pthread_kill(sig.native_handle(), SIGUSR1);
  sig.join();
  return 0;
}

}  // namespace

void AddWorkerCommand(CLI::App& app, RunFn* run) {
  auto a = std::make_shared<WorkerArgs>();
  CLI::App* sub =
      app.add_subcommand("worker",
                         "Offer this device to a pool: serve layers to a head (generate/eval/bench "
                         "--workers)");
  sub->add_option("--listen", a->listen, "Address to serve on, HOST:PORT (port 0: any free)")
      ->required();
  sub->add_option("-t,--threads", a->threads, "Threads (default: all cores)")
      ->check(CLI::Range(1, 1024));
  sub->add_option("--model-dir", a->model_dir,
                  "GGUF files this device holds (matched by content hash; others are streamed "
                  "from the head)");
  sub->add_option("--cache-dir", a->cache_dir,
                  "Model hashes and streamed weights (default: the suanli cache; the device "
                  "profile is always kept there, one per host)");
  sub->add_option("--name", a->name, "Name shown in placements (default: the address)");
  sub->add_flag("--announce", a->announce, "Answer --discover queries on the LAN (UDP multicast)");
  sub->add_flag("--fresh-profile", a->fresh_profile, "Measure the device again");
  sub->add_option("--seconds-per-kernel", a->seconds_per_kernel,
                  "Profile: measurement time per tensor type and shape (default 0.2)")
      ->check(CLI::Range(0.0, 60.0));
  sub->add_option("--matvec-mib", a->matvec_mib,
                  "Profile: decode measurement matrix in MiB (default: twice the last-level "
                  "cache)")
      ->check(CLI::Range(1.0, 65536.0));
  sub->add_option(
         "--emulate-slowdown", a->emulate_slowdown,
         "Benchmarks: behave like a device F times slower (waits before it answers each batch; "
         "reported speeds divided by F)")
      ->check(CLI::Range(1.0, 1000.0));
  sub->add_option("--emulate-memory-gib", a->emulate_memory_gib,
                  "Benchmarks: report and allow at most this much memory")
      ->check(CLI::Range(0.01, 1e6));
  sub->add_option("--stage-timeout", a->stage_timeout,
                  "Free a loaded stage no Forward stream attaches to within S seconds (default 60)")
      ->check(CLI::Range(0.1, 86400.0));
  sub->add_option("--emulate-throttle", a->emulate_throttle,
                  "Benchmarks: after --emulate-throttle-after seconds, compute F times slower "
                  "still, with the profile unchanged (a device that got busy)")
      ->check(CLI::Range(1.0, 1000.0));
  sub->add_option("--emulate-throttle-after", a->emulate_throttle_after,
                  "Seconds after start when --emulate-throttle begins (default 0)")
      ->check(CLI::Range(0.0, 1e6));
  sub->add_option("--leave-battery", a->leave_battery,
                  "Leave the pool (after the head moved this worker's layers) when the battery "
                  "is below this fraction and discharging, e.g. 0.15")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--leave-temp", a->leave_temp,
                  "Leave the pool when the hottest thermal zone reaches this many degrees C")
      ->check(CLI::Range(0.0, 200.0));
  sub->add_option("--drain-timeout", a->drain_timeout,
                  "On SIGTERM/SIGINT (or --leave-*), wait up to S seconds for the head to move "
                  "the layers before stopping (default 30; a second signal stops at once)")
      ->check(CLI::Range(0.0, 3600.0));
  sub->add_option("--cache-quota-gib", a->cache_quota_gib,
                  "Disk the streamed weights may take, GiB (default: the free space less 1 GiB)")
      ->check(CLI::Range(0.001, 1e9));
  AddSecurityOptions(sub, &a->security);
  sub->callback([a, run] { *run = [a] { return RunWorker(*a); }; });
}

}  // namespace suanli::cli
