#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace suanli {
namespace {

TEST(SplitRange, CoversEverythingOnceAligned) {
  for (int64_t n : {0, 1, 7, 64, 1000, 1003}) {
    for (int parts : {1, 2, 3, 8}) {
      std::vector<int> hits(static_cast<size_t>(n), 0);
      for (int p = 0; p < parts; ++p) {
        Range r = SplitRange(n, p, parts, 16);
        EXPECT_LE(r.begin, r.end);
        if (r.begin < r.end && r.begin != 0) {
          EXPECT_EQ(r.begin % 16, 0);
        }
        for (int64_t i = r.begin; i < r.end; ++i) hits[static_cast<size_t>(i)]++;
      }
      for (int h : hits) EXPECT_EQ(h, 1);
    }
  }
}

TEST(ThreadPool, RunsEveryThreadEveryTime) {
  for (int n : {1, 2, 4}) {
    ThreadPool pool(n);
    std::atomic<int> sum{0};
    for (int iter = 0; iter < 2000; ++iter) {
      pool.Run([&](int tid, int nth) {
        EXPECT_EQ(nth, n);
        sum.fetch_add(tid + 1);
      });
    }
    EXPECT_EQ(sum.load(), 2000 * n * (n + 1) / 2);
  }
}

// Two threads calling Run on one pool at once (a server's scheduler and another user): every job
// still runs on every thread exactly once, and no job sees another's context.
TEST(ThreadPool, ConcurrentCallersEachGetWholeJobs) {
  ThreadPool pool(3);
  constexpr int kIters = 3000;
  std::atomic<int64_t> sums[2] = {0, 0};
  std::atomic<int> bad{0};
  auto caller = [&](int who) {
    for (int iter = 0; iter < kIters; ++iter) {
      std::atomic<int> seen{0};
      pool.Run([&](int tid, int nth) {
        if (nth != 3) bad.fetch_add(1);
        seen.fetch_add(1);
        sums[who].fetch_add(tid + 1);
      });
      if (seen.load() != 3) bad.fetch_add(1);
    }
  };
  std::thread a(caller, 0), b(caller, 1);
  a.join();
  b.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(sums[0].load(), int64_t{kIters} * 6);
  EXPECT_EQ(sums[1].load(), int64_t{kIters} * 6);
}

}  // namespace
}  // namespace suanli
