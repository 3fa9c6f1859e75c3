// Unicode tables, UTF-8 decoding, GPT-2's byte alphabet and the pre-tokenizer state machines on
// inputs whose splits follow from the regexes by hand.
#include "engine/tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

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

TEST(PreTokenizer, LongInputsAreLinear) {
  // A million-character word and whitespace run: the splitters never rescan.
  const std::string letters(1 << 20, 'a'), spaces(1 << 20, ' ');
  for (PreTokenizer k : {PreTokenizer::kGpt2, PreTokenizer::kLlama3, PreTokenizer::kQwen2}) {
    EXPECT_EQ(Split(k, letters).size(), 1u);
    EXPECT_EQ(Split(k, spaces + "x").size(), 2u);
  }
}

}  // namespace
}  // namespace suanli
