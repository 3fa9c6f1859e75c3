// Unicode helpers for the tokenizers: lenient UTF-8 decoding, general categories for the
// pre-tokenizer regexes (\p{L}, \p{N}, \s, \p{P}), and GPT-2's byte <-> unicode mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/utf8.h"

namespace suanli {

// Major general category (first letter of the Unicode category); unassigned code points are kOther.
enum class UnicodeCategory : uint8_t {
  kLetter = 0,       // L
  kMark = 1,         // M
  kNumber = 2,       // N
  kPunctuation = 3,  // P
  kSymbol = 4,       // S
  kSeparator = 5,    // Z
  kOther = 6,        // C (control, format, surrogate, private use, unassigned)
};

UnicodeCategory CategoryOf(uint32_t cp);
// The White_Space property (what \s matches in the tokenizers' regex engines).
bool IsWhitespace(uint32_t cp);
inline bool IsLetter(uint32_t cp) { return CategoryOf(cp) == UnicodeCategory::kLetter; }
inline bool IsNumber(uint32_t cp) { return CategoryOf(cp) == UnicodeCategory::kNumber; }
inline bool IsPunctuation(uint32_t cp) { return CategoryOf(cp) == UnicodeCategory::kPunctuation; }

// Byte length of the UTF-8 sequence a lead byte announces (1 for continuation bytes), the way
// SentencePiece splits text into characters without validating.
inline size_t Utf8LenFromLead(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// Decodes one code point at s[pos]. Returns its byte length (>= 1). An invalid or truncated
// sequence decodes as one byte with *cp = U+FFFD, so callers keep the raw bytes and never stall.
size_t DecodeUtf8(std::string_view s, size_t pos, uint32_t* cp);
// AppendUtf8: base/utf8.h.

// GPT-2 byte-level BPE spells every byte as a printable code point: bytes 33-126, 161-172 and
// 174-255 map to themselves, the other 68 to U+0100.. in order.
uint32_t ByteToUnicode(uint8_t b);
// Inverse of ByteToUnicode; -1 for code points that no byte maps to.
int UnicodeToByte(uint32_t cp);

}  // namespace suanli
