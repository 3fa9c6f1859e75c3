// Tokenizers against real vocabularies: every expected tokenization of llama.cpp's vocab tests
// (the shared test data's, and the xz-compressed ones committed under tests/data/vocab), round
// trips, BOS/EOS rules, special tokens and the model prompts. With $SUANLI_EXTRA_VOCABS set to a
// directory of more ggml-vocab-*.gguf files with their .inp/.out (llama.cpp's models/ folder),
// every one whose tokenizer is supported is checked as well.
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#ifdef SUANLI_HAVE_LZMA
#include <lzma.h>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/tokenizer/unicode.h"

namespace suanli {
namespace {

namespace fs = std::filesystem;

// $SUANLI_TESTDATA, else $SUANLI_SOURCE_DIR/../shared/testdata; empty if absent.
fs::path TestDataDir() {
  fs::path dir;
  if (const char* td = std::getenv("SUANLI_TESTDATA"); td && *td) {
    dir = td;
  } else if (const char* src = std::getenv("SUANLI_SOURCE_DIR"); src && *src) {
    dir = fs::path(src) / ".." / "shared" / "testdata";
  }
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir / "vocab", ec)) return {};
  return dir;
}

#define SKIP_WITHOUT_TESTDATA()                                                          \
  if (TestDataDir().empty())                                                             \
  GTEST_SKIP() << "test data not found: set SUANLI_TESTDATA (or SUANLI_SOURCE_DIR with " \
                  "../shared/testdata beside it)"

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

double Ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// tests/data/vocab (the vocabularies committed to the repository: $SUANLI_SOURCE_DIR's, else the
// tree this test was built from), or empty.
fs::path CommittedVocabDir() {
  const char* src = std::getenv("SUANLI_SOURCE_DIR");
  const fs::path dir = src != nullptr && *src != '\0' ? fs::path(src) / "tests" / "data" / "vocab"
                                                      : fs::path(SUANLI_REPO_TESTDATA) / "vocab";
  std::error_code ec;
  return fs::is_directory(dir, ec) ? dir : fs::path();
}

// The .xz file's contents, or an error message in *error.
std::string Unxz(const fs::path& path, std::string* error) {
#ifdef SUANLI_HAVE_LZMA
  const std::string packed = ReadFile(path);
  lzma_stream strm = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&strm, UINT64_MAX, 0) != LZMA_OK) {
    *error = "lzma_stream_decoder failed";
    return {};
  }
  std::string out;
  strm.next_in = reinterpret_cast<const uint8_t*>(packed.data());
  strm.avail_in = packed.size();
  lzma_ret ret = LZMA_OK;
  while (ret == LZMA_OK) {
    out.resize(out.size() + (1 << 20));
    const size_t room = 1 << 20;
    strm.next_out = reinterpret_cast<uint8_t*>(out.data() + out.size() - room);
    strm.avail_out = room;
    ret = lzma_code(&strm, LZMA_FINISH);
    out.resize(out.size() - strm.avail_out);
  }
  lzma_end(&strm);
  if (ret != LZMA_STREAM_END) {
    *error = path.string() + ": xz decoding failed (lzma_ret " + std::to_string(ret) + ")";
    return {};
  }
  return out;
#else
  *error = "built without liblzma (install liblzma-dev and reconfigure) to read " + path.string();
  return {};
#endif
}

struct Loaded {
  std::string bytes;  // a decompressed file, which `file` points into
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tok;
  double construct_ms = 0;
  std::string error;  // why the file could not be read (a .xz without liblzma)
};

// Vocabularies are loaded once per test binary: the large ones take a moment under sanitizers.
// A path ending in .xz is decompressed into memory first.
const Loaded& LoadGguf(const fs::path& path) {
  static std::map<std::string, Loaded> cache;
  auto it = cache.find(path.string());
  if (it != cache.end()) return it->second;
  Loaded l;
  StatusOr<std::unique_ptr<GgufFile>> file = Internal("not opened");
  if (path.extension() == ".xz") {
    l.bytes = Unxz(path, &l.error);
    if (!l.error.empty()) return cache.emplace(path.string(), std::move(l)).first->second;
    file = GgufFile::Parse(reinterpret_cast<const uint8_t*>(l.bytes.data()), l.bytes.size(),
                           path.string());
  } else {
    file = GgufFile::Open(path.string());
  }
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (file.ok()) {
    l.file = std::move(file).value();
    const auto t0 = std::chrono::steady_clock::now();
    auto tok = Tokenizer::FromGguf(*l.file);
    l.construct_ms = Ms(t0);
    EXPECT_TRUE(tok.ok()) << tok.status().ToString();
    if (tok.ok()) l.tok = std::move(tok).value();
  }
  return cache.emplace(path.string(), std::move(l)).first->second;
}

// ggml-vocab-NAME.gguf of the shared test data, else ggml-vocab-NAME.gguf.xz committed under
// tests/data/vocab; empty if neither is there. The .inp/.out files sit beside it, uncompressed.
fs::path VocabPath(const std::string& name) {
  const std::string file = "ggml-vocab-" + name + ".gguf";
  std::error_code ec;
  if (!TestDataDir().empty() && fs::exists(TestDataDir() / "vocab" / file, ec)) {
    return TestDataDir() / "vocab" / file;
  }
  if (!CommittedVocabDir().empty() && fs::exists(CommittedVocabDir() / (file + ".xz"), ec)) {
    return CommittedVocabDir() / (file + ".xz");
  }
  return {};
}

// The case files' path without .inp/.out.
fs::path CaseBase(const fs::path& vocab) {
  return vocab.extension() == ".xz" ? fs::path(vocab).replace_extension() : vocab;
}

const Tokenizer* Vocab(const std::string& name) { return LoadGguf(VocabPath(name)).tok.get(); }

struct Case {
  std::string input;
  std::vector<int32_t> expected;
};

// NAME.gguf.inp: inputs each followed by "\n__ggml_vocab_test__\n"; NAME.gguf.out: one line of
// space-separated ids per input.
std::vector<Case> ReadCasesAt(const fs::path& base) {
  const std::string inp = ReadFile(base.string() + ".inp");
  const std::string out = ReadFile(base.string() + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0;;) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      if (pos < inp.size()) inputs.push_back(inp.substr(pos));  // the empty last piece is dropped
      break;
    }
    inputs.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<Case> cases;
  std::istringstream lines(out);
  std::string line;
  for (const std::string& in : inputs) {
    std::getline(lines, line);
    Case c{in, {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.expected.push_back(id);
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<Case> ReadCases(const std::string& name) {
  return ReadCasesAt(CaseBase(VocabPath(name)));
}

std::string Show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += ' ';
    s += std::to_string(id);  // (not " " + ...: GCC 12 warns falsely about that)
  }
  return s;
}

// Runs every case of the vocabulary at `path`; returns how many pass.
int CheckCases(const fs::path& path, const Tokenizer& tok) {
  const std::vector<Case> cases = ReadCasesAt(CaseBase(path));
  EXPECT_GT(cases.size(), 30u) << path;
  int passed = 0;
  for (const Case& c : cases) {
    const std::vector<int32_t> got = tok.Encode(c.input, false, false);
    EXPECT_EQ(got, c.expected) << path.filename() << ": input '" << c.input
                               << "'\n got:" << Show(got) << "\nwant:" << Show(c.expected);
    passed += got == c.expected;
  }
  std::printf("%s (pre '%s'): %d/%zu vocab cases pass (constructed in %.1f ms)\n",
              path.filename().c_str(), std::string(tok.pre()).c_str(), passed, cases.size(),
              LoadGguf(path).construct_ms);
  return passed;
}

// The shared test data's vocabularies need it; the committed ones need liblzma.
#define SKIP_WITHOUT_VOCAB(name)                                                  \
  if (VocabPath(name).empty()) {                                                  \
    SKIP_WITHOUT_TESTDATA();                                                      \
    GTEST_SKIP() << "ggml-vocab-" << (name)                                       \
                 << ".gguf not found in the test data nor tests/data/vocab (set " \
                    "SUANLI_SOURCE_DIR)";                                         \
  }                                                                               \
  if (const std::string& e = LoadGguf(VocabPath(name)).error; !e.empty()) GTEST_SKIP() << e

class VocabTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabTest, MatchesEveryExpectedTokenization) {
  SKIP_WITHOUT_VOCAB(GetParam());
  const Tokenizer* tok = Vocab(GetParam());
  ASSERT_NE(tok, nullptr);
  CheckCases(VocabPath(GetParam()), *tok);
}

TEST_P(VocabTest, DecodeInvertsEncode) {
  SKIP_WITHOUT_VOCAB(GetParam());
  const Tokenizer* tok = Vocab(GetParam());
  ASSERT_NE(tok, nullptr);
  for (const Case& c : ReadCases(GetParam())) {
    // SPM's added space prefix is removed again by Decode, so this holds for both kinds.
    EXPECT_EQ(tok->Decode(tok->Encode(c.input, false, false)), c.input);
    EXPECT_EQ(tok->Decode(tok->Encode(c.input, true, false)), c.input);
  }
  // Bytes that are not UTF-8 survive too: byte-level BPE spells every byte, SPM falls back to
  // byte tokens. (StarCoder's vocabulary has no token for bytes UTF-8 never uses, such as 0xFF.)
  const std::string binary("\xff\xfe a\x80\xc3 \xe4\xb8", 9);
  bool every_byte_has_a_token = true;
  for (char c : binary) {
    std::string spelled;
    AppendUtf8(&spelled, ByteToUnicode(static_cast<uint8_t>(c)));
    if (tok->model() == "gpt2" && tok->FindToken(spelled) < 0) every_byte_has_a_token = false;
  }
  if (every_byte_has_a_token) {
    EXPECT_EQ(tok->Decode(tok->Encode(binary, false, false)), binary);
  } else {
    EXPECT_EQ(tok->Decode(tok->Encode(binary.substr(2), false, false)), binary.substr(2));
  }
}

TEST_P(VocabTest, TokenToPieceOfEveryToken) {
  SKIP_WITHOUT_VOCAB(GetParam());
  const Tokenizer* tok = Vocab(GetParam());
  ASSERT_NE(tok, nullptr);
  size_t bytes = 0;
  for (int32_t id = -2; id < tok->n_vocab() + 2; ++id) bytes += tok->TokenToPiece(id).size();
  EXPECT_GT(bytes, 0u);
  EXPECT_EQ(tok->TokenToPiece(-1), "");
  EXPECT_EQ(tok->TokenToPiece(tok->n_vocab()), "");
  if (tok->bos_id() >= 0) {
    EXPECT_EQ(tok->TokenToPiece(tok->bos_id()), "");
  }
}

std::string ParamName(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n) c = (c == '-') ? '_' : c;
  return n;
}

INSTANTIATE_TEST_SUITE_P(Vocabs, VocabTest,
                         ::testing::Values("llama-spm", "llama-bpe", "qwen2", "gpt-2"), ParamName);
// Committed under tests/data/vocab: StarCoder-style BPE (refact: Granite 3 files name it too) and
// Phi-3's SentencePiece.
INSTANTIATE_TEST_SUITE_P(CommittedVocabs, VocabTest, ::testing::Values("refact", "phi-3"),
                         ParamName);

TEST(Tokenizer, ExtraVocabs) {
  const char* dir = std::getenv("SUANLI_EXTRA_VOCABS");
  if (dir == nullptr || *dir == '\0') {
    GTEST_SKIP() << "set SUANLI_EXTRA_VOCABS to a directory of ggml-vocab-*.gguf files with "
                    ".inp/.out (llama.cpp's models/)";
  }
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const fs::path p = entry.path();
    const std::string f = p.filename().string();
    if (f.rfind("ggml-vocab-", 0) != 0 || p.extension() != ".gguf") continue;
    std::error_code ec;
    if (!fs::exists(p.string() + ".inp", ec) || !fs::exists(p.string() + ".out", ec)) continue;
    auto file = GgufFile::Open(p.string());
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    auto tok = Tokenizer::FromGguf(**file);
    if (!tok.ok()) {
      std::printf("%s: not supported: %s\n", f.c_str(), tok.status().ToString().c_str());
      continue;
    }
    CheckCases(p, *LoadGguf(p).tok);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Tokenizer, BosEosRules) {
  SKIP_WITHOUT_TESTDATA();
  struct Rule {
    const char* vocab;
    const char* model;
    bool add_bos;
    int32_t bos;
    int32_t eos;
  };
  for (const Rule& r :
       {Rule{"llama-spm", "llama", true, 1, 2}, Rule{"llama-bpe", "gpt2", true, 128000, 128001},
        Rule{"qwen2", "gpt2", false, 151643, 151643}, Rule{"gpt-2", "gpt2", false, 50256, 50256}}) {
    SCOPED_TRACE(r.vocab);
    const Tokenizer* tok = Vocab(r.vocab);
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->model(), r.model);
    EXPECT_EQ(tok->add_bos(), r.add_bos);
    EXPECT_FALSE(tok->add_eos());
    EXPECT_EQ(tok->bos_id(), r.bos);
    EXPECT_EQ(tok->eos_id(), r.eos);
    EXPECT_TRUE(tok->IsEndOfGeneration(r.eos));
    const std::vector<int32_t> plain = tok->Encode("Hello world", false, false);
    std::vector<int32_t> with = plain;
    if (r.add_bos) with.insert(with.begin(), r.bos);
    EXPECT_EQ(tok->Encode("Hello world", true, false), with);
    // Empty text: only what add_special adds.
    EXPECT_TRUE(tok->Encode("", false, false).empty());
    EXPECT_EQ(tok->Encode("", true, false).size(), r.add_bos ? 1u : 0u);
    EXPECT_EQ(tok->Decode(with), "Hello world");
  }
}

TEST(Tokenizer, EndOfGeneration) {
  SKIP_WITHOUT_TESTDATA();
  const Tokenizer* llama3 = Vocab("llama-bpe");
  const Tokenizer* qwen2 = Vocab("qwen2");
  const Tokenizer* spm = Vocab("llama-spm");
  ASSERT_TRUE(llama3 && qwen2 && spm);
  EXPECT_TRUE(llama3->IsEndOfGeneration(128009));  // <|eot_id|>
  EXPECT_TRUE(llama3->IsEndOfGeneration(128001));  // <|end_of_text|>
  EXPECT_FALSE(llama3->IsEndOfGeneration(128000));
  EXPECT_EQ(llama3->eot_id(), 128009);
  EXPECT_TRUE(qwen2->IsEndOfGeneration(151645));  // <|im_end|>
  EXPECT_TRUE(qwen2->IsEndOfGeneration(151643));  // <|endoftext|>
  EXPECT_FALSE(qwen2->IsEndOfGeneration(151644));
  EXPECT_TRUE(spm->IsEndOfGeneration(2));
  EXPECT_FALSE(spm->IsEndOfGeneration(1));
  EXPECT_FALSE(spm->IsEndOfGeneration(-1));
  EXPECT_FALSE(spm->IsEndOfGeneration(1 << 30));
}

TEST(Tokenizer, ParseSpecial) {
  SKIP_WITHOUT_TESTDATA();
  const Tokenizer* qwen2 = Vocab("qwen2");
  const Tokenizer* llama3 = Vocab("llama-bpe");
  const Tokenizer* spm = Vocab("llama-spm");
  ASSERT_TRUE(qwen2 && llama3 && spm);

  const std::vector<int32_t> im = qwen2->Encode("<|im_start|>user", false, true);
  EXPECT_EQ(im, (std::vector<int32_t>{151644, 872}));
  const std::vector<int32_t> plain = qwen2->Encode("<|im_start|>user", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 151644), 0);
  EXPECT_EQ(qwen2->Decode(plain), "<|im_start|>user");
  EXPECT_EQ(qwen2->Decode(im), "user");  // control tokens render as nothing
  EXPECT_EQ(qwen2->Encode("<|im_start|>system\nHi<|im_end|>\n", false, true),
            (std::vector<int32_t>{151644, 8948, 198, 13048, 151645, 198}));

  EXPECT_EQ(llama3->Encode("<|begin_of_text|>", false, true), (std::vector<int32_t>{128000}));
  EXPECT_EQ(llama3->Encode("<|begin_of_text|>", true, true),
            (std::vector<int32_t>{128000, 128000}));
  EXPECT_NE(llama3->Encode("<|begin_of_text|>", false, false), (std::vector<int32_t>{128000}));
  EXPECT_EQ(llama3->Encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", false, true),
            (std::vector<int32_t>{128006, 882, 128007, 271, 13347, 128009}));

  // SPM: text after a special token gets the space prefix again, as in llama.cpp.
  EXPECT_EQ(spm->Encode("<s>Hello</s>", false, true), (std::vector<int32_t>{1, 15043, 2}));
  const std::vector<int32_t> spm_plain = spm->Encode("<s>", false, false);
  EXPECT_EQ(std::count(spm_plain.begin(), spm_plain.end(), 1), 0);
  EXPECT_EQ(spm->Decode(spm_plain), "<s>");
}

TEST(Tokenizer, Phi3DropsWhitespaceAfterSpecialTokens) {
  SKIP_WITHOUT_VOCAB("phi-3");
  const Tokenizer* phi3 = Vocab("phi-3");
  ASSERT_NE(phi3, nullptr);
  // Expected ids from llama.cpp's llama_tokenize (parse_special) on the same file.
  EXPECT_EQ(phi3->Encode("<|user|>\nHello<|end|>\n<|assistant|>", false, true),
            (std::vector<int32_t>{32010, 15043, 32007, 32001}));
  EXPECT_EQ(phi3->Encode("<|system|>  \t\n You are<|end|> x", false, true),
            (std::vector<int32_t>{32006, 887, 526, 32007, 921}));
  // "</s>" is user-defined here, so it matches in plain text too, and drops what follows.
  EXPECT_EQ(phi3->Encode("a</s>  b", false, false), (std::vector<int32_t>{263, 2, 289}));
  // <s> and <|endoftext|> keep the whitespace after them.
  EXPECT_EQ(phi3->Encode("<s> hi<|endoftext|> yo", false, true),
            (std::vector<int32_t>{1, 29871, 7251, 32000, 29871, 24800}));
  // Other SentencePiece files keep it: Llama 2's </s> is followed by its space.
  SKIP_WITHOUT_TESTDATA();
  const Tokenizer* spm = Vocab("llama-spm");
  ASSERT_NE(spm, nullptr);
  EXPECT_EQ(spm->Encode("</s> x", false, true), (std::vector<int32_t>{2, 29871, 921}));
}

TEST(Tokenizer, SpmPieces) {
  SKIP_WITHOUT_TESTDATA();
  const Tokenizer* spm = Vocab("llama-spm");
  ASSERT_NE(spm, nullptr);
  EXPECT_EQ(spm->TokenToPiece(15043), " Hello");  // "▁Hello"
  EXPECT_EQ(spm->TokenToPiece(13), "\n");         // <0x0A>
  EXPECT_EQ(spm->TokenToPiece(1), "");            // <s>
  EXPECT_EQ(spm->token_type(13), TokenType::kByte);
  EXPECT_EQ(spm->FindToken("<0x0A>"), 13);
  // Decode strips the prefix space of the first token only, after BOS or at the start.
  EXPECT_EQ(spm->Decode({1, 15043, 15043}), "Hello Hello");
  EXPECT_EQ(spm->Decode({15043, 15043}), "Hello Hello");
  EXPECT_EQ(spm->Decode({13, 15043}), "\n Hello");
  // A character with no token falls back to bytes: U+10348 (4 bytes).
  EXPECT_EQ(spm->Encode("\xF0\x90\x8D\x88", false, false),
            (std::vector<int32_t>{29871, 3 + 0xF0, 3 + 0x90, 3 + 0x8D, 3 + 0x88}));
}

TEST(Tokenizer, ModelPrompts) {
  SKIP_WITHOUT_TESTDATA();
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(TestDataDir() / "models")) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const nlohmann::json j = nlohmann::json::parse(ReadFile(entry.path()));
    fs::path gguf = entry.path();
    gguf.replace_extension(".gguf");
    const Loaded& l = LoadGguf(gguf);
    ASSERT_NE(l.tok, nullptr);
    const std::string prompt = j.at("prompt").get<std::string>();
    const std::vector<int32_t> want = j.at("prompt_tokens").get<std::vector<int32_t>>();
    const std::vector<int32_t> got = l.tok->Encode(prompt, true, false);
    EXPECT_EQ(got, want) << "got:" << Show(got) << "\nwant:" << Show(want);
    EXPECT_EQ(l.tok->Decode(got), prompt);
    EXPECT_EQ(l.tok->n_vocab(), j.at("n_vocab").get<int32_t>());
    ++checked;
  }
  EXPECT_GE(checked, 8);
}

TEST(Tokenizer, Speed) {
  SKIP_WITHOUT_TESTDATA();
  const Loaded& qwen = LoadGguf(TestDataDir() / "vocab" / "ggml-vocab-qwen2.gguf");
  ASSERT_NE(qwen.tok, nullptr);
  // Time a fresh construction (the cached one may have paid for page faults).
  double best_ms = 1e9;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto tok = Tokenizer::FromGguf(*qwen.file);
    best_ms = std::min(best_ms, Ms(t0));
    ASSERT_TRUE(tok.ok());
  }
  std::string text;
  for (const Case& c : ReadCases("qwen2")) text += c.input + "\n";
  while (text.size() < (1 << 20)) text += text;
  std::printf("construct qwen2 (151936 tokens, 151387 merges): %.1f ms\n", best_ms);
  for (const char* name : {"llama-spm", "llama-bpe", "qwen2", "gpt-2", "refact", "phi-3"}) {
    if (VocabPath(name).empty() || !LoadGguf(VocabPath(name)).error.empty()) continue;
    const Tokenizer* tok = Vocab(name);
    ASSERT_NE(tok, nullptr);
    auto t0 = std::chrono::steady_clock::now();
    const size_t n = tok->Encode(text, false, true).size();
    const double ms = Ms(t0);
    // One long word and one long run of spaces: the merge queue keeps these O(n log n).
    const std::string word(200000, 'a'), spaces(200000, ' ');
    t0 = std::chrono::steady_clock::now();
    tok->Encode(word, false, false);
    tok->Encode(spaces, false, false);
    const double long_ms = Ms(t0);
    std::printf("%-9s encode %.2f MB: %.1f ms (%.1f MB/s, %zu tokens); 2x200 KB runs: %.1f ms\n",
                name, text.size() / 1e6, ms, text.size() / 1e3 / ms, n, long_ms);
  }
  // A loose bound: the target is ~150 ms on an idle machine; sanitizers and load slow it down.
  EXPECT_LT(best_ms, 3000);
}

}  // namespace
}  // namespace suanli
