// GGUF reader: parses a GGUF v2/v3 file that is memory-mapped, with zero-copy tensor views.
//
// File format (little-endian):
//   u32 magic "GGUF" | u32 version (2 or 3) | u64 n_tensors | u64 n_kv
//   n_kv × { string key | u32 value_type | value }
//   n_tensors × { string name | u32 n_dims (1..4) | u64 dims[n_dims] | u32 ggml_type | u64 offset }
//   padding to `general.alignment` (default 32) | tensor data (offsets relative to here)
//   string = u64 length + bytes (no NUL). Arrays: u32 elem_type + u64 count + elements; arrays may
//   nest. dims[0] is the innermost (contiguous) dimension: a matrix W[rows][cols] has
//   dims = {cols, rows}.
// Every count, length and offset is checked against the bytes present before use; a malformed file
// yields a Status naming the file and the bad field, never a crash or an out-of-bounds read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "gguf/tensor_type.h"
#include "suanli/status.h"

namespace suanli {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view GgufValueTypeName(GgufValueType t);

// One metadata value. Scalars are widened into u/i/f; strings are views into the mapped file.
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  uint64_t u = 0;                                   // unsigned integer types and bool
  int64_t i = 0;                                    // signed integer types
  double f = 0;                                     // float32 / float64
  std::string_view str;                             // kString
  GgufValueType elem_type = GgufValueType::kUint8;  // kArray: element type
  std::vector<GgufValue> array;                     // kArray: elements (may be arrays)

  bool is_integer() const;
  // Human-readable rendering for `suanli inspect` (long arrays abbreviated).
  std::string ToString(size_t max_elems = 8) const;
};

struct GgufKV {
  std::string_view key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string_view name;
  TensorType type = TensorType::kF32;
  std::vector<int64_t> dims;      // dims[0] = row length (contiguous)
  uint64_t offset = 0;            // relative to the data section
  size_t size_bytes = 0;          // bytes this tensor occupies
  const uint8_t* data = nullptr;  // zero-copy view into the mapping

  int64_t n_elements() const;
  int64_t row_length() const { return dims.empty() ? 1 : dims[0]; }
  int64_t n_rows() const { return row_length() == 0 ? 0 : n_elements() / row_length(); }
  size_t row_bytes() const { return RowBytes(type, row_length()); }
};

class GgufFile {
 public:
  // Maps and parses the file. Errors name `path` and the bad field.
  static StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path,
                                                  LoadMode mode = LoadMode::kMmap);
  // Parses a buffer the caller keeps alive (fuzzing, tests); `name` is used in errors.
  static StatusOr<std::unique_ptr<GgufFile>> Parse(const uint8_t* data, size_t size,
                                                   std::string name);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  size_t data_offset() const { return data_offset_; }  // start of tensor data in the file
  size_t file_size() const { return size_; }
  const uint8_t* file_data() const { return base_; }

  const std::vector<GgufKV>& metadata() const { return kvs_; }
  const GgufValue* Find(std::string_view key) const;

  // Typed getters: NotFound when absent, InvalidArgument when of the wrong type.
  StatusOr<std::string> GetString(std::string_view key) const;
  StatusOr<uint64_t> GetUint(std::string_view key) const;  // any non-negative integer type
  StatusOr<int64_t> GetInt(std::string_view key) const;    // any integer type that fits
  StatusOr<double> GetFloat(std::string_view key) const;   // float32/float64 (or an integer)
  StatusOr<bool> GetBool(std::string_view key) const;
  StatusOr<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;
  StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  Status ParseAll();

  std::unique_ptr<MappedFile> file_;
  std::string name_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<GgufKV> kvs_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace suanli
