// Character property tables generated from CPython's unicodedata by gen_unicode_data.py, so that
// str methods (lower, upper, title, isalpha, isprintable, ...) behave as Python's do.
#pragma once

#include <cstddef>

namespace suanli::jinja::unicode_data {

struct CodeRange {
  char32_t first;
  char32_t last;
};

// A code point whose Python full case mapping differs from itself: maps to `n` code points.
struct CaseMapping {
  char32_t cp;
  unsigned char n;
  char32_t to[3];
};

extern const CaseMapping kLowerMap[];
extern const size_t kLowerMapSize;
extern const CaseMapping kUpperMap[];
extern const size_t kUpperMapSize;
extern const CaseMapping kTitleMap[];
extern const size_t kTitleMapSize;
extern const CodeRange kAlpha[];
extern const size_t kAlphaSize;
extern const CodeRange kDecimal[];
extern const size_t kDecimalSize;
extern const CodeRange kDigit[];
extern const size_t kDigitSize;
extern const CodeRange kNumeric[];
extern const size_t kNumericSize;
extern const CodeRange kPrintable[];
extern const size_t kPrintableSize;
extern const CodeRange kLowercase[];
extern const size_t kLowercaseSize;
extern const CodeRange kUppercase[];
extern const size_t kUppercaseSize;
extern const CodeRange kTitlecase[];
extern const size_t kTitlecaseSize;

}  // namespace suanli::jinja::unicode_data
