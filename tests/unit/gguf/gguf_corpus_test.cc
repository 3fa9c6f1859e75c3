// Generates and checks the GGUF fuzz seed corpus (tests/fuzz/corpus/gguf/): small valid files from
// the writer plus malformed ones. Files named valid_* must parse, bad_* must not.
// Regenerate with: SUANLI_WRITE_GGUF_CORPUS=1 ./gguf_test --gtest_filter='GgufCorpus.*'
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"

namespace suanli {
namespace {

using testing::Bytes;
using testing::KvStr;
using testing::KvU32;
using testing::ParseString;
using testing::RawGguf;

struct Seed {
  std::string name;
  std::string bytes;
};

std::string Written(const GgufWriter& w) {
  auto s = w.WriteToString();
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : std::string();
}

void Fill(uint8_t* p, size_t n) {
  for (size_t k = 0; k < n; ++k) p[k] = static_cast<uint8_t>(k * 7 + 1);
}

std::vector<Seed> MakeSeeds() {
  std::vector<Seed> seeds;

  GgufWriter every = testing::SampleWriter();
  EXPECT_TRUE(every.AddTensor("f32", TensorType::kF32, {4, 2}, Fill).ok());
  EXPECT_TRUE(every.AddTensor("q8", TensorType::kQ8_0, {32}, Fill).ok());
  const std::string every_bytes = Written(every);
  seeds.push_back({"valid_every_type.gguf", every_bytes});

  // A vocab-only file in version 2 (no tensors, ends right after the metadata).
  RawGguf vocab;
  vocab.version = 2;
  vocab.align = 1;
  Bytes tokens, scores, types;
  tokens.U32(9).U32(8).U64(6);
  for (const char* t : {"<unk>", "<s>", "</s>", "\xe2\x96\x81the", "a", "b"}) tokens.Str(t);
  scores.U32(9).U32(6).U64(6);
  for (int k = 0; k < 6; ++k) scores.Put(static_cast<float>(-k));
  types.U32(9).U32(5).U64(6);
  for (int k = 0; k < 6; ++k) types.I32(k < 3 ? 3 : 1);
  vocab.kvs = {{"general.architecture", KvStr("llama")}, {"tokenizer.ggml.model", KvStr("llama")},
               {"tokenizer.ggml.tokens", tokens.b},      {"tokenizer.ggml.scores", scores.b},
               {"tokenizer.ggml.token_type", types.b},   {"tokenizer.ggml.bos_token_id", KvU32(1)}};
  seeds.push_back({"valid_vocab_v2.gguf", vocab.Build()});

  GgufWriter aligned;
  aligned.SetUint32("general.alignment", 64);
  aligned.SetString("general.architecture", "qwen2");
  EXPECT_TRUE(aligned.AddTensor("k", TensorType::kQ4_K, {256}, Fill).ok());
  EXPECT_TRUE(aligned.AddTensor("h", TensorType::kF16, {8, 2, 1, 1}, Fill).ok());
  EXPECT_TRUE(aligned.AddTensor("b", TensorType::kBF16, {0, 3}, Fill).ok());
  seeds.push_back({"valid_align64.gguf", Written(aligned)});

  // Eight levels of nested arrays (the limit) and an empty array of strings.
  Bytes deep;
  deep.U32(9);
  for (int l = 0; l < 8; ++l) deep.U32(l == 7 ? 1 : 9).U64(l == 7 ? 2 : 1);
  deep.U8(0x80).U8(0x7f);
  RawGguf nested;
  nested.kvs = {{"deep", deep.b}, {"empty", Bytes().U32(9).U32(8).U64(0).b}};
  seeds.push_back({"valid_nested.gguf", nested.Build()});

  // Malformed files, one check each.
  seeds.push_back({"bad_truncated.gguf", every_bytes.substr(0, every_bytes.size() / 2)});
  RawGguf r;
  r.kvs = {{"general.architecture", KvStr("llama")}};
  r.tensors = {{"w", {8, 2}, 0, 0}, {"b", {8}, 0, 32}};
  r.data.assign(96, '\x11');
  seeds.push_back({"bad_overlap.gguf", r.Build()});
  RawGguf huge = r;
  huge.kvs.push_back({"arr", Bytes().U32(9).U32(8).U64(uint64_t{1} << 62).b});
  seeds.push_back({"bad_huge_array.gguf", huge.Build()});
  RawGguf v1 = r;
  v1.version = 1;
  seeds.push_back({"bad_version1.gguf", v1.Build()});
  RawGguf too_deep = nested;
  too_deep.kvs[0].second = Bytes().U32(9).b;
  for (int l = 0; l < 9; ++l) too_deep.kvs[0].second += Bytes().U32(9).U64(1).b;
  seeds.push_back({"bad_too_deep.gguf", too_deep.Build()});
  RawGguf unknown = r;
  unknown.tensors[1] = {"b", {8}, 99, 64};
  seeds.push_back({"bad_unknown_type.gguf", unknown.Build()});
  RawGguf misaligned = r;
  misaligned.tensors[1].offset = 65;
  seeds.push_back({"bad_misaligned.gguf", misaligned.Build()});
  RawGguf dup = r;
  dup.kvs.push_back({"general.architecture", KvStr("qwen2")});
  seeds.push_back({"bad_duplicate_key.gguf", dup.Build()});
  return seeds;
}

bool ExpectValid(const std::string& name) { return name.rfind("valid_", 0) == 0; }

TEST(GgufCorpus, SeedsBehaveAsNamed) {
  size_t total = 0;
  for (const Seed& s : MakeSeeds()) {
    auto f = ParseString(s.bytes, s.name);
    EXPECT_EQ(f.ok(), ExpectValid(s.name)) << s.name << ": " << f.status().ToString();
    total += s.bytes.size();
  }
  EXPECT_LT(total, 100u * 1024);
}

TEST(GgufCorpus, CheckedInCorpus) {
  const char* src = std::getenv("SUANLI_SOURCE_DIR");
  if (!src || !*src) GTEST_SKIP() << "SUANLI_SOURCE_DIR not set (run through ctest)";
  const std::filesystem::path dir = std::filesystem::path(src) / "tests/fuzz/corpus/gguf";
  if (const char* w = std::getenv("SUANLI_WRITE_GGUF_CORPUS"); w && *w) {
    std::filesystem::create_directories(dir);
    for (const Seed& s : MakeSeeds()) {
      std::ofstream out(dir / s.name, std::ios::binary | std::ios::trunc);
      out.write(s.bytes.data(), static_cast<std::streamsize>(s.bytes.size()));
      ASSERT_TRUE(out.good()) << (dir / s.name);
    }
  }
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " not found";
  for (const Seed& s : MakeSeeds())
    EXPECT_TRUE(std::filesystem::exists(dir / s.name)) << "missing seed " << s.name;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string name = e.path().filename().string();
    const std::string bytes = ss.str();
    auto f = ParseString(bytes, name);
    EXPECT_EQ(f.ok(), ExpectValid(name)) << name << ": " << f.status().ToString();
  }
}

}  // namespace
}  // namespace suanli
