#include "engine/tokenizer/pretokenizer.h"

#include "engine/tokenizer/unicode.h"

namespace suanli {
namespace {

enum : uint8_t {
  kLetter = 1,
  kNumber = 2,
  kSpace = 4,  // \s
  kValid = 8,  // inside the text (the regex sees nothing past the end)
};

// Reads the text one code point at a time; positions are byte offsets. Decoding on the fly keeps
// memory flat however long the text is.
class Text {
 public:
  explicit Text(std::string_view s) : s_(s) {}
  size_t size() const { return s_.size(); }
  // Code point at byte offset `pos` (U+FFFD for an invalid byte), or kEnd past the end.
  static constexpr uint32_t kEnd = 0xFFFFFFFF;
  uint32_t Cp(size_t pos) const {
    if (pos >= s_.size()) return kEnd;
    uint32_t cp;
    DecodeUtf8(s_, pos, &cp);
    return cp;
  }
  size_t Next(size_t pos) const {
    if (pos >= s_.size()) return pos;
    uint32_t cp;
    return pos + DecodeUtf8(s_, pos, &cp);
  }
  uint8_t Flags(size_t pos) const {
    if (pos >= s_.size()) return 0;
    const uint32_t cp = Cp(pos);
    if (cp < 0x80) return AsciiFlags()[cp];
    if (IsWhitespace(cp)) return kValid | kSpace;
    const UnicodeCategory cat = CategoryOf(cp);
    return kValid | (cat == UnicodeCategory::kLetter   ? kLetter
                     : cat == UnicodeCategory::kNumber ? kNumber
                                                       : 0);
  }

 private:
  static const uint8_t* AsciiFlags() {
    static const auto table = [] {
      struct {
        uint8_t f[128];
      } t;
      for (uint32_t c = 0; c < 128; ++c) {
        t.f[c] = kValid | (IsWhitespace(c) ? kSpace : 0) | (IsLetter(c) ? kLetter : 0) |
                 (IsNumber(c) ? kNumber : 0);
      }
      return t;
    }();
    return table.f;
  }
  std::string_view s_;
};

inline bool IsOther(uint8_t f) {  // [^\s\p{L}\p{N}] inside the text
  return (f & kValid) && !(f & (kLetter | kNumber | kSpace));
}

inline uint32_t AsciiLower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Byte length (2 or 3) of a contraction 's 't 're 've 'm 'll 'd at pos, or 0.
size_t MatchContraction(const Text& t, size_t pos, bool ignore_case) {
  if (t.Cp(pos) != '\'') return 0;
  const auto at = [&](size_t i) { return ignore_case ? AsciiLower(t.Cp(i)) : t.Cp(i); };
  const uint32_t c1 = at(pos + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  const uint32_t c2 = at(pos + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// Collects words; Emit(end) closes the current word at byte offset `end`.
class Words {
 public:
  explicit Words(std::vector<WordSpan>* out) : out_(out) {}
  void Emit(size_t end) {
    if (end > prev_) out_->push_back({prev_, end});
    prev_ = end;
  }

 private:
  std::vector<WordSpan>* out_;
  size_t prev_ = 0;
};

// A run of whitespace starting at pos.
struct WhitespaceRun {
  size_t end = 0;               // just past the run
  size_t last_start = 0;        // start of the run's last code point
  size_t last_newline_end = 0;  // just past the run's last \r or \n; 0 if none
  size_t count = 0;             // code points in the run
};

WhitespaceRun ScanWhitespace(const Text& t, size_t pos) {
  WhitespaceRun run;
  while (t.Flags(pos) & kSpace) {
    const uint32_t c = t.Cp(pos);
    run.last_start = pos;
    pos = t.Next(pos);
    if (c == '\r' || c == '\n') run.last_newline_end = pos;
    ++run.count;
  }
  run.end = pos;
  return run;
}

// \s+(?!\S)|\s+ : before a non-space, a run's last code point is left to prefix the next word.
size_t WhitespaceWordEnd(const Text& t, const WhitespaceRun& run) {
  return run.count > 1 && run.end < t.size() ? run.last_start : run.end;
}

void SplitGpt2(const Text& t, std::vector<WordSpan>* words) {
  Words out(words);
  for (size_t pos = 0; pos < t.size();) {
    const uint32_t c = t.Cp(pos);
    if (size_t len = MatchContraction(t, pos, /*ignore_case=*/false)) {
      pos += len;
      out.Emit(pos);
      continue;
    }
    // " ?X+" for X in \p{L}, \p{N}, [^\s\p{L}\p{N}]: an optional space then a run of one class.
    const size_t after_space = c == ' ' ? pos + 1 : pos;
    const uint8_t f2 = t.Flags(after_space);
    const uint8_t cls = (f2 & kLetter) ? kLetter : (f2 & kNumber) ? kNumber : 0;
    if (cls != 0 || IsOther(f2)) {
      pos = after_space;
      if (cls != 0) {
        while (t.Flags(pos) & cls) pos = t.Next(pos);
      } else {
        while (IsOther(t.Flags(pos))) pos = t.Next(pos);
      }
      out.Emit(pos);
      continue;
    }
    // Every code point is a letter, number, space or other, so the run is never empty here.
    const WhitespaceRun run = ScanWhitespace(t, pos);
    pos = run.count > 0 ? WhitespaceWordEnd(t, run) : t.Next(pos);
    out.Emit(pos);
  }
}

void SplitLlama3(const Text& t, size_t max_digits, std::vector<WordSpan>* words) {
  Words out(words);
  for (size_t pos = 0; pos < t.size();) {
    const uint32_t c = t.Cp(pos);
    const uint8_t f = t.Flags(pos);
    if (size_t len = MatchContraction(t, pos, /*ignore_case=*/true)) {
      pos += len;
      out.Emit(pos);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!(c == '\r' || c == '\n' || (f & kNumber)) &&
        ((f & kLetter) || (t.Flags(t.Next(pos)) & kLetter))) {
      pos = t.Next(pos);
      while (t.Flags(pos) & kLetter) pos = t.Next(pos);
      out.Emit(pos);
      continue;
    }
    // \p{N}{1,max_digits}
    if (f & kNumber) {
      size_t run = 0;
      while (t.Flags(pos) & kNumber) {
        pos = t.Next(pos);
        if (++run == max_digits) {
          out.Emit(pos);
          run = 0;
        }
      }
      out.Emit(pos);
      continue;
    }
    // " ?[^\s\p{L}\p{N}]+[\r\n]*" (a lone space at the very end also lands here, as one word)
    const size_t after_space = c == ' ' ? pos + 1 : pos;
    const uint8_t f2 = t.Flags(after_space);
    if (!(f2 & (kLetter | kNumber | kSpace))) {
      pos = after_space;
      while (IsOther(t.Flags(pos))) pos = t.Next(pos);
      while (t.Cp(pos) == '\r' || t.Cp(pos) == '\n') ++pos;
      out.Emit(pos);
      continue;
    }
    const WhitespaceRun run = ScanWhitespace(t, pos);
    if (run.last_newline_end > 0) {
      pos = run.last_newline_end;  // \s*[\r\n]+ ends after the run's last line break
    } else {
      pos = run.count > 0 ? WhitespaceWordEnd(t, run) : t.Next(pos);
    }
    out.Emit(pos);
  }
}

}  // namespace

void PreTokenize(PreTokenizer kind, std::string_view text, std::vector<WordSpan>* words) {
  const Text t(text);
  switch (kind) {
    case PreTokenizer::kGpt2:
      SplitGpt2(t, words);
      break;
    case PreTokenizer::kLlama3:
      SplitLlama3(t, 3, words);
      break;
    case PreTokenizer::kQwen2:
      SplitLlama3(t, 1, words);
      break;
  }
}

}  // namespace suanli
