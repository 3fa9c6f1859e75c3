// Flat open-addressing hash tables for vocabulary lookups. Building them for a 150k-token
// vocabulary with 150k merges must take milliseconds, which node-based std::unordered_map does not
// manage.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace suanli {

inline uint64_t HashBytes(std::string_view s) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0x243F6A8885A308D3ull ^ (s.size() * kMul);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    h = (h ^ v) * kMul;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i < s.size(); ++i, k += 8) {
    tail |= static_cast<uint64_t>(static_cast<uint8_t>(s[i])) << k;
  }
  h = (h ^ tail) * kMul;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}

// Maps a string to an int32 id. The strings live elsewhere; callers pass `text_of(id)`.
class StringIdTable {
 public:
  void Reset(size_t expected) {
    size_t cap = 16;
    while (cap < expected + expected / 2) cap <<= 1;  // load <= 2/3: compact, short probes
    slots_.assign(cap, Slot{0, -1});
    mask_ = cap - 1;
  }

  // Inserts or replaces (the last insertion of a string wins).
  template <typename TextOf>
  void Put(std::string_view s, int32_t id, TextOf text_of) {
    const uint64_t h = HashBytes(s);
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = Slot{tag, id};
        return;
      }
      if (slot.tag == tag && text_of(slot.id) == s) {
        slot.id = id;
        return;
      }
    }
  }

  template <typename TextOf>
  int32_t Find(std::string_view s, TextOf text_of) const {
    if (slots_.empty()) return -1;
    const uint64_t h = HashBytes(s);
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.tag == tag && text_of(slot.id) == s) return slot.id;
    }
  }

 private:
  struct Slot {
    uint32_t tag;  // high hash bits: skips most string compares
    int32_t id;    // -1: empty
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// Maps a pair of token ids to the merge (rank, merged id) of byte-level BPE.
class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t merged;
  };

  void Reset(size_t expected) {
    size_t cap = 16;
    while (cap < expected + expected / 2) cap <<= 1;  // load <= 2/3: compact, short probes
    slots_.assign(cap, Slot{kEmpty, {0, 0}});
    mask_ = cap - 1;
    shift_ = 64;
    while (cap > 1) cap >>= 1, --shift_;
  }

  // Keeps the first (lowest-rank) merge of a pair, as the merges list is ordered by priority.
  void Insert(int32_t left, int32_t right, Merge m) {
    const uint64_t key = Key(left, right);
    for (size_t i = Index(key);; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.key == kEmpty) {
        slot = Slot{key, m};
        return;
      }
      if (slot.key == key) return;
    }
  }

  const Merge* Find(int32_t left, int32_t right) const {
    if (slots_.empty() || left < 0 || right < 0) return nullptr;
    const uint64_t key = Key(left, right);
    for (size_t i = Index(key);; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return &slot.merge;
      if (slot.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static uint64_t Key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  // Fibonacci hashing: the product's top bits depend on every key bit.
  size_t Index(uint64_t k) const { return (k * 0x9E3779B97F4A7C15ull) >> shift_; }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
};

}  // namespace suanli
