// Hostile inputs: every malformed file must give a Status naming the file and the bad field (never
// a crash, an out-of-bounds read or a huge allocation). Each test checks a fragment of the message
// so we know the intended check fired, not some earlier one.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"

namespace suanli {
namespace {

using testing::Bytes;
using testing::KvI32;
using testing::KvStr;
using testing::KvU32;
using testing::KvU64;
using testing::ParseString;
using testing::RawGguf;
using testing::RawTensor;

constexpr uint32_t kF32 = 0, kQ8_0 = 8, kQ8_1 = 9;

// A valid file: one metadata entry and two F32 tensors, w {8, 2} at 0 and b {8} at 64.
RawGguf ValidRaw() {
  RawGguf r;
  r.kvs.push_back({"general.architecture", KvStr("llama")});
  r.tensors.push_back({"w", {8, 2}, kF32, 0});
  r.tensors.push_back({"b", {8}, kF32, 64});
  r.data.assign(96, '\x11');
  return r;
}

bool ParsesOk(const std::string& bytes) {
  auto f = ParseString(bytes);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok();
}

void ExpectError(const std::string& bytes, const std::string& fragment,
                 StatusCode code = StatusCode::kInvalidArgument) {
  auto f = ParseString(bytes);
  ASSERT_FALSE(f.ok()) << "expected an error containing: " << fragment;
  EXPECT_EQ(f.status().code(), code) << f.status().ToString();
  EXPECT_EQ(f.status().message().rfind("test.gguf: ", 0), 0u) << f.status().message();
  EXPECT_NE(f.status().message().find(fragment), std::string::npos)
      << "message: " << f.status().message() << "\nwanted: " << fragment;
}

TEST(GgufHostile, ValidBaseline) {
  const std::string bytes = ValidRaw().Build();
  auto f = ParseString(bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->tensors().size(), 2u);
}

// (a) Every prefix of a valid file is rejected unless it still holds all tensor data.
TEST(GgufHostile, EveryTruncation) {
  GgufWriter w = testing::SampleWriter();
  ASSERT_TRUE(w.AddTensor("a", TensorType::kQ8_0, {64, 2}, nullptr).ok());
  ASSERT_TRUE(w.AddTensor("b", TensorType::kF32, {7}, nullptr).ok());
  auto full = w.WriteToString();
  ASSERT_TRUE(full.ok());
  auto parsed = ParseString(*full);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  size_t data_end = 0;
  for (const GgufTensorInfo& t : (*parsed)->tensors())
    data_end = std::max(data_end, (*parsed)->data_offset() + t.offset + t.size_bytes);
  ASSERT_LT(data_end, full->size());  // the file ends with padding after "b"

  for (size_t len = 0; len < full->size(); ++len) {
    // A fresh copy of exactly `len` bytes so ASan catches any read past the end.
    std::string prefix = full->substr(0, len);
    auto f = ParseString(prefix);
    if (f.ok()) {
      EXPECT_GE(len, data_end) << "truncation at " << len << " parsed OK";
    } else {
      EXPECT_EQ(f.status().message().rfind("test.gguf: ", 0), 0u) << f.status().message();
    }
  }
}

TEST(GgufHostile, TruncationMessagesNameTheField) {
  const std::string full = ValidRaw().Build();
  ExpectError("", "truncated while reading magic at offset 0");
  ExpectError(full.substr(0, 6), "truncated while reading version at offset 4");
  ExpectError(full.substr(0, 20), "truncated while reading n_kv at offset 16");
  // 10 bytes after the header cannot hold two tensor infos.
  ExpectError(full.substr(0, 34), "n_tensors 2 cannot fit in the 10 bytes after the header");
  Bytes b;  // header (24) + key length (8) + 10 of the 20 key bytes
  b.U32(0x46554747).U32(3).U64(0).U64(1).U64(20).Raw("abcdefghij");
  ExpectError(b.b,
              "truncated while reading key of metadata entry 0 at offset 32: length 20 but only 10 "
              "bytes remain");
  Bytes arr;  // the third string of an array is cut short
  arr.U32(0x46554747).U32(3).U64(0).U64(1).Str("k").U32(9).U32(8).U64(3).Str("x").Str("y").U64(5);
  arr.Raw("ab");
  ExpectError(arr.b,
              "truncated while reading string value of metadata entry 0 ('k') element [2] at "
              "offset");
}

TEST(GgufHostile, NullAndEmptyInput) {
  auto f = GgufFile::Parse(nullptr, 100, "test.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("truncated while reading magic"), std::string::npos);
}

// (b)
TEST(GgufHostile, BadMagicAndVersions) {
  RawGguf r = ValidRaw();
  r.magic = 0x46554748;
  ExpectError(r.Build(), "not a GGUF file (bad magic)");
  r = ValidRaw();
  r.version = 1;
  ExpectError(r.Build(), "unsupported GGUF version 1", StatusCode::kUnimplemented);
  r.version = 4;
  ExpectError(r.Build(), "unsupported GGUF version 4", StatusCode::kUnimplemented);
  r.version = 0x03000000;
  ExpectError(r.Build(), "(big-endian files are not supported)", StatusCode::kUnimplemented);
  r.version = 2;
  EXPECT_TRUE(ParsesOk(r.Build()));
}

// (c) Absurd counts and lengths are rejected before anything is allocated for them.
TEST(GgufHostile, AbsurdCounts) {
  RawGguf r = ValidRaw();
  r.n_kv = uint64_t{1} << 60;
  ExpectError(r.Build(), "n_kv 1152921504606846976");
  r = ValidRaw();
  r.n_tensors = uint64_t{1} << 60;
  ExpectError(r.Build(), "n_tensors 1152921504606846976");

  r = ValidRaw();
  r.kvs.push_back({"s", Bytes().U32(8).U64(uint64_t{1} << 63).b});
  ExpectError(r.Build(),
              "truncated while reading string value of metadata entry 1 ('s') at offset");
  ExpectError(r.Build(), "length 9223372036854775808 but only");

  Bytes key;  // the key's own length is absurd
  key.U32(0x46554747).U32(3).U64(0).U64(1).U64(uint64_t{1} << 63).Raw(std::string(40, 'k'));
  ExpectError(key.b,
              "truncated while reading key of metadata entry 0 at offset 32: length "
              "9223372036854775808 but only 40 bytes remain");

  Bytes name;  // a tensor name with an absurd length
  name.U32(0x46554747).U32(3).U64(1).U64(0).U64(uint64_t{1} << 63).Raw(std::string(40, 't'));
  ExpectError(name.b,
              "truncated while reading name of tensor info 0 at offset 32: length "
              "9223372036854775808");

  for (uint32_t elem : {0u /*uint8*/, 8u /*string*/, 9u /*array*/}) {
    r = ValidRaw();
    r.kvs.push_back({"arr", Bytes().U32(9).U32(elem).U64(uint64_t{1} << 62).b});
    ExpectError(r.Build(), "array count 4611686018427387904 of metadata entry 1 ('arr')");
  }
  // Plausible-looking but still too many: 1000 strings need at least 8000 bytes.
  r = ValidRaw();
  r.kvs.push_back({"arr", Bytes().U32(9).U32(8).U64(1000).b});
  ExpectError(r.Build(), "array count 1000 of metadata entry 1 ('arr')");
  ExpectError(r.Build(), "(each string takes at least 8)");
}

TEST(GgufHostile, UnknownValueTypes) {
  RawGguf r = ValidRaw();
  r.kvs.push_back({"k", Bytes().U32(13).U32(0).b});
  ExpectError(r.Build(), "unknown value type 13 of metadata entry 1 ('k')");
  r = ValidRaw();
  r.kvs.push_back({"k", Bytes().U32(9).U32(0xffffffff).U64(1).U32(0).b});
  ExpectError(r.Build(), "unknown array element type 4294967295 of metadata entry 1 ('k')");
}

// (d)
std::string NestedArrays(int levels) {
  Bytes b;
  b.U32(9);
  for (int l = 0; l < levels; ++l) b.U32(l == levels - 1 ? 0 : 9).U64(1);
  b.U8(7);
  return b.b;
}

TEST(GgufHostile, NestingDepth) {
  RawGguf r = ValidRaw();
  r.kvs.push_back({"deep", NestedArrays(8)});
  const std::string bytes = r.Build();
  auto f = ParseString(bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->Find("deep")->ToString(),
            "array<array<array<array<array<array<array<array<"
            "uint8>>>>>>>> [[[[[[[[7]]]]]]]]");
  r.kvs.back().second = NestedArrays(9);
  ExpectError(r.Build(),
              "arrays nested deeper than 8 of metadata entry 1 ('deep') element "
              "[0][0][0][0][0][0][0][0]");
  r.kvs.back().second = NestedArrays(5000);  // no deep recursion either
  ExpectError(r.Build(), "arrays nested deeper than 8");
}

// (e)
TEST(GgufHostile, TensorPlacement) {
  RawGguf r = ValidRaw();
  r.data.resize(70);
  ExpectError(r.Build(),
              "tensor 'b': data [64, 64 + 32) extends past the end of the file "
              "(data section holds 70 bytes)");
  r = ValidRaw();
  r.tensors[1].offset = uint64_t{0} - 32;  // aligned, and offset + size wraps around
  ExpectError(r.Build(), "tensor 'b': data [18446744073709551584, ");
  r = ValidRaw();
  r.tensors[1].offset = 32;
  ExpectError(r.Build(), "tensors 'w' [0, 64) and 'b' [32, 64) overlap");
  r = ValidRaw();
  r.tensors[1].offset = 65;
  ExpectError(r.Build(), "tensor 'b': offset 65 is not a multiple of the alignment 32");
  r = ValidRaw();
  r.kvs.push_back({"general.alignment", KvU32(16)});
  r.tensors[1].offset = 48;
  ExpectError(r.Build(), "tensors 'w' [0, 64) and 'b' [48, 80) overlap");

  // Tensors present but the file stops before the data section.
  r = ValidRaw();
  r.data.clear();
  r.align = 1;
  std::string bytes = r.Build();
  ASSERT_NE(bytes.size() % 32, 0u);
  ExpectError(bytes, "starts past the end of the file");
}

TEST(GgufHostile, TensorTypes) {
  RawGguf r = ValidRaw();
  r.tensors[0].type = 99;
  ExpectError(r.Build(), "tensor 'w': unknown tensor type 99");
  r = ValidRaw();
  r.tensors[0] = {"w", {64}, kQ8_1, 0};  // 2 blocks of 36 bytes
  r.tensors[1].offset = 96;
  r.data.resize(128);
  ExpectError(r.Build(),
              "tensor 'w': tensor type Q8_1 is not supported (supported: F32, F16, Q4_0, Q4_1, "
              "Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, BF16)",
              StatusCode::kUnimplemented);
  // A structural error elsewhere is reported before the unsupported type.
  r.tensors[1].offset = 97;
  ExpectError(r.Build(), "tensor 'b': offset 97 is not a multiple");
}

TEST(GgufHostile, TensorShapes) {
  RawGguf r = ValidRaw();
  r.tensors[0].dims = {};
  ExpectError(r.Build(), "tensor 'w': n_dims 0 is not in 1..4");
  r.tensors[0].dims = {1, 1, 1, 1, 1};
  ExpectError(r.Build(), "tensor 'w': n_dims 5 is not in 1..4");
  r.tensors[0].dims = {8, 1, 1, 2};
  EXPECT_TRUE(ParsesOk(r.Build()));  // 4 dims is fine

  r = ValidRaw();
  r.tensors[0] = {"w", {33}, kQ8_0, 0};
  ExpectError(r.Build(),
              "tensor 'w': row length 33 (dims[0]) is not a multiple of the Q8_0 block size 32");
  r.tensors[0].dims = {uint64_t{1} << 32, uint64_t{1} << 32};
  ExpectError(r.Build(), "tensor 'w': dims {4294967296, 4294967296} overflow the int64");
  r.tensors[0].dims = {8, uint64_t{1} << 63};
  ExpectError(r.Build(), "tensor 'w': dims[1] = 9223372036854775808 is negative as int64");
  r.tensors[0].dims = {8, ~uint64_t{0}};
  ExpectError(r.Build(), "dims[1] = 18446744073709551615 is negative as int64");
  r.tensors[0] = {"w", {uint64_t{1} << 62}, kF32, 0};  // 2^62 elements fit, 2^64 bytes do not
  ExpectError(r.Build(), "tensor 'w': byte size of dims {4611686018427387904} overflows");

  // Zero-sized dims are legal and occupy no bytes.
  r = ValidRaw();
  r.tensors[0].dims = {8, 0};
  r.tensors[1].offset = 0;
  r.data.resize(32);
  const std::string bytes = r.Build();
  auto f = ParseString(bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->tensors()[0].size_bytes, 0u);
}

// (f)
TEST(GgufHostile, DuplicatesAndAlignment) {
  RawGguf r = ValidRaw();
  r.kvs.push_back({"a", KvU32(1)});
  r.kvs.push_back({"a", KvU32(2)});
  ExpectError(r.Build(), "duplicate metadata key 'a' (entries 1 and 2)");
  r = ValidRaw();
  r.tensors[1].name = "w";
  ExpectError(r.Build(), "duplicate tensor name 'w' (tensors 0 and 1)");

  for (uint64_t a : {0u, 3u, 48u}) {
    r = ValidRaw();
    r.kvs.push_back({"general.alignment", KvU32(static_cast<uint32_t>(a))});
    ExpectError(r.Build(),
                "general.alignment " + std::to_string(a) + " is not a nonzero power of two");
  }
  r = ValidRaw();
  r.kvs.push_back({"general.alignment", KvI32(32)});
  ExpectError(r.Build(), "general.alignment has type int32, expected an unsigned integer");
  r = ValidRaw();
  r.kvs.push_back({"general.alignment", KvStr("32")});
  ExpectError(r.Build(), "general.alignment has type string");

  // Any unsigned width is accepted; the data section then starts on that boundary.
  r = ValidRaw();
  r.kvs.push_back({"general.alignment", KvU64(64)});
  r.align = 64;
  const std::string bytes = r.Build();
  auto f = ParseString(bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
  // A huge alignment is a power of two but puts the data section past the end.
  r.kvs.back().second = KvU64(uint64_t{1} << 63);
  ExpectError(r.Build(),
              "tensor 'b': offset 64 is not a multiple of the alignment "
              "9223372036854775808");
  r.tensors = {{"w", {8}, kF32, 0}};
  ExpectError(r.Build(), "starts past the end of the file");
}

}  // namespace
}  // namespace suanli
