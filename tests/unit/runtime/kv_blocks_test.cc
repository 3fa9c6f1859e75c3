#include "runtime/kv_blocks.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "model/footprint.h"

namespace suanli::runtime {
namespace {

std::vector<int32_t> Tokens(int64_t n, int32_t start = 1) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

TEST(KvBlocks, ReserveAllocateRelease) {
  KvBlocks kv(4, true);
  EXPECT_EQ(kv.available(), 4);
  EXPECT_FALSE(kv.Reserve(5));
  EXPECT_TRUE(kv.Reserve(3));
  EXPECT_EQ(kv.available(), 1);
  const int32_t a = kv.Allocate(), b = kv.Allocate();
  EXPECT_NE(a, b);
  EXPECT_EQ(kv.used(), 2);
  EXPECT_EQ(kv.available(), 1);  // two taken, one still promised
  kv.Unreserve(1);
  kv.Release(a);
  kv.Release(b);
  EXPECT_EQ(kv.used(), 0);
  EXPECT_EQ(kv.available(), 4);
}

TEST(KvBlocks, PrefixChainsAreSharedAndVerified) {
  KvBlocks kv(8, true);
  const auto t = Tokens(3 * kKvBlockTokens);
  ASSERT_TRUE(kv.Reserve(3));
  int32_t b[3];
  for (int i = 0; i < 3; ++i) {
    b[i] = kv.Allocate();
    kv.Register(b[i], i ? b[i - 1] : -1,
                std::span<const int32_t>(t).subspan(i * kKvBlockTokens, kKvBlockTokens));
  }
  EXPECT_EQ(kv.Match(t, 3), 3);
  EXPECT_EQ(kv.Match(t, 2), 2);
  // A prompt that differs in its second block shares only the first.
  auto u = t;
  u[kKvBlockTokens + 3] = 999;
  EXPECT_EQ(kv.Match(u, 3), 1);
  // The same tokens as block 2 but after a different first block: no match (parents compare by
  // identity, not by hash).
  auto v = t;
  v[0] = 555;
  EXPECT_EQ(kv.Match(v, 3), 0);
  const auto hit = kv.Lookup(t, 3);
  ASSERT_EQ(hit.size(), 3u);
  EXPECT_EQ(hit[0], b[0]);
  EXPECT_EQ(hit[2], b[2]);
  for (int32_t x : hit) kv.Release(x);
  for (int32_t x : b) kv.Release(x);
  // Unused but cached: available, and still found.
  EXPECT_EQ(kv.available(), 8);
  EXPECT_EQ(kv.cached_unused(), 3);
  EXPECT_EQ(kv.Match(t, 3), 3);
}

TEST(KvBlocks, EvictsLeastRecentlyUsedAndForgetsChildren) {
  KvBlocks kv(2, true);
  const auto t = Tokens(2 * kKvBlockTokens);
  ASSERT_TRUE(kv.Reserve(2));
  const int32_t a = kv.Allocate(), b = kv.Allocate();
  kv.Register(a, -1, std::span<const int32_t>(t).subspan(0, kKvBlockTokens));
  kv.Register(b, a, std::span<const int32_t>(t).subspan(kKvBlockTokens, kKvBlockTokens));
  kv.Release(b);  // b is less recently used than a
  kv.Release(a);
  ASSERT_TRUE(kv.Reserve(1));
  EXPECT_EQ(kv.Allocate(), b);
  EXPECT_EQ(kv.Match(t, 2), 1);
  ASSERT_TRUE(kv.Reserve(1));
  EXPECT_EQ(kv.Allocate(), a);  // the parent goes too
  EXPECT_EQ(kv.Match(t, 2), 0);
  EXPECT_EQ(kv.stats().evictions, 2u);
}

TEST(KvBlocks, ReusedParentInvalidatesStaleChildren) {
  KvBlocks kv(3, true);
  const auto t = Tokens(2 * kKvBlockTokens);
  ASSERT_TRUE(kv.Reserve(2));
  const int32_t a = kv.Allocate(), b = kv.Allocate();
  kv.Register(a, -1, std::span<const int32_t>(t).subspan(0, kKvBlockTokens));
  kv.Register(b, a, std::span<const int32_t>(t).subspan(kKvBlockTokens, kKvBlockTokens));
  kv.Release(a);
  ASSERT_TRUE(kv.Reserve(2));
  const int32_t f = kv.Allocate();  // the free block first
  EXPECT_NE(f, a);
  EXPECT_EQ(kv.Allocate(), a);  // then evicts a while b stays in use
  // a now holds other data: registering it under the same first tokens again must not revive b
  // as its child unless b is registered again under the new a.
  kv.Register(a, -1, std::span<const int32_t>(t).subspan(0, kKvBlockTokens));
  EXPECT_EQ(kv.Match(t, 2), 1);
  kv.Release(a);
  kv.Release(b);
  kv.Release(f);
}

TEST(KvBlocks, CacheOffFindsNothing) {
  KvBlocks kv(2, false);
  const auto t = Tokens(kKvBlockTokens);
  ASSERT_TRUE(kv.Reserve(1));
  const int32_t a = kv.Allocate();
  kv.Register(a, -1, t);
  kv.Release(a);
  EXPECT_EQ(kv.Match(t, 1), 0);
  EXPECT_TRUE(kv.Lookup(t, 1).empty());
  EXPECT_EQ(kv.cached_unused(), 0);
}

}  // namespace
}  // namespace suanli::runtime
