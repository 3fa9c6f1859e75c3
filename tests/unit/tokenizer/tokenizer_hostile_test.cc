// Tokenizers from tiny in-memory vocabularies: the algorithms on hand-made cases, and hostile
// metadata (missing keys, wrong types and lengths, bad ids and merges) that must give a Status
// naming the key, never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode.h"
#include "gguf/gguf_writer.h"

namespace suanli {
namespace {

// Metadata under construction: keys can be replaced or removed before writing.
class Meta {
 public:
  using Setter = std::function<void(GgufWriter&)>;
  void Set(const std::string& key, Setter s) { kv_[key] = std::move(s); }
  void Erase(const std::string& key) { kv_.erase(key); }
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (const auto& [key, s] : kv_) k.push_back(key);
    return k;
  }
  void Strings(const std::string& key, std::vector<std::string> v) {
    Set(key, [key, v](GgufWriter& w) { w.SetStringArray(key, v); });
  }
  void Ints(const std::string& key, std::vector<int32_t> v) {
    Set(key, [key, v](GgufWriter& w) { w.SetInt32Array(key, v); });
  }
  void Floats(const std::string& key, std::vector<float> v) {
    Set(key, [key, v](GgufWriter& w) { w.SetFloat32Array(key, v); });
  }
  void Str(const std::string& key, std::string v) {
    Set(key, [key, v](GgufWriter& w) { w.SetString(key, v); });
  }
  void U32(const std::string& key, uint32_t v) {
    Set(key, [key, v](GgufWriter& w) { w.SetUint32(key, v); });
  }
  void I32(const std::string& key, int32_t v) {
    Set(key, [key, v](GgufWriter& w) { w.SetInt32(key, v); });
  }
  void Bool(const std::string& key, bool v) {
    Set(key, [key, v](GgufWriter& w) { w.SetBool(key, v); });
  }

  // Writes the file to memory and builds the tokenizer from it.
  StatusOr<std::unique_ptr<Tokenizer>> Build() {
    GgufWriter w;
    for (const auto& [key, s] : kv_) s(w);
    StatusOr<std::string> bytes = w.WriteToString();
    if (!bytes.ok()) return bytes.status();
    bytes_ = std::move(bytes).value();
    auto file = GgufFile::Parse(reinterpret_cast<const uint8_t*>(bytes_.data()), bytes_.size(),
                                "vocab.gguf");
    if (!file.ok()) return file.status();
    return Tokenizer::FromGguf(**file);  // the tokenizer must not need the file afterwards
  }

 private:
  std::map<std::string, Setter> kv_;
  std::string bytes_;
};

const std::string kSp = "\xE2\x96\x81";  // "▁"

// A SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, then pieces with scores.
Meta SpmMeta() {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  std::vector<float> scores = {0, 0, 0};
  char buf[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    tokens.push_back(buf);
    types.push_back(6);
    scores.push_back(0);
  }
  // Higher score merges first: "ab" (-1) beats "bc" (-2), so "abc" -> "ab" "c".
  const std::vector<std::pair<std::string, float>> pieces = {
      {kSp, -5},  {"a", -10},      {"b", -10},      {"c", -10},   {"ab", -1},
      {"bc", -2}, {kSp + "a", -3}, {kSp + kSp, -4}, {"<user>", 0} /* user-defined */};
  for (const auto& [t, s] : pieces) {
    tokens.push_back(t);
    types.push_back(t == "<user>" ? 4 : 1);
    scores.push_back(s);
  }
  Meta m;
  m.Str("tokenizer.ggml.model", "llama");
  m.Strings("tokenizer.ggml.tokens", tokens);
  m.Ints("tokenizer.ggml.token_type", types);
  m.Floats("tokenizer.ggml.scores", scores);
  m.U32("tokenizer.ggml.bos_token_id", 1);
  m.U32("tokenizer.ggml.eos_token_id", 2);
  m.U32("tokenizer.ggml.unknown_token_id", 0);
  return m;
}

std::string ByteChar(int b) {
  std::string s;
  AppendUtf8(&s, ByteToUnicode(static_cast<uint8_t>(b)));
  return s;
}

// A byte-level BPE vocabulary: the 256 byte characters, three merges, one control token.
Meta BpeMeta(const std::string& pre = "gpt-2") {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(ByteChar(b));
  const std::string g = ByteChar(' ');  // "Ġ"
  for (const std::string& t : {std::string("he"), std::string("ll"), g + "w", std::string("hell"),
                               std::string("<|end|>")}) {
    tokens.push_back(t);
  }
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = 3;
  Meta m;
  m.Str("tokenizer.ggml.model", "gpt2");
  m.Str("tokenizer.ggml.pre", pre);
  m.Strings("tokenizer.ggml.tokens", tokens);
  m.Ints("tokenizer.ggml.token_type", types);
  m.Strings("tokenizer.ggml.merges", {"l l", "h e", "he ll", g + " w"});
  m.U32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(tokens.size() - 1));
  m.U32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(tokens.size() - 1));
  return m;
}

// Expects a failure whose message names `key`.
void ExpectError(Meta m, const std::string& key, StatusCode code = StatusCode::kInvalidArgument) {
  auto tok = m.Build();
  ASSERT_FALSE(tok.ok()) << "expected an error naming " << key;
  EXPECT_EQ(tok.status().code(), code) << tok.status().ToString();
  EXPECT_NE(tok.status().message().find(key), std::string::npos) << tok.status().ToString();
}

TEST(TinySpm, MergesByScoreWithByteFallback) {
  auto tok = SpmMeta().Build();
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const Tokenizer& t = **tok;
  const int32_t sp = t.FindToken(kSp), c = t.FindToken("c");
  const int32_t ab = t.FindToken("ab"), sp_a = t.FindToken(kSp + "a");
  EXPECT_EQ(t.model(), "llama");
  EXPECT_TRUE(t.add_bos());  // SentencePiece default
  // " abc" -> "▁abc": "ab" (-1) merges before "▁a" (-3) and "bc" (-2).
  EXPECT_EQ(t.Encode("abc", false, false), (std::vector<int32_t>{sp, ab, c}));
  EXPECT_EQ(t.Encode("abc", true, false), (std::vector<int32_t>{1, sp, ab, c}));
  EXPECT_EQ(t.Encode("a", false, false), (std::vector<int32_t>{sp_a}));
  // "z" has no piece: byte fallback <0x7A> = 3 + 0x7A.
  EXPECT_EQ(t.Encode("z", false, false), (std::vector<int32_t>{sp, 3 + 'z'}));
  EXPECT_EQ(t.Decode(t.Encode(" a  z\n", true, false)), " a  z\n");
  // User-defined tokens match even in plain text; control tokens only with parse_special.
  const int32_t user = t.FindToken("<user>");
  EXPECT_EQ(t.Encode("<user>", false, false), (std::vector<int32_t>{user}));
  EXPECT_EQ(t.Encode("<s>a", false, true), (std::vector<int32_t>{1, sp_a}));
  const std::vector<int32_t> plain = t.Encode("<s>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0);
  EXPECT_EQ(t.Decode(plain), "<s>");
}

TEST(TinySpm, Phi3StripRuleFollowsGeneralName) {
  const int32_t sp_a = [] {
    auto tok = SpmMeta().Build();
    return (*tok)->FindToken(kSp + "a");
  }();
  for (const auto& [name, strips] : std::vector<std::pair<std::string, bool>>{
           {"Phi3", true}, {"microsoft phi-3 mini", true}, {"Llama", false}, {"", false}}) {
    SCOPED_TRACE(name);
    Meta m = SpmMeta();
    m.Str("general.name", name);
    auto tok = m.Build();
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    const Tokenizer& t = **tok;
    const int32_t user = t.FindToken("<user>");
    // After the (user-defined) special token: " \n a" -> "a" when stripped.
    const std::vector<int32_t> want_stripped = {user, sp_a};
    const std::vector<int32_t> got = t.Encode("<user> \n a", false, false);
    if (strips) {
      EXPECT_EQ(got, want_stripped);
    } else {
      EXPECT_NE(got, want_stripped);
      EXPECT_GT(got.size(), 2u);
    }
    // <s> never strips.
    EXPECT_NE(t.Encode("<s>  a", false, true), (std::vector<int32_t>{1, sp_a}));
  }
  // A general.name of another type is no name: no error, no stripping.
  Meta m = SpmMeta();
  m.U32("general.name", 3);
  auto tok = m.Build();
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_NE((*tok)->Encode("<user> a", false, false).size(), 2u);
}

TEST(TinySpm, AddSpacePrefixFalse) {
  Meta m = SpmMeta();
  m.Bool("tokenizer.ggml.add_space_prefix", false);
  m.Bool("tokenizer.ggml.add_bos_token", false);
  m.Bool("tokenizer.ggml.add_eos_token", true);
  auto tok = m.Build();
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const Tokenizer& t = **tok;
  EXPECT_FALSE(t.add_bos());
  EXPECT_TRUE(t.add_eos());
  EXPECT_EQ(t.Encode("abc", true, false),
            (std::vector<int32_t>{t.FindToken("ab"), t.FindToken("c"), 2}));
  EXPECT_EQ(t.Decode(t.Encode(" a", false, false)), " a");
}

TEST(TinyBpe, MergesByRankAndPreTokenizers) {
  for (const char* pre : {"gpt-2", "default", "llama-bpe", "qwen2", "qwen35", "smaug-bpe", "refact",
                          "smollm", "tekken"}) {
    SCOPED_TRACE(pre);
    auto tok = BpeMeta(pre).Build();
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    const Tokenizer& t = **tok;
    EXPECT_EQ(t.model(), "gpt2");
    EXPECT_EQ(t.pre(), pre);
    const int32_t hell = t.FindToken("hell"), o = t.FindToken("o"),
                  gw = t.FindToken(ByteChar(' ') + "w");
    EXPECT_EQ(t.Encode("hello world", false, false),
              (std::vector<int32_t>{hell, o, gw, o, t.FindToken("r"), t.FindToken("l"),
                                    t.FindToken("d")}));
    const int32_t end = t.FindToken("<|end|>");
    EXPECT_EQ(t.Encode("hell<|end|>", false, true), (std::vector<int32_t>{hell, end}));
    EXPECT_TRUE(t.IsEndOfGeneration(end));
    const std::string bytes("\x00\xff\n \t\xc3\xa9", 7);
    EXPECT_EQ(t.Decode(t.Encode(bytes, false, false)), bytes);
    EXPECT_EQ(t.add_bos(), std::string(pre) == "llama-bpe" || std::string(pre) == "tekken");
  }
}

TEST(Hostile, MissingOrWrongTypedKeys) {
  {
    Meta m = SpmMeta();
    m.Erase("tokenizer.ggml.model");
    ExpectError(m, "tokenizer.ggml.model", StatusCode::kNotFound);
  }
  {
    Meta m = SpmMeta();
    m.Str("tokenizer.ggml.model", "bert");
    ExpectError(m, "tokenizer.ggml.model", StatusCode::kUnimplemented);
  }
  {
    Meta m = SpmMeta();
    m.U32("tokenizer.ggml.model", 7);
    ExpectError(m, "tokenizer.ggml.model");
  }
  {
    Meta m = SpmMeta();
    m.Erase("tokenizer.ggml.tokens");
    ExpectError(m, "tokenizer.ggml.tokens", StatusCode::kNotFound);
  }
  {
    Meta m = SpmMeta();
    m.Ints("tokenizer.ggml.tokens", {1, 2, 3});
    ExpectError(m, "tokenizer.ggml.tokens");
  }
  {
    Meta m = SpmMeta();
    m.Strings("tokenizer.ggml.tokens", {});
    ExpectError(m, "tokenizer.ggml.tokens");
  }
  {
    Meta m = SpmMeta();
    m.Strings("tokenizer.ggml.scores", {"x"});
    ExpectError(m, "tokenizer.ggml.scores");
  }
  {
    Meta m = SpmMeta();
    m.Floats("tokenizer.ggml.token_type", {1.0f});
    ExpectError(m, "tokenizer.ggml.token_type");
  }
  {
    Meta m = SpmMeta();
    m.Str("tokenizer.ggml.bos_token_id", "1");
    ExpectError(m, "tokenizer.ggml.bos_token_id");
  }
  {
    Meta m = SpmMeta();
    m.U32("tokenizer.ggml.add_bos_token", 1);
    ExpectError(m, "tokenizer.ggml.add_bos_token");
  }
  {
    Meta m = BpeMeta();
    m.Erase("tokenizer.ggml.merges");
    ExpectError(m, "tokenizer.ggml.merges", StatusCode::kNotFound);
  }
  {
    Meta m = BpeMeta();
    m.Str("tokenizer.ggml.pre", "bloom");
    ExpectError(m, "tokenizer.ggml.pre", StatusCode::kUnimplemented);
    auto tok = m.Build();
    const std::string& msg = tok.status().message();
    EXPECT_NE(msg.find("'bloom'"), std::string::npos);
    // One line that names every supported value.
    EXPECT_EQ(msg.find('\n'), std::string::npos);
    for (const char* name : {"llama-bpe", "smaug-bpe", "qwen2", "qwen35", "refact", "smollm",
                             "tekken", "gpt-2", "default"}) {
      EXPECT_NE(msg.find(std::string(" ") + name), std::string::npos) << name << ": " << msg;
    }
  }
}

TEST(Hostile, ArrayLengths) {
  {
    Meta m = SpmMeta();
    m.Floats("tokenizer.ggml.scores", {0, 0, 0});
    ExpectError(m, "tokenizer.ggml.scores");
  }
  {
    Meta m = SpmMeta();
    m.Ints("tokenizer.ggml.token_type", {1});
    ExpectError(m, "tokenizer.ggml.token_type");
  }
  {
    Meta m = SpmMeta();
    std::vector<int32_t> types(3 + 256 + 9, 1);
    types[5] = 9;
    m.Ints("tokenizer.ggml.token_type", types);
    ExpectError(m, "tokenizer.ggml.token_type");
  }
  {
    Meta m = SpmMeta();
    std::vector<float> scores(3 + 256 + 9, 0.0f);
    scores[7] = std::nanf("");
    m.Floats("tokenizer.ggml.scores", scores);
    ExpectError(m, "tokenizer.ggml.scores");
  }
}

TEST(Hostile, SpecialIdsOutOfRange) {
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.ggml.eom_token_id"}) {
    SCOPED_TRACE(key);
    Meta m = SpmMeta();
    m.U32(key, 268);  // one past the last token
    ExpectError(m, key, StatusCode::kOutOfRange);
    m.I32(key, -1);
    ExpectError(m, key, StatusCode::kOutOfRange);
    m.U32(key, 0xFFFFFFFFu);
    ExpectError(m, key, StatusCode::kOutOfRange);
  }
}

TEST(Hostile, BadMerges) {
  const std::string g = ByteChar(' ');
  for (const std::string& bad : {std::string("hell"), std::string("he "), std::string(" "),
                                 std::string(""), std::string("x y")}) {
    SCOPED_TRACE(bad);
    Meta m = BpeMeta();
    m.Strings("tokenizer.ggml.merges", {"l l", bad});
    ExpectError(m, "tokenizer.ggml.merges[1]");
  }
  // Both parts exist but their concatenation is not a token.
  Meta m = BpeMeta();
  m.Strings("tokenizer.ggml.merges", {"a b"});
  ExpectError(m, "tokenizer.ggml.merges[0]");
}

TEST(Hostile, OddButValidVocabularies) {
  // Missing optional keys, duplicates and empty texts load and encode without crashing.
  Meta m = SpmMeta();
  m.Erase("tokenizer.ggml.scores");
  m.Erase("tokenizer.ggml.token_type");
  m.Erase("tokenizer.ggml.bos_token_id");
  m.Erase("tokenizer.ggml.unknown_token_id");
  auto tok = m.Build();
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_FALSE((*tok)->add_bos());  // nothing to add without an id
  EXPECT_EQ((*tok)->bos_id(), -1);
  EXPECT_FALSE((*tok)->Encode("abc xyz", true, true).empty());

  Meta d = BpeMeta();
  std::vector<std::string> tokens;
  for (int b = 0; b < 200; ++b) tokens.push_back(ByteChar(b));  // bytes 200-255 missing
  tokens.insert(tokens.end(), {"", "", "h", "he", "<x>", "<x>", ""});
  d.Strings("tokenizer.ggml.tokens", tokens);
  std::vector<int32_t> types(tokens.size(), 1);
  types[201] = 3;  // an empty control token
  types[204] = 3;
  types[205] = 4;
  d.Ints("tokenizer.ggml.token_type", types);
  d.Strings("tokenizer.ggml.merges", {"h e", "h e"});
  d.U32("tokenizer.ggml.eos_token_id", 0);
  d.Erase("tokenizer.ggml.bos_token_id");
  auto bpe = d.Build();
  ASSERT_TRUE(bpe.ok()) << bpe.status().ToString();
  for (bool special : {false, true}) {
    const std::vector<int32_t> ids = (*bpe)->Encode("he<x>\xff\xfe he", true, special);
    EXPECT_FALSE(ids.empty());
    (*bpe)->Decode(ids);
  }
}

TEST(Hostile, RandomMutationsNeverCrash) {
  // Drop keys and shuffle values between keys; every result is a value or a Status.
  std::mt19937 rng(1234);
  for (int round = 0; round < 60; ++round) {
    Meta m = (round % 2) ? SpmMeta() : BpeMeta(round % 4 == 0 ? "llama-bpe" : "qwen2");
    const std::vector<std::string> keys = m.keys();
    for (const std::string& k : keys) {
      switch (rng() % 6) {
        case 0:
          m.Erase(k);
          break;
        case 1:
          m.U32(k, rng() % 300);
          break;
        case 2:
          m.Strings(k, {"a", "b", "a b", ""});
          break;
        default:
          break;
      }
    }
    auto tok = m.Build();
    if (tok.ok()) {
      const std::vector<int32_t> ids = (*tok)->Encode("Hello <s> world\xff", true, true);
      (*tok)->Decode(ids);
      for (int32_t id : ids) {
        EXPECT_GE(id, 0);
        EXPECT_LT(id, (*tok)->n_vocab());
      }
    } else {
      EXPECT_FALSE(tok.status().message().empty());
    }
  }
}

}  // namespace
}  // namespace suanli
