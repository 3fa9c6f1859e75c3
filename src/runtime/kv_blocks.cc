#include "runtime/kv_blocks.h"

#include <algorithm>

#include "base/check.h"
#include "model/footprint.h"

namespace suanli::runtime {

KvBlocks::KvBlocks(int64_t n_blocks, bool prefix_cache)
    : n_blocks_(n_blocks), prefix_cache_(prefix_cache), blocks_(static_cast<size_t>(n_blocks)) {
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

int64_t KvBlocks::available() const {
  return static_cast<int64_t>(free_.size() + lru_.size()) - reserved_;
}

bool KvBlocks::Reserve(int64_t n) {
  if (n < 0 || n > available()) return false;
  reserved_ += n;
  return true;
}

void KvBlocks::Unreserve(int64_t n) {
  SL_CHECK(n >= 0 && n <= reserved_);
  reserved_ -= n;
}

void KvBlocks::Uncache(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (!blk.cached) return;
  auto [lo, hi] = index_.equal_range(blk.key);
  for (auto it = lo; it != hi; ++it)
    if (it->second == b) {
      index_.erase(it);
      break;
    }
  blk.cached = false;
  blk.tokens.clear();
}

int32_t KvBlocks::Allocate() {
  SL_CHECK(reserved_ > 0);
  --reserved_;
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    SL_CHECK(!lru_.empty());
    b = lru_.front();
    lru_.pop_front();
    Uncache(b);
    ++stats_.evictions;
  }
  Block& blk = blocks_[static_cast<size_t>(b)];
  ++blk.generation;
  blk.refs = 1;
  return b;
}

void KvBlocks::Retain(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.refs++ == 0 && blk.cached) lru_.erase(blk.lru);
}

void KvBlocks::Release(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  SL_CHECK(blk.refs > 0);
  if (--blk.refs > 0) return;
  if (blk.cached) {
    lru_.push_back(b);
    blk.lru = std::prev(lru_.end());
  } else {
    free_.push_back(b);
  }
}

uint64_t KvBlocks::Key(int32_t parent, uint32_t parent_gen, std::span<const int32_t> tokens) const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) {
    h ^= v;
    h *= 1099511628211ull;
    h ^= h >> 29;
  };
  mix(static_cast<uint64_t>(static_cast<uint32_t>(parent)));
  mix(parent_gen);
  for (int32_t t : tokens) mix(static_cast<uint32_t>(t));
  return h;
}

int32_t KvBlocks::Find(int32_t parent, std::span<const int32_t> tokens) const {
  const uint32_t pgen = parent >= 0 ? blocks_[static_cast<size_t>(parent)].generation : 0;
  auto [lo, hi] = index_.equal_range(Key(parent, pgen, tokens));
  for (auto it = lo; it != hi; ++it) {
    const Block& c = blocks_[static_cast<size_t>(it->second)];
    if (c.parent == parent && c.parent_generation == pgen &&
        std::equal(c.tokens.begin(), c.tokens.end(), tokens.begin(), tokens.end()))
      return it->second;
  }
  return -1;
}

std::vector<int32_t> KvBlocks::Lookup(std::span<const int32_t> tokens, int64_t max_blocks) {
  std::vector<int32_t> out;
  if (!prefix_cache_) return out;
  ++stats_.lookups;
  const int64_t n =
      std::min<int64_t>(max_blocks, static_cast<int64_t>(tokens.size()) / kKvBlockTokens);
  stats_.lookup_blocks += static_cast<uint64_t>(std::max<int64_t>(n, 0));
  int32_t parent = -1;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t b =
        Find(parent, tokens.subspan(static_cast<size_t>(i * kKvBlockTokens), kKvBlockTokens));
    if (b < 0) break;
    Retain(b);
    out.push_back(b);
    parent = b;
  }
  stats_.hit_blocks += out.size();
  return out;
}

int64_t KvBlocks::Match(std::span<const int32_t> tokens, int64_t max_blocks) const {
  if (!prefix_cache_) return 0;
  const int64_t n =
      std::min<int64_t>(max_blocks, static_cast<int64_t>(tokens.size()) / kKvBlockTokens);
  int32_t parent = -1;
  int64_t i = 0;
  for (; i < n; ++i) {
    const int32_t b =
        Find(parent, tokens.subspan(static_cast<size_t>(i * kKvBlockTokens), kKvBlockTokens));
    if (b < 0) break;
    parent = b;
  }
  return i;
}

void KvBlocks::Forget() {
  for (size_t b = 0; b < blocks_.size(); ++b) {
    Block& blk = blocks_[b];
    Uncache(static_cast<int32_t>(b));
    ++blk.generation;  // no chain through it can match
  }
  for (int32_t b : lru_) free_.push_back(b);
  lru_.clear();
}

void KvBlocks::Register(int32_t b, int32_t parent, std::span<const int32_t> tokens) {
  if (!prefix_cache_ || static_cast<int64_t>(tokens.size()) != kKvBlockTokens) return;
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.cached || Find(parent, tokens) >= 0) return;
  blk.cached = true;
  blk.parent = parent;
  blk.parent_generation = parent >= 0 ? blocks_[static_cast<size_t>(parent)].generation : 0;
  blk.tokens.assign(tokens.begin(), tokens.end());
  blk.key = Key(parent, blk.parent_generation, tokens);
  index_.emplace(blk.key, b);
  if (blk.refs == 0) {  // registered after its last user left (not the usual order)
    auto it = std::find(free_.begin(), free_.end(), b);
    if (it != free_.end()) free_.erase(it);
    lru_.push_back(b);
    blk.lru = std::prev(lru_.end());
  }
}

}  // namespace suanli::runtime
