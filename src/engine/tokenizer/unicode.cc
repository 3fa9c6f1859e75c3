#include "engine/tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace suanli {

namespace unicode_internal {
// unicode_tables.cc (generated).
extern const uint32_t kCategoryRuns[];
extern const size_t kNumCategoryRuns;
}  // namespace unicode_internal

namespace {

struct Latin1Categories {
  std::array<UnicodeCategory, 256> cat;
};

UnicodeCategory LookupRuns(uint32_t cp) {
  using unicode_internal::kCategoryRuns;
  using unicode_internal::kNumCategoryRuns;
  if (cp > 0x10FFFF) return UnicodeCategory::kOther;
  // Last run whose start <= cp.
  const uint32_t key = (cp << 4) | 0xF;
  const uint32_t* end = kCategoryRuns + kNumCategoryRuns;
  const uint32_t* it = std::upper_bound(kCategoryRuns, end, key);
  return static_cast<UnicodeCategory>(*(it - 1) & 0xF);
}

// Most text is Latin-1; skip the binary search for it.
const Latin1Categories& Latin1() {
  static const Latin1Categories table = [] {
    Latin1Categories t;
    for (uint32_t cp = 0; cp < 256; ++cp) t.cat[cp] = LookupRuns(cp);
    return t;
  }();
  return table;
}

struct ByteMaps {
  std::array<uint32_t, 256> to_unicode;
  std::array<int16_t, 324> to_byte;  // code points 0..323 cover the whole mapping
};

const ByteMaps& GetByteMaps() {
  static const ByteMaps maps = [] {
    ByteMaps m;
    m.to_byte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      m.to_unicode[b] = printable ? b : next++;
      m.to_byte[m.to_unicode[b]] = static_cast<int16_t>(b);
    }
    return m;
  }();
  return maps;
}

}  // namespace

UnicodeCategory CategoryOf(uint32_t cp) {
  if (cp < 256) return Latin1().cat[cp];
  return LookupRuns(cp);
}

bool IsWhitespace(uint32_t cp) {
  // PropList.txt White_Space, unchanged since Unicode 6.3.
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

size_t DecodeUtf8(std::string_view s, size_t pos, uint32_t* cp) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t b0 = byte(pos);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t value;
  uint32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, value = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, value = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, value = b0 & 0x07, min = 0x10000;
  } else {
    *cp = 0xFFFD;
    return 1;
  }
  if (pos + len > s.size()) {
    *cp = 0xFFFD;
    return 1;
  }
  for (size_t i = 1; i < len; ++i) {
    const uint8_t b = byte(pos + i);
    if ((b & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    value = (value << 6) | (b & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not characters.
  if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
    *cp = 0xFFFD;
    return 1;
  }
  *cp = value;
  return len;
}


uint32_t ByteToUnicode(uint8_t b) { return GetByteMaps().to_unicode[b]; }

int UnicodeToByte(uint32_t cp) {
  if (cp >= 324) return -1;
  return GetByteMaps().to_byte[cp];
}

}  // namespace suanli
