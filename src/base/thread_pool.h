// ThreadPool: a persistent pool for data-parallel kernels.
//
// Run(fn) calls fn(thread_index, n_threads) on every thread (the caller is thread 0) and returns
// when all are done. Workers spin briefly between jobs, then sleep, so the ~100 dispatches per
// decoded token cost microseconds, not a futex round trip each. Kernels split work by output
// rows with SplitRange, so results never depend on the thread count.
//
// Several threads may call Run on one pool (a server's scheduler and a benchmark, two stages of
// a worker): jobs then run one after another, each on all threads. Run must not be called from
// inside a job.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace suanli {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  template <typename F>
  void Run(F&& fn) {
    RunImpl([](void* ctx, int tid,
               int nth) { (*static_cast<std::remove_reference_t<F>*>(ctx))(tid, nth); },
            &fn);
  }

  // Number of hardware threads available to this process (at least 1).
  static int HardwareThreads();

 private:
  using JobFn = void (*)(void*, int, int);
  void RunImpl(JobFn fn, void* ctx);
  void WorkerLoop(int tid);

  int n_threads_;
  bool oversubscribed_;  // more threads than cores: waiters must yield
  std::vector<std::thread> workers_;
  JobFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  alignas(64) std::atomic<uint64_t> generation_{0};
  alignas(64) std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex run_mu_;  // one job at a time when several threads call Run
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
};

// Splits [0, n) into `parts` contiguous chunks aligned to `align`; returns chunk `part`.
struct Range {
  int64_t begin, end;
};
inline Range SplitRange(int64_t n, int part, int parts, int64_t align = 1) {
  int64_t blocks = (n + align - 1) / align;
  int64_t per = blocks / parts, extra = blocks % parts;
  int64_t b0 = part * per + (part < extra ? part : extra);
  int64_t b1 = b0 + per + (part < extra ? 1 : 0);
  int64_t begin = b0 * align, end = b1 * align;
  if (begin > n) begin = n;
  if (end > n) end = n;
  return {begin, end};
}

}  // namespace suanli
