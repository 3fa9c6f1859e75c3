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
// kernels of one forward pass, short enough not to burn a core between requests.
constexpr auto kSpinDuration = std::chrono::milliseconds(2);
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

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(n_threads < 1 ? 1 : n_threads), oversubscribed_(n_threads_ > HardwareThreads()) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
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

void ThreadPool::RunImpl(JobFn fn, void* ctx) {
  if (n_threads_ == 1) {
    fn(ctx, 0, 1);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mu_);
  job_fn_ = fn;
  job_ctx_ = ctx;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    // Publishing under the mutex pairs with the sleeper's wait predicate (no lost wake-up).
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();
  fn(ctx, 0, n_threads_);
  // With more threads than cores a spinning waiter can starve the thread it waits for, so yield
  // now and then; otherwise pure spinning (sched_yield is a costly syscall in some VMs).
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    CpuRelax();
    if (oversubscribed_ && spins % 256 == 255) sched_yield();
  }
}

void ThreadPool::WorkerLoop(int tid) {
  uint64_t seen = 0;
  for (;;) {
    auto spin_until = std::chrono::steady_clock::now() + kSpinDuration;
    uint64_t gen;
    int spins = 0;
    while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
      CpuRelax();
      if (++spins % 256 == 0 && oversubscribed_) sched_yield();
      if (spins % 1024 == 0 && std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        sleepers_.fetch_sub(1);
        spin_until = std::chrono::steady_clock::now() + kSpinDuration;
      }
    }
    seen = gen;
    if (stop_.load()) return;
    job_fn_(job_ctx_, tid, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace suanli
