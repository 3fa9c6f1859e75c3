#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace suanli
