// UTF-8 helpers and Python character classes (see unicode.h).
#include "server/template/unicode.h"

#include <algorithm>

#include "server/template/unicode_data.h"

namespace suanli::jinja {
namespace {

using unicode_data::CaseMapping;
using unicode_data::CodeRange;

bool InRanges(const CodeRange* r, size_t n, char32_t c) {
  const CodeRange* end = r + n;
  const CodeRange* it =
      std::upper_bound(r, end, c, [](char32_t v, const CodeRange& x) { return v < x.first; });
  if (it == r) return false;
  --it;
  return c <= it->last;
}

const CaseMapping* FindMapping(const CaseMapping* m, size_t n, char32_t c) {
  const CaseMapping* end = m + n;
  const CaseMapping* it =
      std::lower_bound(m, end, c, [](const CaseMapping& x, char32_t v) { return x.cp < v; });
  if (it != end && it->cp == c) return it;
  return nullptr;
}

}  // namespace

size_t FindInvalidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    char32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

char32_t DecodeUtf8(std::string_view s, size_t* i) {
  unsigned char c = static_cast<unsigned char>(s[*i]);
  if (c < 0x80) {
    ++*i;
    return c;
  }
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  char32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < len && *i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
  }
  *i += len;
  return cp;
}


bool IsAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::vector<char32_t> ToCodePoints(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) out.push_back(DecodeUtf8(s, &i));
  return out;
}

std::string FromCodePoints(const char32_t* cps, size_t n) {
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) AppendUtf8(&out, cps[i]);
  return out;
}

bool IsPySpace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  switch (c) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool IsPyPrintable(char32_t c) {
  if (c < 0x80) return c >= 0x20 && c < 0x7F;
  return InRanges(unicode_data::kPrintable, unicode_data::kPrintableSize, c);
}
bool IsPyAlpha(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  return InRanges(unicode_data::kAlpha, unicode_data::kAlphaSize, c);
}
bool IsPyDecimal(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return InRanges(unicode_data::kDecimal, unicode_data::kDecimalSize, c);
}
bool IsPyDigit(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return InRanges(unicode_data::kDigit, unicode_data::kDigitSize, c);
}
bool IsPyNumeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return InRanges(unicode_data::kNumeric, unicode_data::kNumericSize, c);
}
bool IsPyLower(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  return InRanges(unicode_data::kLowercase, unicode_data::kLowercaseSize, c);
}
bool IsPyUpper(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  return InRanges(unicode_data::kUppercase, unicode_data::kUppercaseSize, c);
}
bool IsPyCased(char32_t c) {
  return IsPyLower(c) || IsPyUpper(c) ||
         InRanges(unicode_data::kTitlecase, unicode_data::kTitlecaseSize, c);
}

void AppendCaseMapped(std::string* out, char32_t c, CaseKind kind) {
  if (c < 0x80) {
    if (kind == CaseKind::kLower) {
      if (c >= 'A' && c <= 'Z') c += 32;
    } else if (c >= 'a' && c <= 'z') {
      c -= 32;
    }
    out->push_back(static_cast<char>(c));
    return;
  }
  const CaseMapping* m = nullptr;
  switch (kind) {
    case CaseKind::kLower:
      m = FindMapping(unicode_data::kLowerMap, unicode_data::kLowerMapSize, c);
      break;
    case CaseKind::kUpper:
      m = FindMapping(unicode_data::kUpperMap, unicode_data::kUpperMapSize, c);
      break;
    case CaseKind::kTitle:
      m = FindMapping(unicode_data::kTitleMap, unicode_data::kTitleMapSize, c);
      break;
  }
  if (m == nullptr) {
    AppendUtf8(out, c);
    return;
  }
  for (int k = 0; k < m->n; ++k) AppendUtf8(out, m->to[k]);
}

static std::string MapCase(std::string_view s, CaseKind kind) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) AppendCaseMapped(&out, DecodeUtf8(s, &i), kind);
  return out;
}

std::string PyLower(std::string_view s) { return MapCase(s, CaseKind::kLower); }
std::string PyUpper(std::string_view s) { return MapCase(s, CaseKind::kUpper); }

}  // namespace suanli::jinja
