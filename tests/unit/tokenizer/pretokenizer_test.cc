// Unicode tables, UTF-8 decoding, GPT-2's byte alphabet and the pre-tokenizer state machines: on
// inputs whose splits follow from the regexes by hand, on the splits an independent regex engine
// gives (tests/data/vocab/pretokenizer_splits.json, from make_split_expectations.py), and on
// arbitrary bytes.
#include "engine/tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer/unicode.h"

namespace suanli {
namespace {

std::vector<std::string> Split(PreTokenizer kind, std::string_view text) {
  std::vector<WordSpan> spans;
  PreTokenize(kind, text, &spans);
  std::vector<std::string> words;
  size_t expect_begin = 0;
  for (const WordSpan& w : spans) {
    EXPECT_EQ(w.begin, expect_begin) << "words must tile the text";
    EXPECT_LT(w.begin, w.end);
    expect_begin = w.end;
    words.emplace_back(text.substr(w.begin, w.end - w.begin));
  }
  EXPECT_EQ(expect_begin, text.size());
  return words;
}

using Words = std::vector<std::string>;

TEST(Unicode, Categories) {
  EXPECT_EQ(CategoryOf('a'), UnicodeCategory::kLetter);
  EXPECT_EQ(CategoryOf('Z'), UnicodeCategory::kLetter);
  EXPECT_EQ(CategoryOf('7'), UnicodeCategory::kNumber);
  EXPECT_EQ(CategoryOf('!'), UnicodeCategory::kPunctuation);
  EXPECT_EQ(CategoryOf('$'), UnicodeCategory::kSymbol);
  EXPECT_EQ(CategoryOf(' '), UnicodeCategory::kSeparator);
  EXPECT_EQ(CategoryOf('\n'), UnicodeCategory::kOther);
  EXPECT_EQ(CategoryOf(0xE9), UnicodeCategory::kLetter);     // é
  EXPECT_EQ(CategoryOf(0xB2), UnicodeCategory::kNumber);     // ²
  EXPECT_EQ(CategoryOf(0x4F60), UnicodeCategory::kLetter);   // 你
  EXPECT_EQ(CategoryOf(0x0661), UnicodeCategory::kNumber);   // Arabic-Indic one
  EXPECT_EQ(CategoryOf(0x17B6), UnicodeCategory::kMark);     // Khmer vowel sign
  EXPECT_EQ(CategoryOf(0x1F600), UnicodeCategory::kSymbol);  // 😀
  EXPECT_EQ(CategoryOf(0x3001), UnicodeCategory::kPunctuation);
  EXPECT_EQ(CategoryOf(0x10FFFF), UnicodeCategory::kOther);
  EXPECT_EQ(CategoryOf(0x110000), UnicodeCategory::kOther);
  EXPECT_TRUE(IsWhitespace(' '));
  EXPECT_TRUE(IsWhitespace('\t'));
  EXPECT_TRUE(IsWhitespace(0x3000));
  EXPECT_TRUE(IsWhitespace(0xA0));
  EXPECT_FALSE(IsWhitespace(0x200B));  // zero-width space is not White_Space
  EXPECT_FALSE(IsWhitespace(0x1C));
}

TEST(Unicode, Utf8) {
  uint32_t cp;
  EXPECT_EQ(DecodeUtf8("\xE4\xBD\xA0", 0, &cp), 3u);
  EXPECT_EQ(cp, 0x4F60u);
  EXPECT_EQ(DecodeUtf8("\xF0\x9F\x98\x80", 0, &cp), 4u);
  EXPECT_EQ(cp, 0x1F600u);
  for (std::string_view bad : {"\xE4\xBD", "\x80", "\xC0\xAF", "\xED\xA0\x80", "\xFF", "\xC3("}) {
    EXPECT_EQ(DecodeUtf8(bad, 0, &cp), 1u);
    EXPECT_EQ(cp, 0xFFFDu);
  }
  std::string s;
  for (uint32_t c : {0x41u, 0xE9u, 0x4F60u, 0x1F600u}) AppendUtf8(&s, c);
  EXPECT_EQ(s, "A\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80");
}

TEST(Unicode, Gpt2ByteAlphabet) {
  EXPECT_EQ(ByteToUnicode('!'), uint32_t{'!'});
  EXPECT_EQ(ByteToUnicode(' '), 0x120u);   // Ġ
  EXPECT_EQ(ByteToUnicode('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(ByteToUnicode(0xAD), 0x143u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(UnicodeToByte(ByteToUnicode(b)), b);
  EXPECT_EQ(UnicodeToByte(' '), -1);
  EXPECT_EQ(UnicodeToByte(0x4F60), -1);
}

TEST(PreTokenizer, Gpt2) {
  const auto k = PreTokenizer::kGpt2;
  EXPECT_EQ(Split(k, "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(Split(k, "I'm here, they'LL go"),
            (Words{"I", "'m", " here", ",", " they", "'", "LL", " go"}));
  EXPECT_EQ(Split(k, "abc123 4567"), (Words{"abc", "123", " 4567"}));
  EXPECT_EQ(Split(k, "a   b"), (Words{"a", "  ", " b"}));
  EXPECT_EQ(Split(k, "a \t\n"), (Words{"a", " \t\n"}));
  EXPECT_EQ(Split(k, "x\n\ny"), (Words{"x", "\n", "\n", "y"}));
  EXPECT_EQ(Split(k, " ?!.. ok"), (Words{" ?!..", " ok"}));
  EXPECT_EQ(Split(k, "caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD"),
            (Words{"caf\xC3\xA9", " \xE4\xBD\xA0\xE5\xA5\xBD"}));
  EXPECT_EQ(Split(k, ""), Words{});
  EXPECT_EQ(Split(k, "a\xFF\xFE b"), (Words{"a", "\xFF\xFE", " b"}));  // invalid bytes: symbols
}

TEST(PreTokenizer, Llama3) {
  const auto k = PreTokenizer::kLlama3;
  EXPECT_EQ(Split(k, "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(Split(k, "they'LL we'Ve"), (Words{"they", "'LL", " we", "'Ve"}));
  EXPECT_EQ(Split(k, "1234567"), (Words{"123", "456", "7"}));
  EXPECT_EQ(Split(k, " 12"), (Words{" ", "12"}));
  EXPECT_EQ(Split(k, "\tword"), (Words{"\tword"}));  // [^\r\n\p{L}\p{N}]?\p{L}+
  EXPECT_EQ(Split(k, "(word"), (Words{"(word"}));
  EXPECT_EQ(Split(k, "a  \n\n  b"), (Words{"a", "  \n\n", " ", " b"}));
  EXPECT_EQ(Split(k, " ...\n\nx"), (Words{" ...\n\n", "x"}));
  EXPECT_EQ(Split(k, "x   "), (Words{"x", "   "}));
  EXPECT_EQ(Split(k, "x "), (Words{"x", " "}));
}

TEST(PreTokenizer, Qwen2) {
  const auto k = PreTokenizer::kQwen2;
  EXPECT_EQ(Split(k, "1234"), (Words{"1", "2", "3", "4"}));
  EXPECT_EQ(Split(k, "ab12 'S"), (Words{"ab", "1", "2", " '", "S"}));
}

TEST(PreTokenizer, Qwen35) {
  const auto k = PreTokenizer::kQwen35;
  EXPECT_EQ(Split(k, "e\xCC\x81te"), (Words{"e\xCC\x81te"}));  // a mark joins the letters
  EXPECT_EQ(Split(k, "12ab"), (Words{"1", "2", "ab"}));
  // A mark is not a symbol: it ends the symbol run and starts a word of its own.
  EXPECT_EQ(Split(k, "..\xCC\x81"), (Words{"..", "\xCC\x81"}));
  EXPECT_EQ(Split(PreTokenizer::kQwen2, "..\xCC\x81"), (Words{"..\xCC\x81"}));
}

TEST(PreTokenizer, Starcoder) {
  const auto k = PreTokenizer::kStarcoder;
  EXPECT_EQ(Split(k, "abc123 4567"), (Words{"abc", "1", "2", "3", " ", "4", "5", "6", "7"}));
  // The whitespace before a digit ends its piece, so it stays one word.
  EXPECT_EQ(Split(k, "a   1"), (Words{"a", "   ", "1"}));
  EXPECT_EQ(Split(k, "a   b"), (Words{"a", "  ", " b"}));
  EXPECT_EQ(Split(k, "x'1"), (Words{"x", "'", "1"}));
  EXPECT_EQ(Split(k, "\xD9\xA3\xC2\xB2"), (Words{"\xD9\xA3", "\xC2\xB2"}));  // any \p{N}
}

TEST(PreTokenizer, Default) {
  const auto k = PreTokenizer::kDefault;
  EXPECT_EQ(Split(k, "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(Split(k, "a, b"), (Words{"a", ",", " b"}));  // punctuation runs stand apart
  EXPECT_EQ(Split(k, "x 1234567"), (Words{"x", " ", "123", "456", "7"}));
  EXPECT_EQ(Split(k, "don't"), (Words{"don", "'", "t"}));  // ' is punctuation before GPT-2 sees it
  EXPECT_EQ(Split(k, "a+=b`c"), (Words{"a", "+=", "b", "`", "c"}));
}

TEST(PreTokenizer, Tekken) {
  const auto k = PreTokenizer::kTekken;
  EXPECT_EQ(Split(k, "HTTPServer iPhone"), (Words{"HTTPServer", " i", "Phone"}));
  EXPECT_EQ(Split(k, "ABC def"), (Words{"ABC", " def"}));
  EXPECT_EQ(Split(k, "aBc"), (Words{"a", "Bc"}));
  EXPECT_EQ(Split(k, "12"), (Words{"1", "2"}));
  EXPECT_EQ(Split(k, "a//\n/b"), (Words{"a", "//\n/", "b"}));
  // Non-ASCII letters count as both cases: "ÀBC" splits after the "À".
  EXPECT_EQ(Split(k,
                  "\xC3\x80"
                  "BC"),
            (Words{"\xC3\x80", "BC"}));
  EXPECT_EQ(Split(k, "they'll"), (Words{"they", "'ll"}));
}

std::filesystem::path SplitsFile() {
  const char* src = std::getenv("SUANLI_SOURCE_DIR");
  const std::filesystem::path data = src != nullptr && *src != '\0'
                                         ? std::filesystem::path(src) / "tests" / "data"
                                         : std::filesystem::path(SUANLI_REPO_TESTDATA);
  return data / "vocab" / "pretokenizer_splits.json";
}

TEST(PreTokenizer, MatchesAnIndependentRegexEngine) {
  const std::filesystem::path path = SplitsFile();
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) {
    GTEST_SKIP() << "set SUANLI_SOURCE_DIR to the source tree (for " << path << ")";
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str());
  size_t names = 0;
  for (const auto& [name, cases] : j.at("splits").items()) {
    const PreTokenizerInfo* info = FindPreTokenizer(name);
    ASSERT_NE(info, nullptr) << name;
    int passed = 0;
    for (const auto& c : cases) {
      const std::string input = c.at(0).get<std::string>();
      const Words want = c.at(1).get<Words>();
      const Words got = Split(info->kind, input);
      EXPECT_EQ(got, want) << name << ": '" << input << "'";
      passed += got == want;
    }
    std::printf("%-9s: %d/%zu splits match Python's regex\n", name.c_str(), passed, cases.size());
    EXPECT_GE(cases.size(), 40u);
    ++names;
  }
  EXPECT_GE(names, 9u);
}

constexpr PreTokenizer kAllKinds[] = {PreTokenizer::kGpt2,      PreTokenizer::kLlama3,
                                      PreTokenizer::kQwen2,     PreTokenizer::kQwen35,
                                      PreTokenizer::kStarcoder, PreTokenizer::kTekken};

TEST(PreTokenizer, TableNamesEachKind) {
  for (PreTokenizer k : kAllKinds) {
    bool named = false;
    for (const char* n : {"gpt-2", "llama-bpe", "qwen2", "qwen35", "refact", "tekken", "default"}) {
      named |= FindPreTokenizer(n)->kind == k;
    }
    EXPECT_TRUE(named);
  }
  EXPECT_EQ(FindPreTokenizer("smollm")->kind, PreTokenizer::kStarcoder);
  EXPECT_EQ(FindPreTokenizer("smaug-bpe")->kind, PreTokenizer::kLlama3);
  EXPECT_FALSE(FindPreTokenizer("smaug-bpe")->ignore_merges);
  EXPECT_TRUE(FindPreTokenizer("tekken")->ignore_merges);
  EXPECT_TRUE(FindPreTokenizer("tekken")->add_bos);
  EXPECT_EQ(FindPreTokenizer("bloom"), nullptr);
  EXPECT_EQ(FindPreTokenizer(""), nullptr);
  EXPECT_NE(SupportedPreTokenizers().find("smollm"), std::string::npos);
}

TEST(PreTokenizer, ArbitraryBytesTile) {
  // Random bytes, biased towards the characters the splitters branch on, invalid UTF-8 included.
  std::mt19937 rng(7);
  const std::string alphabet[] = {"a",
                                  "Z",
                                  "1",
                                  " ",
                                  "\n",
                                  "\r",
                                  "\t",
                                  "'",
                                  "s",
                                  "/",
                                  ".",
                                  "\xC3\x80",
                                  "\xCC\x81",
                                  "\xD9\xA3",
                                  "\xE3\x80\x80",
                                  "\xFF",
                                  "\x80",
                                  "\xE4\xBD",
                                  "\xF0\x9F\x98\x80",
                                  "L"};
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      if (rng() % 8 == 0) {
        text.push_back(static_cast<char>(rng() & 0xFF));
      } else {
        text += alphabet[rng() % std::size(alphabet)];
      }
    }
    for (PreTokenizer k : kAllKinds) Split(k, text);  // Split checks the tiling
  }
}

TEST(PreTokenizer, Speed) {
  // Mixed prose, code, digits, CJK and emoji, repeated to 4 MB.
  const std::string unit =
      "The quick brown fox can't jump 1234567 times; HTTPServer.getX() returns -3.14!\n\n"
      "    def f(x):\n        return x**2  # \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80\n"
      "caf\xC3\xA9 e\xCC\x81t\xC3\xA9 \xC3\x80"
      "BC \xD0\x9C\xD0\xB8\xD1\x80\t\t/path/to\r\n";
  std::string text;
  while (text.size() < (4 << 20)) text += unit;
  const char* names[] = {"gpt-2", "llama-bpe", "qwen2", "qwen35", "smollm", "tekken", "default"};
  for (const char* name : names) {
    std::vector<WordSpan> words;
    const auto t0 = std::chrono::steady_clock::now();
    PreTokenize(FindPreTokenizer(name)->kind, text, &words);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("pre-tokenize %-9s %.1f MB: %6.1f ms (%.0f MB/s, %zu words)\n", name,
                text.size() / 1e6, ms, text.size() / 1e3 / ms, words.size());
    EXPECT_EQ(words.back().end, text.size());
  }
}

TEST(PreTokenizer, LongInputsAreLinear) {
  // A million-character word and whitespace run, and runs that make a backtracking regex engine
  // retry at every position: the splitters never rescan.
  const std::string letters(1 << 20, 'a'), spaces(1 << 20, ' ');
  std::string upper_then_accent(1 << 20, 'A');
  upper_then_accent.replace(0, 2, "\xC3\x80");  // "ÀAAA...": Tekken backtracks U* to the "À"
  std::string marks;
  while (marks.size() < (1 << 20)) marks += "\xCC\x81";
  std::string slashes;
  while (slashes.size() < (1 << 20)) slashes += "/\n";
  const std::string digits(1 << 20, '7');
  for (PreTokenizer k : kAllKinds) {
    SCOPED_TRACE(static_cast<int>(k));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(Split(k, letters).size(), 1u);
    EXPECT_EQ(Split(k, spaces + "x").size(), 2u);
    EXPECT_LE(Split(k, upper_then_accent).size(), 2u);
    EXPECT_EQ(Split(k, marks).size(), 1u);
    EXPECT_LE(Split(k, slashes).size(), slashes.size());
    EXPECT_GE(Split(k, digits).size(), 1u);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 20.0);  // quadratic would be hours
  }
}

}  // namespace
}  // namespace suanli
