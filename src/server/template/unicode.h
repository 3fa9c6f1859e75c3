// UTF-8 and Python character semantics for the Jinja interpreter.
//
// Template strings are UTF-8 byte strings that the interpreter has validated, so these helpers
// assume valid input. Python strings index by code point; these helpers convert between code
// point positions and byte offsets, and give Python's definitions of whitespace, case and
// character classes (str.isspace, str.lower, ...).
#pragma once

#include "base/utf8.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace suanli::jinja {

// Offset of the first invalid byte, or npos when `s` is valid UTF-8 (no surrogates, <= U+10FFFF).
size_t FindInvalidUtf8(std::string_view s);

// Decodes the code point at s[*i] and advances *i. `s` must be valid UTF-8.
char32_t DecodeUtf8(std::string_view s, size_t* i);

bool IsAscii(std::string_view s);
size_t CodePointCount(std::string_view s);
std::vector<char32_t> ToCodePoints(std::string_view s);
std::string FromCodePoints(const char32_t* cps, size_t n);

// str.isspace() for one code point.
bool IsPySpace(char32_t c);
bool IsPyPrintable(char32_t c);
bool IsPyAlpha(char32_t c);
bool IsPyDecimal(char32_t c);
bool IsPyDigit(char32_t c);
bool IsPyNumeric(char32_t c);
bool IsPyLower(char32_t c);
bool IsPyUpper(char32_t c);
bool IsPyCased(char32_t c);

enum class CaseKind { kLower, kUpper, kTitle };
// Appends the full Python case mapping of `c` (may be several code points: 'ß'.upper() == 'SS').
void AppendCaseMapped(std::string* out, char32_t c, CaseKind kind);

std::string PyLower(std::string_view s);
std::string PyUpper(std::string_view s);

}  // namespace suanli::jinja
