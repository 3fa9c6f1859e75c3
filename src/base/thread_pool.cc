#include "base/thread_pool.h"

#include <sched.h>

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void CpuRelax() { _mm_pause(); }
#elif defined(__aarch64__)
static inline void CpuRelax() { asm volatile("yield"); }
#else
static inline void CpuRelax() {}
#endif

namespace suanli {

namespace {
// How long an idle worker spins before sleeping: long enough to cover the gap between two
// kernels of one forward pass, short enough not to burn a core between tokens.
constexpr auto kSpinDuration = std::chrono::microseconds(300);
// Spins of a waiting caller before it starts yielding the core (then a worker that shares it,
// or anything else, can run).
constexpr int kPureSpins = 2048;
}  // namespace

int ThreadPool::HardwareThreads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::RunParts(uint32_t gen) {
  int ran = 0;
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(c >> 32) != gen) return ran;  // another job by now
    const int part = static_cast<int>(c & 0xffffffffu);
    if (part >= n_threads_) return ran;
    if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
      continue;
    job_fn_(job_ctx_, part, n_threads_);
    done_.fetch_add(1, std::memory_order_acq_rel);
    ++ran;
    c = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::RunImpl(JobFn fn, void* ctx) {
  if (n_threads_ == 1) {
    fn(ctx, 0, 1);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mu_);
  job_fn_ = fn;
  job_ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t gen = generation_.load(std::memory_order_relaxed) + 1;
  claim_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
  {
    // Publishing under the mutex pairs with the sleeper's wait predicate (no lost wake-up).
    std::lock_guard<std::mutex> lock(mu_);
    generation_.store(gen, std::memory_order_release);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();
  RunParts(gen);
  // Every part is claimed; wait for the ones other threads are still running.
  for (int spins = 0; done_.load(std::memory_order_acquire) != n_threads_; ++spins) {
    CpuRelax();
    if (spins > kPureSpins) sched_yield();
  }
}

void ThreadPool::WorkerLoop() {
  uint32_t seen = 0;
  for (;;) {
    auto spin_until = std::chrono::steady_clock::now() + kSpinDuration;
    uint32_t gen;
    int spins = 0;
    while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
      CpuRelax();
      if (++spins % 256 == 0 && std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        sleepers_.fetch_sub(1);
        spin_until = std::chrono::steady_clock::now() + kSpinDuration;
      }
    }
    seen = gen;
    if (stop_.load()) return;
    RunParts(gen);
  }
}

}  // namespace suanli
