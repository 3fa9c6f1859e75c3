// MappedFile: a read-only memory map of a whole file (weights are mapped, never copied).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "suanli/status.h"

namespace suanli {

// How a file's bytes reach memory.
enum class LoadMode {
  kMmap,           // map the page cache read-only: zero copy, shared with other processes
  kCopyHugePages,  // read into private memory backed by 2 MiB pages where the kernel allows
                   // (transparent huge pages): far fewer TLB misses when streaming gigabytes
                   // of weights every token, at the cost of a private copy
};

class MappedFile {
 public:
  // Maps (or copies) `path` read-only. An empty file maps to data()==nullptr, size()==0.
  static StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path,
                                                    LoadMode mode = LoadMode::kMmap);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Hints the kernel to read [offset, offset+len) ahead (used when loading weights).
  void Prefetch(size_t offset, size_t len) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole file into a string (small files: prompts, JSON).
StatusOr<std::string> ReadFileToString(const std::string& path);
// Writes bytes to a file atomically (write to a temp name, then rename), with permission bits
// `mode` (0600 for secrets: the file is never readable by others, not even briefly).
Status WriteFileAtomic(const std::string& path, const void* data, size_t size,
                       unsigned mode = 0644);

}  // namespace suanli
