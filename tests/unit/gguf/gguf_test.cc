// Round trips writer -> reader, typed getters, rendering, and the real files in the test data.
#include "gguf/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"

namespace suanli {
namespace {

using testing::ParseString;
using testing::SampleWriter;

// A parsed file together with the bytes it points into (the reader does not copy them).
struct Parsed {
  std::unique_ptr<std::string> bytes;
  std::unique_ptr<GgufFile> file;
  const GgufFile* operator->() const { return file.get(); }
  explicit operator bool() const { return file != nullptr; }
};

Parsed MustParse(std::string bytes) {
  Parsed p;
  p.bytes = std::make_unique<std::string>(std::move(bytes));
  auto f = ParseString(*p.bytes);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (f.ok()) p.file = std::move(f).value();
  return p;
}

std::string MustWrite(const GgufWriter& w) {
  auto s = w.WriteToString();
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : std::string();
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("gguf_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(GgufRoundTrip, EveryValueType) {
  auto f = MustParse(MustWrite(SampleWriter()));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->metadata().size(), 16u);
  EXPECT_EQ(f->Find("general.alignment"), nullptr);  // the writer does not add the default

  struct Expect {
    const char* key;
    GgufValueType type;
  };
  for (const Expect& e : {Expect{"t.u8", GgufValueType::kUint8},
                          {"t.i8", GgufValueType::kInt8},
                          {"t.u16", GgufValueType::kUint16},
                          {"t.i16", GgufValueType::kInt16},
                          {"t.u32", GgufValueType::kUint32},
                          {"t.i32", GgufValueType::kInt32},
                          {"t.f32", GgufValueType::kFloat32},
                          {"t.bool", GgufValueType::kBool},
                          {"t.str", GgufValueType::kString},
                          {"t.u64", GgufValueType::kUint64},
                          {"t.i64", GgufValueType::kInt64},
                          {"t.f64", GgufValueType::kFloat64},
                          {"t.strs", GgufValueType::kArray},
                          {"t.nested", GgufValueType::kArray}}) {
    const GgufValue* v = f->Find(e.key);
    ASSERT_NE(v, nullptr) << e.key;
    EXPECT_EQ(v->type, e.type) << e.key;
  }
  EXPECT_EQ(f->Find("t.u8")->u, 200u);
  EXPECT_EQ(f->Find("t.i8")->i, -100);
  EXPECT_EQ(f->Find("t.u16")->u, 60000u);
  EXPECT_EQ(f->Find("t.i16")->i, -30000);
  EXPECT_EQ(*f->GetUint("t.u32"), 4000000000u);
  EXPECT_EQ(*f->GetInt("t.i32"), -2000000000);
  EXPECT_EQ(*f->GetFloat("t.f32"), static_cast<double>(0.1f));
  EXPECT_EQ(*f->GetBool("t.bool"), true);
  EXPECT_EQ(*f->GetString("t.str"), std::string("caf\xc3\xa9 \"q\"\n\x01\0z", 13));
  EXPECT_EQ(*f->GetUint("t.u64"), 18000000000000000000ull);
  EXPECT_EQ(*f->GetInt("t.i64"), -9000000000000000000ll);
  EXPECT_EQ(*f->GetFloat("t.f64"), 1e300);
  EXPECT_EQ(*f->GetStringArray("t.strs"), (std::vector<std::string_view>{"a", "", "<s>"}));
  EXPECT_EQ(*f->GetFloatArray("t.f32s"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(*f->GetIntArray("t.i32s"), (std::vector<int64_t>{1, -2, 3}));

  const GgufValue* n = f->Find("t.nested");
  EXPECT_EQ(n->elem_type, GgufValueType::kArray);
  ASSERT_EQ(n->array.size(), 3u);
  EXPECT_EQ(n->array[0].elem_type, GgufValueType::kInt32);
  ASSERT_EQ(n->array[0].array.size(), 2u);
  EXPECT_EQ(n->array[0].array[1].i, 2);
  EXPECT_TRUE(n->array[1].array.empty());
  EXPECT_EQ(n->array[2].array[0].i, 3);
  EXPECT_EQ(n->ToString(), "array<array<int32>> [[1, 2], [], [3]]");
}

TEST(GgufRoundTrip, DeeplyNestedArraysUpToTheLimit) {
  // 8 levels of arrays (the limit) around a single uint8.
  GgufValue v;
  v.type = GgufValueType::kUint8;
  v.u = 7;
  for (int d = 0; d < 8; ++d) {
    GgufValue outer;
    outer.type = GgufValueType::kArray;
    outer.elem_type = v.type;
    outer.array.push_back(v);
    v = outer;
  }
  GgufWriter w;
  w.SetValue("deep", v);
  auto f = MustParse(MustWrite(w));
  ASSERT_TRUE(f);
  const GgufValue* got = f->Find("deep");
  for (int d = 0; d < 8; ++d) {
    ASSERT_EQ(got->type, GgufValueType::kArray);
    ASSERT_EQ(got->array.size(), 1u);
    got = &got->array[0];
  }
  EXPECT_EQ(got->type, GgufValueType::kUint8);
  EXPECT_EQ(got->u, 7u);
}

TEST(GgufRoundTrip, SetValueCopiesEveryValue) {
  auto src = MustParse(MustWrite(SampleWriter()));
  ASSERT_TRUE(src);
  GgufWriter w;
  for (const GgufKV& kv : src->metadata()) w.SetValue(kv.key, kv.value);
  std::string copied = MustWrite(w);
  EXPECT_EQ(copied, MustWrite(SampleWriter()));  // byte-identical
  auto dst = MustParse(copied);
  ASSERT_TRUE(dst);
  ASSERT_EQ(dst->metadata().size(), src->metadata().size());
  for (size_t k = 0; k < src->metadata().size(); ++k) {
    EXPECT_EQ(dst->metadata()[k].key, src->metadata()[k].key);
    EXPECT_EQ(dst->metadata()[k].value.ToString(1000), src->metadata()[k].value.ToString(1000));
  }
}

TEST(GgufRoundTrip, EveryTensorTypeSize) {
  int n_types = 0;
  for (uint32_t id = 0; id < 64; ++id) {
    std::optional<TensorTypeInfo> info = LookupTensorType(id);
    if (!info) continue;
    ++n_types;
    const TensorType type = static_cast<TensorType>(id);
    GgufWriter w;
    const std::vector<int64_t> dims = {info->block_size * 2, 3, 1, 2};
    const size_t expected = 2 * info->type_size * 3 * 2;
    ASSERT_TRUE(w.AddTensor("small", TensorType::kF32, {5}, nullptr).ok());
    std::vector<uint8_t> bytes(expected);
    std::iota(bytes.begin(), bytes.end(), static_cast<uint8_t>(id));
    ASSERT_TRUE(w.AddTensorBytes("t", type, dims, bytes.data(), bytes.size()).ok()) << info->name;
    std::string file = MustWrite(w);
    auto f = ParseString(file);
    if (!info->supported) {
      ASSERT_FALSE(f.ok()) << info->name;
      EXPECT_EQ(f.status().code(), StatusCode::kUnimplemented);
      EXPECT_NE(f.status().message().find("tensor 't': tensor type " + std::string(info->name) +
                                          " is not supported"),
                std::string::npos)
          << f.status().message();
      continue;
    }
    ASSERT_TRUE(f.ok()) << info->name << ": " << f.status().ToString();
    const GgufTensorInfo* t = (*f)->FindTensor("t");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->type, type);
    EXPECT_EQ(t->dims, dims);
    EXPECT_EQ(t->size_bytes, expected) << info->name;
    EXPECT_EQ(t->row_bytes(), 2 * info->type_size);
    EXPECT_EQ(t->n_rows(), 6);
    EXPECT_EQ(t->n_elements(), info->block_size * 12);
    EXPECT_EQ(t->offset % 32, 0u);
    EXPECT_EQ(std::vector<uint8_t>(t->data, t->data + t->size_bytes), bytes) << info->name;
    const GgufTensorInfo* small = (*f)->FindTensor("small");
    ASSERT_NE(small, nullptr);
    EXPECT_EQ(small->size_bytes, 20u);
    EXPECT_EQ(small->offset, 0u);
    EXPECT_EQ(t->offset, 32u);  // 20 bytes padded to 32
    EXPECT_EQ((*f)->data_offset() % 32, 0u);
    EXPECT_EQ(file.size(), (*f)->data_offset() + 32 + expected + (32 - expected % 32) % 32);
  }
  EXPECT_EQ(n_types, 17);
}

TEST(GgufRoundTrip, Version2AndNoTensors) {
  testing::RawGguf raw;
  raw.version = 2;
  raw.kvs.push_back({"general.architecture", testing::KvStr("llama")});
  raw.align = 1;  // vocab-only files may end right after the metadata
  auto f = MustParse(raw.Build());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 2u);
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_LE(f->data_offset(), f->file_size());
  EXPECT_EQ(*f->GetString("general.architecture"), "llama");
}

TEST(GgufGetters, TypeRulesAndErrors) {
  GgufWriter w;
  GgufValue v;
  v.type = GgufValueType::kInt16;
  v.i = -5;
  w.SetValue("neg", v);
  w.SetInt32("pos", 7);
  w.SetUint64("huge", ~uint64_t{0});
  w.SetString("s", "x");
  w.SetBool("b", false);
  GgufValue f64s;
  f64s.type = GgufValueType::kArray;
  f64s.elem_type = GgufValueType::kFloat64;
  f64s.array.resize(2);
  for (GgufValue& e : f64s.array) {
    e.type = GgufValueType::kFloat64;
    e.f = 0.25;
  }
  w.SetValue("f64s", f64s);
  GgufValue u64s;
  u64s.type = GgufValueType::kArray;
  u64s.elem_type = GgufValueType::kUint64;
  u64s.array.resize(2);
  u64s.array[0].type = u64s.array[1].type = GgufValueType::kUint64;
  u64s.array[0].u = 5;
  u64s.array[1].u = ~uint64_t{0};
  w.SetValue("u64s", u64s);
  u64s.array.pop_back();
  w.SetValue("u64s_ok", u64s);
  auto f = MustParse(MustWrite(w));
  ASSERT_TRUE(f);

  EXPECT_EQ(*f->GetInt("neg"), -5);
  EXPECT_EQ(*f->GetUint("pos"), 7u);
  EXPECT_EQ(*f->GetFloat("pos"), 7.0);
  EXPECT_EQ(*f->GetFloat("neg"), -5.0);
  EXPECT_EQ(*f->GetUint("huge"), ~uint64_t{0});
  EXPECT_EQ(*f->GetBool("b"), false);
  EXPECT_EQ(*f->GetFloatArray("f64s"), (std::vector<float>{0.25f, 0.25f}));
  EXPECT_EQ(*f->GetIntArray("u64s_ok"), (std::vector<int64_t>{5}));

  auto expect_error = [](const Status& s, StatusCode code, const std::string& fragment) {
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
    EXPECT_EQ(s.message().rfind("test.gguf: ", 0), 0u) << s.message();
  };
  expect_error(f->GetUint("neg").status(), StatusCode::kInvalidArgument, "is negative (-5)");
  expect_error(f->GetInt("huge").status(), StatusCode::kInvalidArgument, "does not fit in int64");
  expect_error(f->GetString("pos").status(), StatusCode::kInvalidArgument,
               "key 'pos' has type int32, expected string");
  expect_error(f->GetUint("s").status(), StatusCode::kInvalidArgument, "expected an integer");
  expect_error(f->GetFloat("s").status(), StatusCode::kInvalidArgument, "expected a float");
  expect_error(f->GetBool("pos").status(), StatusCode::kInvalidArgument, "expected bool");
  expect_error(f->GetInt("missing").status(), StatusCode::kNotFound, "key 'missing' not found");
  expect_error(f->GetStringArray("f64s").status(), StatusCode::kInvalidArgument,
               "has type array of float64, expected array of string");
  expect_error(f->GetFloatArray("u64s").status(), StatusCode::kInvalidArgument,
               "expected array of float32 or float64");
  expect_error(f->GetIntArray("u64s").status(), StatusCode::kInvalidArgument,
               "element 1 value 18446744073709551615 does not fit in int64");
  expect_error(f->GetIntArray("s").status(), StatusCode::kInvalidArgument,
               "expected array of integers");
}

TEST(GgufValueToString, Renders) {
  auto f = MustParse(MustWrite(SampleWriter()));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->Find("t.u8")->ToString(), "200");
  EXPECT_EQ(f->Find("t.i64")->ToString(), "-9000000000000000000");
  EXPECT_EQ(f->Find("t.f32")->ToString(), "0.1");
  EXPECT_EQ(f->Find("t.f64")->ToString(), "1e+300");
  EXPECT_EQ(f->Find("t.bool")->ToString(), "true");
  EXPECT_EQ(f->Find("t.str")->ToString(), "\"caf\xc3\xa9 \\\"q\\\"\\n\\x01\\x00z\"");
  EXPECT_EQ(f->Find("t.strs")->ToString(), "array<string> [\"a\", \"\", \"<s>\"]");
  EXPECT_EQ(f->Find("t.strs")->ToString(2), "array<string> [\"a\", \"\", ... (3 total)]");
  EXPECT_EQ(f->Find("t.i32s")->ToString(0), "array<int32> [... (3 total)]");
  EXPECT_EQ(f->Find("t.f32s")->ToString(), "array<float32> [1.5, -2]");
  EXPECT_EQ(GgufValueTypeName(GgufValueType::kFloat64), "float64");
}

TEST(GgufWriter, LaterSetReplacesEarlierValue) {
  GgufWriter w;
  w.SetString("a", "first");
  w.SetUint32("b", 1);
  w.SetUint32("a", 42);
  auto f = MustParse(MustWrite(w));
  ASSERT_TRUE(f);
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].key, "a");  // keeps its first position
  EXPECT_EQ(*f->GetUint("a"), 42u);
}

TEST(GgufWriter, AlignmentKey) {
  GgufWriter w;
  w.SetUint32("general.alignment", 64);
  ASSERT_TRUE(w.AddTensor("a", TensorType::kF32, {3}, nullptr).ok());
  ASSERT_TRUE(w.AddTensor("b", TensorType::kQ8_0, {32, 2}, [](uint8_t* p, size_t n) {
                 for (size_t k = 0; k < n; ++k) p[k] = static_cast<uint8_t>(k);
               }).ok());
  auto f = MustParse(MustWrite(w));
  const std::string& bytes = *f.bytes;
  ASSERT_TRUE(f);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(f->tensors()[0].name, "a");  // insertion order
  EXPECT_EQ(f->tensors()[1].offset, 64u);
  EXPECT_EQ(f->tensors()[1].data[67], 67);
  // Padding is zero bytes.
  for (size_t k = f->data_offset() + 12; k < f->data_offset() + 64; ++k) EXPECT_EQ(bytes[k], 0);

  GgufWriter bad;
  bad.SetUint32("general.alignment", 48);
  EXPECT_NE(bad.WriteToString().status().message().find("48 is not a nonzero power of two"),
            std::string::npos);
  GgufWriter too_big;  // would pad every tensor to a gigabyte
  too_big.SetUint64("general.alignment", uint64_t{1} << 30);
  EXPECT_NE(too_big.WriteToString().status().message().find("is larger than 1048576"),
            std::string::npos);
  GgufWriter bad_type;
  bad_type.SetInt32("general.alignment", 32);
  EXPECT_NE(bad_type.WriteToString().status().message().find("must be an unsigned integer"),
            std::string::npos);
}

TEST(GgufWriter, AddTensorValidates) {
  GgufWriter w;
  auto msg = [](const Status& s) {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    return s.message();
  };
  EXPECT_NE(msg(w.AddTensor("q", TensorType::kQ4_K, {128, 2}, nullptr))
                .find("row length 128 is not a multiple of the Q4_K block size 256"),
            std::string::npos);
  EXPECT_NE(msg(w.AddTensor("z", TensorType::kF32, {}, nullptr)).find("n_dims 0"),
            std::string::npos);
  EXPECT_NE(msg(w.AddTensor("z", TensorType::kF32, {1, 1, 1, 1, 1}, nullptr)).find("n_dims 5"),
            std::string::npos);
  EXPECT_NE(msg(w.AddTensor("n", TensorType::kF32, {4, -1}, nullptr)).find("dims[1] is negative"),
            std::string::npos);
  EXPECT_NE(msg(w.AddTensor("o", TensorType::kF32, {int64_t{1} << 40, int64_t{1} << 40}, nullptr))
                .find("overflows"),
            std::string::npos);
  EXPECT_NE(msg(w.AddTensor("u", static_cast<TensorType>(99), {4}, nullptr))
                .find("unknown tensor type 99"),
            std::string::npos);
  float data[4] = {};
  EXPECT_NE(msg(w.AddTensorBytes("b", TensorType::kF32, {3}, data, sizeof(data)))
                .find("got 16 bytes, its type and dims need 12"),
            std::string::npos);
  ASSERT_TRUE(w.AddTensor("ok", TensorType::kF32, {4}, nullptr).ok());
  EXPECT_NE(msg(w.AddTensor("ok", TensorType::kF32, {4}, nullptr)).find("duplicate"),
            std::string::npos);
}

TEST(GgufWriter, WriteFileStreamsAndRenames) {
  TempDir dir;
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  size_t fills = 0;
  for (int k = 0; k < 3; ++k) {
    const std::string name =
        std::string("t") + std::to_string(k);  // not "t" + ...: GCC 12 -Wrestrict
    ASSERT_TRUE(w.AddTensor(name, TensorType::kF32, {1000 + k}, [&fills, k](uint8_t* p, size_t n) {
                   ++fills;
                   EXPECT_EQ(n, static_cast<size_t>(4 * (1000 + k)));
                   std::memset(p, 0x40 + k, n);
                 }).ok());
  }
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  const std::string path = dir.File("out.gguf");
  Status s = w.WriteFile(path, [&](uint64_t done, uint64_t total) {
    calls.push_back({done, total});
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(fills, 3u);
  ASSERT_FALSE(calls.empty());
  const uint64_t file_size = std::filesystem::file_size(path);
  for (size_t k = 1; k < calls.size(); ++k) EXPECT_GE(calls[k].first, calls[k - 1].first);
  EXPECT_EQ(calls.back().first, file_size);
  EXPECT_EQ(calls.back().second, file_size);
  // Only the final file remains: no temp file left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);

  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->name(), path);
  EXPECT_EQ((*f)->file_size(), file_size);
  const GgufTensorInfo* t2 = (*f)->FindTensor("t2");
  ASSERT_NE(t2, nullptr);
  EXPECT_EQ(t2->dims, (std::vector<int64_t>{1002}));
  EXPECT_EQ(t2->data[0], 0x42);
  EXPECT_EQ(t2->data[t2->size_bytes - 1], 0x42);
  // The same bytes as the in-memory writer.
  auto mem = w.WriteToString();
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*f)->file_data()), (*f)->file_size()), *mem);

  Status missing_dir = w.WriteFile(dir.File("no/such/dir/x.gguf"));
  EXPECT_EQ(missing_dir.code(), StatusCode::kIoError);
  auto missing = GgufFile::Open(dir.File("absent.gguf"));
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("absent.gguf"), std::string::npos);
}

// ---- Real files from the shared test data ----

class GgufTestData : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TestDataDir();
    if (!dir) {
      GTEST_SKIP() << "test data not found: set SUANLI_TESTDATA (or SUANLI_SOURCE_DIR with "
                      "../shared/testdata beside it)";
    }
    dir_ = *dir;
  }
  std::unique_ptr<GgufFile> OpenOrFail(const std::filesystem::path& p) {
    auto f = GgufFile::Open(p.string());
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }
  std::vector<std::filesystem::path> Files(const char* sub) {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / sub, ec))
      if (e.path().extension() == ".gguf") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::filesystem::path dir_;
};

TEST_F(GgufTestData, TinyLlamaF32) {
  auto f = OpenOrFail(dir_ / "models" / "tiny-llama-f32.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f->GetString("general.architecture"), "llama");
  EXPECT_EQ(*f->GetUint("llama.block_count"), 4u);
  EXPECT_EQ(*f->GetUint("llama.embedding_length"), 64u);
  const GgufTensorInfo* t = f->FindTensor("token_embd.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dims, (std::vector<int64_t>{64, 32000}));
  EXPECT_EQ(t->type, TensorType::kF32);
  EXPECT_EQ(t->size_bytes, 64u * 32000 * 4);
  EXPECT_EQ(t->n_rows(), 32000);
  EXPECT_EQ(f->GetStringArray("tokenizer.ggml.tokens")->size(), 32000u);
}

TEST_F(GgufTestData, EveryModelOpens) {
  auto files = Files("models");
  ASSERT_FALSE(files.empty());
  for (const auto& p : files) {
    SCOPED_TRACE(p.string());
    auto f = OpenOrFail(p);
    if (!f) continue;
    EXPECT_FALSE(f->tensors().empty());
    uint64_t end = 0;
    for (const GgufTensorInfo& t : f->tensors()) {
      EXPECT_EQ(t.size_bytes, t.row_bytes() * static_cast<size_t>(t.n_rows())) << t.name;
      end = std::max<uint64_t>(end, f->data_offset() + t.offset + t.size_bytes);
    }
    EXPECT_LE(end, f->file_size());
    const std::string arch = *f->GetString("general.architecture");
    EXPECT_GT(*f->GetUint(arch + ".block_count"), 0u);
  }
}

TEST_F(GgufTestData, VocabFilesOpenFast) {
  struct Vocab {
    const char* file;
    size_t n_tokens;
  };
  for (const Vocab& v : {Vocab{"ggml-vocab-llama-spm.gguf", 32000},
                         {"ggml-vocab-llama-bpe.gguf", 128256},
                         {"ggml-vocab-qwen2.gguf", 151936},
                         {"ggml-vocab-gpt-2.gguf", 50257}}) {
    SCOPED_TRACE(v.file);
    auto start = std::chrono::steady_clock::now();
    auto f = OpenOrFail(dir_ / "vocab" / v.file);
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!f) continue;
    std::printf("  opened %s in %.1f ms\n", v.file, ms);
    EXPECT_TRUE(f->tensors().empty());
    EXPECT_EQ(f->GetStringArray("tokenizer.ggml.tokens")->size(), v.n_tokens);
    // Generous bound: Release takes a few ms; sanitizer builds are several times slower.
    EXPECT_LT(ms, 2000);
  }
}

TEST_F(GgufTestData, CopyTokenizerMetadata) {
  auto src = OpenOrFail(dir_ / "vocab" / "ggml-vocab-qwen2.gguf");
  ASSERT_TRUE(src);
  GgufWriter w;
  for (const GgufKV& kv : src->metadata())
    if (kv.key.starts_with("tokenizer.")) w.SetValue(kv.key, kv.value);
  auto dst = MustParse(MustWrite(w));
  ASSERT_TRUE(dst);
  size_t n = 0;
  for (const GgufKV& kv : src->metadata()) {
    if (!kv.key.starts_with("tokenizer.")) continue;
    ++n;
    const GgufValue* v = dst->Find(kv.key);
    ASSERT_NE(v, nullptr) << kv.key;
    EXPECT_EQ(v->ToString(1u << 20), kv.value.ToString(1u << 20)) << kv.key;
  }
  EXPECT_GE(n, 3u);
}

}  // namespace
}  // namespace suanli
