// ThreadPool: a persistent pool for data-parallel kernels.
//
// Run(fn) calls fn(part, n_parts) once for every part in [0, n_parts) (n_parts = size()) and
// returns when all are done. Parts are claimed by whichever thread is free — the caller included
// — so a worker the OS has descheduled (another process, a server's other threads) never makes
// the caller wait for work nobody has started: the caller does that part itself. Kernels split
// work by part with SplitRange and compute each output the same way whoever runs it, so results
// never depend on the thread count or on who ran what. A part index is unique within a job, so
// scratch indexed by it is never shared.
//
// Workers spin briefly between jobs (the ~100 dispatches of one decoded token cost
// microseconds, not a futex round trip each), then sleep. Several threads may call Run on one
// pool: their jobs run one after another. Run must not be called from inside a job.
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
    RunImpl([](void* ctx, int part,
               int parts) { (*static_cast<std::remove_reference_t<F>*>(ctx))(part, parts); },
            &fn);
  }

  // Number of hardware threads available to this process (at least 1).
  static int HardwareThreads();

 private:
  using JobFn = void (*)(void*, int, int);
  void RunImpl(JobFn fn, void* ctx);
  void WorkerLoop();
  // Claims and runs parts of job `gen` until none is left; returns how many it ran.
  int RunParts(uint32_t gen);

  int n_threads_;
  std::vector<std::thread> workers_;
  JobFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  // (generation << 32) | next unclaimed part: a claim succeeds only within its own job.
  alignas(64) std::atomic<uint64_t> claim_{0};
  alignas(64) std::atomic<int> done_{0};  // parts finished in the current job
  std::atomic<uint32_t> generation_{0};
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
