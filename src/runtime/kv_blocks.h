// KvBlocks: who owns which block of a KV pool (model/kv_cache.h stores them), and the prefix
// cache that lets sequences with a common prefix share its blocks instead of computing and storing
// it again.
//
// Blocks are reference-counted. A block whose kKvBlockTokens positions are all computed can be
// registered under its content: (the block before it in the sequence, the tokens it holds). A new
// sequence looks its prompt up block by block from the start and takes every block that matches
// (contents are compared token by token and parents by identity, so a hash collision can never
// hand out wrong KV). A registered block nobody uses stays cached until the space is needed; the
// least recently used goes first. Blocks carry a generation that changes when a block is reused,
// so cache entries chained to a parent that has since been evicted can never match.
//
// Capacity is reserved up front: a sequence reserves every block it may come to own when it is
// admitted (prompt plus max tokens), so a running sequence never waits for memory and no
// preemption is needed; a request that does not fit waits in the scheduler's queue.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace suanli::runtime {

class KvBlocks {
 public:
  KvBlocks(int64_t n_blocks, bool prefix_cache);

  int64_t n_blocks() const { return n_blocks_; }
  // Blocks that can still be promised: free plus cached-and-unused, minus reservations.
  int64_t available() const;
  int64_t used() const { return n_blocks_ - static_cast<int64_t>(free_.size()) - cached_unused(); }
  int64_t cached_unused() const { return static_cast<int64_t>(lru_.size()); }
  bool prefix_cache() const { return prefix_cache_; }

  // Promises n blocks (false, and nothing changes, if they are not available).
  bool Reserve(int64_t n);
  void Unreserve(int64_t n);
  // One block out of a reservation: a free one, else the least recently used cached one.
  int32_t Allocate();
  void Retain(int32_t block);
  void Release(int32_t block);

  // The longest run of cached blocks that hold tokens[0 .. max_blocks·B) from the start; each
  // returned block is retained for the caller.
  std::vector<int32_t> Lookup(std::span<const int32_t> tokens, int64_t max_blocks);
  // How many blocks Lookup would return (nothing retained, nothing counted).
  int64_t Match(std::span<const int32_t> tokens, int64_t max_blocks) const;
  // `block` (computed, full) holds `tokens` (kKvBlockTokens of them) after `parent` (-1: the
  // first block). Ignored when an identical block is already cached or caching is off.
  void Register(int32_t block, int32_t parent, std::span<const int32_t> tokens);
  // The KV behind every block is gone (the executor lost it): nothing cached is offered again,
  // cached blocks nobody uses become free, and blocks in use stay with their owners.
  void Forget();

  struct Stats {
    uint64_t lookups = 0, lookup_blocks = 0, hit_blocks = 0, evictions = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Block {
    int32_t refs = 0;
    bool cached = false;
    uint32_t generation = 0;  // bumped on reuse
    int32_t parent = -1;
    uint32_t parent_generation = 0;
    uint64_t key = 0;
    std::vector<int32_t> tokens;
    std::list<int32_t>::iterator lru;  // valid when cached && refs == 0
  };
  uint64_t Key(int32_t parent, uint32_t parent_gen, std::span<const int32_t> tokens) const;
  int32_t Find(int32_t parent, std::span<const int32_t> tokens) const;
  void Uncache(int32_t b);

  int64_t n_blocks_;
  bool prefix_cache_;
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;
  std::list<int32_t> lru_;  // cached, unused; front = least recently used
  std::unordered_multimap<uint64_t, int32_t> index_;
  int64_t reserved_ = 0;
  Stats stats_;
};

}  // namespace suanli::runtime
