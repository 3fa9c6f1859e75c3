// GGUF writer: builds a GGUF v3 file (metadata + tensors) and writes it atomically.
//
// Tensor data may be given as bytes or produced at write time by a callback, so a 1 GB model
// can be synthesized without holding it in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/tensor_type.h"
#include "suanli/status.h"

namespace suanli {

class GgufWriter {
 public:
  // Fills `dst` (exactly the tensor's byte size) when the file is written.
  using TensorFiller = std::function<void(uint8_t* dst, size_t size)>;

  void SetString(std::string_view key, std::string_view value);
  void SetUint32(std::string_view key, uint32_t value);
  void SetInt32(std::string_view key, int32_t value);
  void SetUint64(std::string_view key, uint64_t value);
  void SetFloat32(std::string_view key, float value);
  void SetBool(std::string_view key, bool value);
  void SetStringArray(std::string_view key, const std::vector<std::string>& values);
  void SetFloat32Array(std::string_view key, const std::vector<float>& values);
  void SetInt32Array(std::string_view key, const std::vector<int32_t>& values);
  // Copies a value read from another file (any type, including nested arrays).
  void SetValue(std::string_view key, const GgufValue& value);

  // dims[0] is the row length. The byte size follows from type and dims.
  Status AddTensor(std::string_view name, TensorType type, std::vector<int64_t> dims,
                   TensorFiller fill);
  Status AddTensorBytes(std::string_view name, TensorType type, std::vector<int64_t> dims,
                        const void* data, size_t size);

  // Writes version 3 with `general.alignment` (default 32). Optional progress callback gets
  // (bytes written, total bytes).
  Status WriteFile(const std::string& path,
                   const std::function<void(uint64_t, uint64_t)>& progress = nullptr) const;
  // Serializes to memory (tests, fuzz corpus).
  StatusOr<std::string> WriteToString() const;

 private:
  struct Kv {
    std::string key;
    std::string encoded;  // u32 type + payload
  };
  struct Tensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> dims;
    size_t size;
    TensorFiller fill;
  };
  void PutKv(std::string_view key, std::string encoded);
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace suanli
