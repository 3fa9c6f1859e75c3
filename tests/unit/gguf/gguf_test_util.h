// Helpers for the GGUF tests: a byte-level builder that can write files the real writer refuses
// to (hostile inputs), a sample file with every value type, and the test-data directory lookup.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

namespace suanli::testing {

// Little-endian byte appender.
struct Bytes {
  std::string b;
  template <typename T>
  Bytes& Put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(v));
    return *this;
  }
  Bytes& U8(uint8_t v) { return Put(v); }
  Bytes& U32(uint32_t v) { return Put(v); }
  Bytes& I32(int32_t v) { return Put(v); }
  Bytes& U64(uint64_t v) { return Put(v); }
  Bytes& Str(std::string_view s) {
    U64(s.size());
    b.append(s);
    return *this;
  }
  Bytes& Raw(std::string_view s) {
    b.append(s);
    return *this;
  }
};

// Encoded metadata values: u32 type tag + payload.
inline std::string KvU32(uint32_t v) { return Bytes().U32(4).U32(v).b; }
inline std::string KvI32(int32_t v) { return Bytes().U32(5).I32(v).b; }
inline std::string KvU64(uint64_t v) { return Bytes().U32(10).U64(v).b; }
inline std::string KvStr(std::string_view s) { return Bytes().U32(8).Str(s).b; }

struct RawTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;
  uint64_t offset = 0;
};

// A GGUF file assembled field by field; every field may be set to a bad value.
struct RawGguf {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::optional<uint64_t> n_tensors;                     // default: tensors.size()
  std::optional<uint64_t> n_kv;                          // default: kvs.size()
  std::vector<std::pair<std::string, std::string>> kvs;  // key, encoded value
  std::vector<RawTensor> tensors;
  uint64_t align = 32;  // padding before the data section
  std::string data;     // the data section

  std::string Build() const {
    Bytes o;
    o.U32(magic).U32(version);
    o.U64(n_tensors.value_or(tensors.size())).U64(n_kv.value_or(kvs.size()));
    for (const auto& [k, v] : kvs) o.Str(k).Raw(v);
    for (const RawTensor& t : tensors) {
      o.Str(t.name).U32(static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) o.U64(d);
      o.U32(t.type).U64(t.offset);
    }
    if (align > 1) o.b.append((align - o.b.size() % align) % align, '\0');
    o.b += data;
    return o.b;
  }
};

// The parsed file points into `s`, which must outlive it (hence no temporaries).
inline StatusOr<std::unique_ptr<GgufFile>> ParseString(const std::string& s,
                                                       std::string name = "test.gguf") {
  return GgufFile::Parse(reinterpret_cast<const uint8_t*>(s.data()), s.size(), std::move(name));
}
StatusOr<std::unique_ptr<GgufFile>> ParseString(std::string&& s,
                                                std::string name = "test.gguf") = delete;

// One value of every scalar type, strings with awkward bytes, and nested arrays.
inline GgufWriter SampleWriter() {
  GgufWriter w;
  auto scalar = [](GgufValueType t) {
    GgufValue v;
    v.type = t;
    return v;
  };
  auto uval = [&](GgufValueType t, uint64_t x) {
    GgufValue v = scalar(t);
    v.u = x;
    return v;
  };
  auto ival = [&](GgufValueType t, int64_t x) {
    GgufValue v = scalar(t);
    v.i = x;
    return v;
  };
  GgufValue f64 = scalar(GgufValueType::kFloat64);
  f64.f = 1e300;
  w.SetValue("t.u8", uval(GgufValueType::kUint8, 200));
  w.SetValue("t.i8", ival(GgufValueType::kInt8, -100));
  w.SetValue("t.u16", uval(GgufValueType::kUint16, 60000));
  w.SetValue("t.i16", ival(GgufValueType::kInt16, -30000));
  w.SetUint32("t.u32", 4000000000u);
  w.SetInt32("t.i32", -2000000000);
  w.SetFloat32("t.f32", 0.1f);
  w.SetBool("t.bool", true);
  w.SetString("t.str", std::string_view("caf\xc3\xa9 \"q\"\n\x01\0z", 13));
  w.SetUint64("t.u64", 18000000000000000000ull);
  w.SetValue("t.i64", ival(GgufValueType::kInt64, -9000000000000000000ll));
  w.SetValue("t.f64", f64);
  w.SetStringArray("t.strs", {"a", "", "<s>"});
  w.SetFloat32Array("t.f32s", {1.5f, -2.0f});
  w.SetInt32Array("t.i32s", {1, -2, 3});
  // [[1, 2], [], [3]] as arrays of int32 inside an array.
  GgufValue nested = scalar(GgufValueType::kArray);
  nested.elem_type = GgufValueType::kArray;
  for (std::vector<int64_t> row : {std::vector<int64_t>{1, 2}, {}, {3}}) {
    GgufValue inner = scalar(GgufValueType::kArray);
    inner.elem_type = GgufValueType::kInt32;
    for (int64_t x : row) {
      GgufValue e = scalar(GgufValueType::kInt32);
      e.i = x;
      inner.array.push_back(e);
    }
    nested.array.push_back(inner);
  }
  w.SetValue("t.nested", nested);
  return w;
}

// Test data: $SUANLI_TESTDATA, else $SUANLI_SOURCE_DIR/../shared/testdata; nullopt if absent.
inline std::optional<std::filesystem::path> TestDataDir() {
  std::filesystem::path dir;
  if (const char* td = std::getenv("SUANLI_TESTDATA"); td && *td) {
    dir = td;
  } else if (const char* src = std::getenv("SUANLI_SOURCE_DIR"); src && *src) {
    dir = std::filesystem::path(src) / ".." / "shared" / "testdata";
  } else {
    return std::nullopt;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return std::nullopt;
  return dir;
}

}  // namespace suanli::testing
