#include "engine/tokenizer/pretokenizer.h"

#include "engine/tokenizer/unicode.h"

namespace suanli {
namespace {

enum : uint8_t {
  kLetter = 1,
  kNumber = 2,
  kSpace = 4,   // \s
  kValid = 8,   // inside the text (the regex sees nothing past the end)
  kMark = 16,   // \p{M}
  kUpper = 32,  // A-Z
  kLower = 64,  // a-z
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
                     : cat == UnicodeCategory::kMark   ? kMark
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
                 (IsNumber(c) ? kNumber : 0) | (c >= 'A' && c <= 'Z' ? kUpper : 0) |
                 (c >= 'a' && c <= 'z' ? kLower : 0);
      }
      return t;
    }();
    return table.f;
  }
  std::string_view s_;
};

// [^\s\p{L}\p{N}] inside the text, or with marks_join [^\s\p{L}\p{M}\p{N}].
inline bool IsOther(uint8_t f, bool marks_join = false) {
  const uint8_t word =
      marks_join ? (kLetter | kNumber | kSpace | kMark) : (kLetter | kNumber | kSpace);
  return (f & kValid) && !(f & word);
}

inline bool IsLineBreak(uint32_t c) { return c == '\r' || c == '\n'; }

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
  explicit Words(std::vector<WordSpan>* out, size_t begin = 0) : out_(out), prev_(begin) {}
  void Emit(size_t end) {
    if (end > prev_) out_->push_back({prev_, end});
    prev_ = end;
  }

 private:
  std::vector<WordSpan>* out_;
  size_t prev_;
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

// Splits t from byte offset `begin` to its end.
// \s*[\r\n]+|\s+(?!\S)|\s+ at pos: the end of the word. Called once the other alternatives failed,
// so pos is whitespace (the Next(pos) fallback only guards against a broken invariant).
size_t LineBreakOrWhitespaceEnd(const Text& t, size_t pos) {
  const WhitespaceRun run = ScanWhitespace(t, pos);
  if (run.last_newline_end > 0) return run.last_newline_end;  // ends after the last line break
  return run.count > 0 ? WhitespaceWordEnd(t, run) : t.Next(pos);
}

void SplitGpt2(const Text& t, size_t begin, std::vector<WordSpan>* words) {
  Words out(words, begin);
  for (size_t pos = begin; pos < t.size();) {
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

// The Llama 3 family: max_digits per number word (3, or 1 for Qwen); marks_join: \p{M} counts as a
// letter in words and not as a symbol (Qwen 3.5).
void SplitLlama3(const Text& t, size_t max_digits, bool marks_join, std::vector<WordSpan>* words) {
  const uint8_t word_class = marks_join ? (kLetter | kMark) : kLetter;
  Words out(words);
  for (size_t pos = 0; pos < t.size();) {
    const uint32_t c = t.Cp(pos);
    const uint8_t f = t.Flags(pos);
    if (size_t len = MatchContraction(t, pos, /*ignore_case=*/true)) {
      pos += len;
      out.Emit(pos);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+ (or [\p{L}\p{M}]+)
    if (!(IsLineBreak(c) || (f & kNumber)) &&
        ((f & word_class) || (t.Flags(t.Next(pos)) & word_class))) {
      pos = t.Next(pos);
      while (t.Flags(pos) & word_class) pos = t.Next(pos);
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
      while (IsOther(t.Flags(pos), marks_join)) pos = t.Next(pos);
      while (IsLineBreak(t.Cp(pos))) ++pos;
      out.Emit(pos);
      continue;
    }
    pos = LineBreakOrWhitespaceEnd(t, pos);
    out.Emit(pos);
  }
}

// Digits one per word; the text between them split by GPT-2's regex with the piece's end as the
// end of text (as applying the two regexes one after the other does).
void SplitStarcoder(std::string_view text, std::vector<WordSpan>* words) {
  const Text all(text);
  for (size_t pos = 0; pos < text.size();) {
    size_t end = pos;
    while (end < text.size() && !(all.Flags(end) & kNumber)) end = all.Next(end);
    if (end > pos) {
      // Code points never straddle `end` (it starts one), so the prefix decodes the same.
      SplitGpt2(Text(text.substr(0, end)), pos, words);
      pos = end;
    }
    if (pos < text.size()) {
      const size_t next = all.Next(pos);
      words->push_back({pos, next});
      pos = next;
    }
  }
}

// llama.cpp's "default" BPE splitting, four regexes one after the other, each on the words of the
// one before: runs of punctuation or $+<=>^~| apart; GPT-2's regex; \p{N}+ runs apart; and every
// three ASCII digits apart.
void SplitDefault(std::string_view text, std::vector<WordSpan>* words) {
  const Text all(text);
  const auto is_punct = [&](size_t p) {
    const uint32_t c = all.Cp(p);
    if (c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '~' ||
        c == '|') {
      return true;
    }
    return c != Text::kEnd && CategoryOf(c) == UnicodeCategory::kPunctuation;
  };
  const auto is_number = [&](size_t p) { return (all.Flags(p) & kNumber) != 0; };
  const auto is_digit = [&](size_t p) {
    return p < text.size() && text[p] >= '0' && text[p] <= '9';
  };
  // Splits [begin, end) into the maximal runs where `in(pos)` holds and the text between them.
  const auto runs = [&](size_t begin, size_t end, const auto& in, std::vector<WordSpan>* out) {
    for (size_t pos = begin; pos < end;) {
      const bool inside = in(pos);
      size_t next = pos;
      while (next < end && in(next) == inside) next = all.Next(next);
      out->push_back({pos, next});
      pos = next;
    }
  };
  std::vector<WordSpan> punct, gpt2, numbers;
  runs(0, text.size(), is_punct, &punct);
  for (const WordSpan& p : punct) SplitGpt2(Text(text.substr(0, p.end)), p.begin, &gpt2);
  for (const WordSpan& w : gpt2) runs(w.begin, w.end, is_number, &numbers);
  for (const WordSpan& n : numbers) {
    size_t gap = n.begin;
    for (size_t pos = n.begin; pos < n.end;) {
      if (pos + 3 <= n.end && is_digit(pos) && is_digit(pos + 1) && is_digit(pos + 2)) {
        if (pos > gap) words->push_back({gap, pos});
        words->push_back({pos, pos + 3});
        pos += 3;
        gap = pos;
      } else {
        pos = all.Next(pos);
      }
    }
    if (n.end > gap) words->push_back({gap, n.end});
  }
}

// Mistral's Tekken regex as llama.cpp runs it (see the header): a letter is "upper" (U) unless it
// is a-z and "lower" (W) unless it is A-Z.
void SplitTekken(const Text& t, std::vector<WordSpan>* words) {
  const auto is_u = [&](size_t p) {
    const uint8_t f = t.Flags(p);
    return (f & kLetter) && !(f & kLower);
  };
  const auto is_w = [&](size_t p) {
    const uint8_t f = t.Flags(p);
    return (f & kLetter) && !(f & kUpper);
  };
  // End of U*W+ at s, or 0 if it does not match. Backtracking U* to its longest prefix that a W
  // follows: either the W after the whole U run (then W+ runs on), or the run's last letter that
  // is also a W (non-ASCII; W+ then takes that letter alone, since A-Z or the run's end follow).
  const auto upper_then_lower = [&](size_t s) -> size_t {
    size_t p = s, last_w = 0;
    bool any_w = false;
    while (is_u(p)) {
      if (is_w(p)) {
        last_w = p;
        any_w = true;
      }
      p = t.Next(p);
    }
    if (is_w(p)) {
      while (is_w(p)) p = t.Next(p);
      return p;
    }
    return any_w ? t.Next(last_w) : 0;
  };
  Words out(words);
  for (size_t pos = 0; pos < t.size();) {
    const uint32_t c = t.Cp(pos);
    const uint8_t f = t.Flags(pos);
    // [^\r\n\p{L}\p{N}]?U*W+ | [^\r\n\p{L}\p{N}]?U+W*: a prefix is taken when it can be, and
    // without one the letters must start at pos.
    const bool prefix = (f & kValid) && !IsLineBreak(c) && !(f & (kLetter | kNumber));
    if (prefix || (f & kLetter)) {
      const size_t s = prefix ? t.Next(pos) : pos;
      size_t end = upper_then_lower(s);
      if (end == 0 && is_u(s)) {
        end = s;
        while (is_u(end)) end = t.Next(end);
        while (is_w(end)) end = t.Next(end);
      }
      if (end != 0) {
        pos = end;
        out.Emit(pos);
        continue;
      }
    }
    // \p{N}
    if (f & kNumber) {
      pos = t.Next(pos);
      out.Emit(pos);
      continue;
    }
    // " ?[^\s\p{L}\p{N}]+[\r\n/]*"
    const size_t after_space = c == ' ' ? pos + 1 : pos;
    if (IsOther(t.Flags(after_space))) {
      pos = after_space;
      while (IsOther(t.Flags(pos))) pos = t.Next(pos);
      while (IsLineBreak(t.Cp(pos)) || t.Cp(pos) == '/') ++pos;
      out.Emit(pos);
      continue;
    }
    pos = LineBreakOrWhitespaceEnd(t, pos);
    out.Emit(pos);
  }
}

// tokenizer.ggml.pre values, grouped by what llama.cpp does with them; the names are those the
// conversion script writes for each model family's tokenizer.
constexpr PreTokenizerInfo kPreTokenizers[] = {
    // Llama 3 and its derivatives (DeepSeek-R1 Llama distills), Falcon 3, Pixtral.
    {"llama-bpe", PreTokenizer::kLlama3, /*ignore_merges=*/true, /*add_bos=*/true},
    {"llama3", PreTokenizer::kLlama3, true, true},
    {"llama-v3", PreTokenizer::kLlama3, true, true},
    {"falcon3", PreTokenizer::kLlama3, true, true},
    {"pixtral", PreTokenizer::kLlama3, true, true},
    // Llama 3's regex with plain merges: Smaug, SmolLM3, DBRX.
    {"smaug-bpe", PreTokenizer::kLlama3, false, false},
    {"dbrx", PreTokenizer::kLlama3, false, false},
    // Qwen 1.5 to 3 and the DeepSeek-R1 Qwen distills.
    {"qwen2", PreTokenizer::kQwen2, false, false},
    {"deepseek-r1-qwen", PreTokenizer::kQwen2, false, false},
    {"qwen35", PreTokenizer::kQwen35, false, false},
    // StarCoder-style BPE (digits alone): StarCoder 2, Refact and Granite 3, SmolLM 1/2, Command-R.
    {"starcoder", PreTokenizer::kStarcoder, false, false},
    {"refact", PreTokenizer::kStarcoder, false, false},
    {"smollm", PreTokenizer::kStarcoder, false, false},
    {"command-r", PreTokenizer::kStarcoder, false, false},
    // Mistral Nemo, Mistral Small 3.
    {"tekken", PreTokenizer::kTekken, true, true},
    {"gpt-2", PreTokenizer::kGpt2, false, false},
    {"gpt2", PreTokenizer::kGpt2, false, false},
    // Files that name no pre-tokenizer (or "default"): llama.cpp's fallback.
    {"default", PreTokenizer::kDefault, false, false},
};

}  // namespace

const PreTokenizerInfo* FindPreTokenizer(std::string_view name) {
  for (const PreTokenizerInfo& p : kPreTokenizers) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string SupportedPreTokenizers() {
  std::string out;
  for (const PreTokenizerInfo& p : kPreTokenizers) {
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

void PreTokenize(PreTokenizer kind, std::string_view text, std::vector<WordSpan>* words) {
  const Text t(text);
  switch (kind) {
    case PreTokenizer::kGpt2:
      SplitGpt2(t, 0, words);
      break;
    case PreTokenizer::kLlama3:
      SplitLlama3(t, 3, /*marks_join=*/false, words);
      break;
    case PreTokenizer::kQwen2:
      SplitLlama3(t, 1, /*marks_join=*/false, words);
      break;
    case PreTokenizer::kQwen35:
      SplitLlama3(t, 1, /*marks_join=*/true, words);
      break;
    case PreTokenizer::kStarcoder:
      SplitStarcoder(text, words);
      break;
    case PreTokenizer::kTekken:
      SplitTekken(t, words);
      break;
    case PreTokenizer::kDefault:
      SplitDefault(text, words);
      break;
  }
}

}  // namespace suanli
