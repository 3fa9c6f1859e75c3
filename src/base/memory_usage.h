// Resident memory of this process, split into file-backed pages (mmapped weights) and anonymous
// pages (KV cache, scratch, heap), from /proc/self/status. Zeros where /proc is unavailable.
#pragma once

#include <cstdint>

namespace suanli {

struct MemoryUsage {
  uint64_t rss_bytes = 0;
  uint64_t rss_file_bytes = 0;  // mapped files (the model's weights)
  uint64_t rss_anon_bytes = 0;  // everything the process allocated
};

MemoryUsage ReadMemoryUsage();

}  // namespace suanli
