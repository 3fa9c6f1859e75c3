// Lexer (see lexer.h). Mirrors the regular expressions of jinja2's lexer by hand.
#include "server/template/lexer.h"

#include <cstdio>
#include <cstring>

#include "server/template/error.h"
#include "server/template/unicode.h"

namespace suanli::jinja {
namespace {

// Operators longest first, as jinja2 sorts them.
constexpr const char* kOperators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                      "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                      "|",  ".",  ",",  ":",  ";",  "=",  "<", ">"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

std::string Normalize(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else {
      out.push_back(in[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(Normalize(source)) {}

  std::vector<Token> Run() {
    const size_t n = src_.size();
    while (pos_ < n) {
      size_t q = FindTagStart(pos_);
      if (q == std::string::npos) {
        Emit(Tok::kData, pos_, src_.substr(pos_));
        break;
      }
      char kind = src_[q + 1];  // '{', '%' or '#'
      char sign = 0;
      if (q + 2 < n && (src_[q + 2] == '-' || src_[q + 2] == '+')) sign = src_[q + 2];
      size_t after_open = q + 2 + (sign ? 1 : 0);
      size_t raw_end = kind == '%' ? MatchRawBegin(after_open) : std::string::npos;
      EmitText(pos_, q, sign, kind != '{');
      line_starting_ = false;
      if (raw_end != std::string::npos) {
        LexRaw(raw_end);
      } else if (kind == '#') {
        LexComment(after_open, q);
      } else {
        Emit(kind == '{' ? Tok::kVarBegin : Tok::kBlockBegin, q, "");
        pos_ = after_open;
        LexTag(kind == '{');
      }
    }
    tokens_.push_back(Token{Tok::kEof, Line(src_.size()), ""});
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t from) const {
    size_t p = from;
    while (true) {
      p = src_.find('{', p);
      if (p == std::string::npos || p + 1 >= src_.size()) return std::string::npos;
      char c = src_[p + 1];
      if (c == '{' || c == '%' || c == '#') return p;
      ++p;
    }
  }

  int Line(size_t p) {
    if (p < line_pos_) {
      line_pos_ = 0;
      line_ = 1;
    }
    for (; line_pos_ < p && line_pos_ < src_.size(); ++line_pos_) {
      if (src_[line_pos_] == '\n') ++line_;
    }
    return line_;
  }

  [[noreturn]] void SyntaxError(size_t p, const std::string& msg) {
    Fail(ErrorKind::kSyntax, msg, Line(p));
  }

  void Emit(Tok t, size_t p, std::string value) {
    tokens_.push_back(Token{t, Line(p), std::move(value)});
  }

  size_t SkipSpace(size_t p) const {
    while (p < src_.size()) {
      size_t q = p;
      char32_t c = DecodeUtf8(src_, &q);
      if (!IsPySpace(c)) break;
      p = q;
    }
    return p;
  }

  // The text before a tag, with `-` stripping or lstrip_blocks applied (OptionalLStrip).
  void EmitText(size_t begin, size_t end, char sign, bool lstrip_applies) {
    std::string_view text(src_.data() + begin, end - begin);
    if (sign == '-') {
      size_t k = text.size();
      while (k > 0) {
        // Walk back one code point and test it.
        size_t s = k - 1;
        while (s > 0 && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
        size_t t = s;
        if (!IsPySpace(DecodeUtf8(text, &t))) break;
        k = s;
      }
      text = text.substr(0, k);
    } else if (sign != '+' && lstrip_applies) {
      size_t nl = text.rfind('\n');
      size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting_) {
        // jinja2 3.1.6: whitespace_re.fullmatch(text, l_pos), i.e. any Unicode whitespace.
        bool only_blank = true;
        size_t i = l_pos;
        while (i < text.size()) {
          if (!IsPySpace(DecodeUtf8(text, &i))) {
            only_blank = false;
            break;
          }
        }
        if (only_blank) text = text.substr(0, l_pos);
      }
    }
    if (!text.empty()) Emit(Tok::kData, begin, std::string(text));
  }

  bool StartsWith(size_t p, const char* s) const {
    size_t len = std::strlen(s);
    return p + len <= src_.size() && src_.compare(p, len, s) == 0;
  }

  // `\s*raw\s*(-%}\s*|%})` after "{%" and its sign; returns the end or npos.
  size_t MatchRawBegin(size_t p) const {
    p = SkipSpace(p);
    if (!StartsWith(p, "raw")) return std::string::npos;
    p = SkipSpace(p + 3);
    if (StartsWith(p, "-%}")) return SkipSpace(p + 3);
    if (StartsWith(p, "%}")) return p + 2;
    return std::string::npos;
  }

  void LexRaw(size_t body) {
    line_starting_ = body > 0 && src_[body - 1] == '\n';
    size_t r = body;
    while (true) {
      r = src_.find("{%", r);
      if (r == std::string::npos) SyntaxError(body, "Missing end of raw directive");
      size_t p = r + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      p = SkipSpace(p);
      if (StartsWith(p, "endraw")) {
        p = SkipSpace(p + 6);
        size_t end = std::string::npos;
        if (StartsWith(p, "+%}")) {
          end = p + 3;
        } else if (StartsWith(p, "-%}")) {
          end = SkipSpace(p + 3);
        } else if (StartsWith(p, "%}")) {
          end = p + 2;
          if (end < src_.size() && src_[end] == '\n') ++end;
        }
        if (end != std::string::npos) {
          EmitText(body, r, sign, true);
          pos_ = end;
          line_starting_ = src_[end - 1] == '\n';
          return;
        }
      }
      r += 2;
    }
  }

  void LexComment(size_t body, size_t open) {
    size_t e = src_.find("#}", body);
    if (e == std::string::npos) SyntaxError(open, "Missing end of comment tag");
    char sign = (e > body && (src_[e - 1] == '-' || src_[e - 1] == '+')) ? src_[e - 1] : 0;
    size_t p = e + 2;
    if (sign == '-') {
      p = SkipSpace(p);
    } else if (sign == 0 && p < src_.size() && src_[p] == '\n') {
      ++p;  // trim_blocks
    }
    pos_ = p;
    line_starting_ = src_[p - 1] == '\n';
  }

  // One `{{ ... }}` or `{% ... %}` body up to and including its end tag.
  void LexTag(bool variable) {
    std::vector<char> balance;
    const size_t n = src_.size();
    while (true) {
      if (pos_ >= n) return;  // the parser reports the unexpected end of template
      if (balance.empty() && MatchTagEnd(variable)) return;
      char c = src_[pos_];
      size_t q = pos_;
      if (IsPySpace(DecodeUtf8(src_, &q))) {
        pos_ = SkipSpace(pos_);
        continue;
      }
      if (LexNumber()) continue;
      if (IsNameStart(c)) {
        size_t e = pos_ + 1;
        while (e < n && IsNameChar(src_[e])) ++e;
        Emit(Tok::kName, pos_, src_.substr(pos_, e - pos_));
        pos_ = e;
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t e = pos_ + 1;
        bool closed = false;
        while (e < n) {
          if (src_[e] == '\\') {
            e += 2;
            continue;
          }
          if (src_[e] == c) {
            closed = true;
            break;
          }
          ++e;
        }
        if (closed) {
          Emit(Tok::kString, pos_, DecodeString(pos_ + 1, e));
          pos_ = e + 1;
          continue;
        }
      }
      const char* op = nullptr;
      for (const char* candidate : kOperators) {
        if (StartsWith(pos_, candidate)) {
          op = candidate;
          break;
        }
      }
      if (op == nullptr) {
        std::string ch;
        size_t t = pos_;
        DecodeUtf8(src_, &t);
        std::string repr;
        AppendStrReprChar(&repr, src_.substr(pos_, t - pos_));
        SyntaxError(pos_, "unexpected char " + repr + " at " + std::to_string(pos_));
      }
      char o = op[0];
      if (op[1] == 0 && (o == '(' || o == '[' || o == '{')) {
        balance.push_back(o == '(' ? ')' : o == '[' ? ']' : '}');
      } else if (op[1] == 0 && (o == ')' || o == ']' || o == '}')) {
        if (balance.empty()) SyntaxError(pos_, std::string("unexpected '") + o + "'");
        if (balance.back() != o) {
          SyntaxError(pos_,
                      std::string("unexpected '") + o + "', expected '" + balance.back() + "'");
        }
        balance.pop_back();
      }
      Emit(Tok::kOp, pos_, op);
      pos_ += std::strlen(op);
    }
  }

  static void AppendStrReprChar(std::string* out, std::string_view ch) {
    char q = ch == "'" ? '"' : '\'';
    out->push_back(q);
    if (ch == "\\") {
      out->append("\\\\");
    } else {
      out->append(ch);
    }
    out->push_back(q);
  }

  bool MatchTagEnd(bool variable) {
    size_t p = pos_;
    size_t end = std::string::npos;
    if (variable) {
      if (StartsWith(p, "-}}")) {
        end = SkipSpace(p + 3);
      } else if (StartsWith(p, "}}")) {
        end = p + 2;
      }
    } else {
      if (StartsWith(p, "+%}")) {
        end = p + 3;
      } else if (StartsWith(p, "-%}")) {
        end = SkipSpace(p + 3);
      } else if (StartsWith(p, "%}")) {
        end = p + 2;
        if (end < src_.size() && src_[end] == '\n') ++end;  // trim_blocks
      }
    }
    if (end == std::string::npos) return false;
    Emit(variable ? Tok::kVarEnd : Tok::kBlockEnd, p, "");
    pos_ = end;
    line_starting_ = src_[end - 1] == '\n';
    return true;
  }

  // (\d+_)*\d+ at p: returns the end, or npos.
  size_t MatchDigits(size_t p) const {
    if (p >= src_.size() || !IsDigit(src_[p])) return std::string::npos;
    size_t e = p;
    while (true) {
      while (e < src_.size() && IsDigit(src_[e])) ++e;
      if (e + 1 < src_.size() && src_[e] == '_' && IsDigit(src_[e + 1])) {
        ++e;
        continue;
      }
      return e;
    }
  }

  static std::string StripUnderscores(std::string_view s) {
    std::string out;
    for (char c : s) {
      if (c != '_') out.push_back(c);
    }
    return out;
  }

  bool LexNumber() {
    size_t p = pos_;
    if (!IsDigit(src_[p])) return false;
    // Float first, as jinja2 tries its float rule before the integer rule.
    if (p == 0 || src_[p - 1] != '.') {
      size_t e = MatchDigits(p);
      size_t f = std::string::npos;
      size_t frac = (e < src_.size() && src_[e] == '.') ? MatchDigits(e + 1) : std::string::npos;
      size_t mant_end = frac != std::string::npos ? frac : e;
      if (mant_end < src_.size() && (src_[mant_end] == 'e' || src_[mant_end] == 'E')) {
        size_t x = mant_end + 1;
        if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
        size_t xe = MatchDigits(x);
        if (xe != std::string::npos) f = xe;
      }
      if (f == std::string::npos && frac != std::string::npos) f = frac;
      if (f != std::string::npos) {
        std::string text = StripUnderscores(src_.substr(p, f - p));
        Token t{Tok::kFloat, Line(p), text};
        t.fval = std::strtod(text.c_str(), nullptr);
        tokens_.push_back(std::move(t));
        pos_ = f;
        return true;
      }
    }
    // Integer: 0b, 0o, 0x prefixes (case-insensitive), [1-9](_?\d)*, 0(_?0)*.
    size_t e = std::string::npos;
    int base = 10;
    auto match_prefixed = [&](char letter, int b) -> bool {
      if (p + 1 >= src_.size() || src_[p] != '0' || (src_[p + 1] | 0x20) != letter) return false;
      size_t q = p + 2;
      size_t last = std::string::npos;
      while (q < src_.size()) {
        size_t r = q;
        if (src_[r] == '_') ++r;
        if (r >= src_.size()) break;
        char c = static_cast<char>(src_[r] | 0x20);
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : 99;
        if (d >= b) break;
        q = r + 1;
        last = q;
      }
      if (last == std::string::npos) return false;
      e = last;
      base = b;
      return true;
    };
    if (!match_prefixed('b', 2) && !match_prefixed('o', 8) && !match_prefixed('x', 16)) {
      e = p + 1;
      char lead = src_[p];
      while (e < src_.size()) {
        size_t r = e;
        if (src_[r] == '_') ++r;
        if (r >= src_.size()) break;
        if (lead == '0' ? src_[r] != '0' : !IsDigit(src_[r])) break;
        e = r + 1;
      }
    }
    std::string digits = StripUnderscores(src_.substr(p, e - p));
    if (base != 10) digits = digits.substr(2);
    uint64_t v = 0;
    for (char c : digits) {
      char l = static_cast<char>(c | 0x20);
      int d = (l >= 'a') ? l - 'a' + 10 : c - '0';
      if (v > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base) ||
          v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d) > INT64_MAX) {
        SyntaxError(p, "integer literal too large");
      }
      v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    }
    Token t{Tok::kInt, Line(p), src_.substr(p, e - p)};
    t.ival = static_cast<int64_t>(v);
    tokens_.push_back(std::move(t));
    pos_ = e;
    return true;
  }

  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(c | 0x20);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  // Python's "unicode-escape" decoding of a literal's body src_[b, e).
  std::string DecodeString(size_t b, size_t e) {
    std::string out;
    out.reserve(e - b);
    size_t i = b;
    while (i < e) {
      char c = src_[i];
      if (c != '\\') {
        out.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= e) {
        out.push_back('\\');
        ++i;
        continue;
      }
      char n = src_[i + 1];
      i += 2;
      switch (n) {
        case '\n':
          break;  // line continuation
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          int len = n == 'x' ? 2 : n == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int k = 0; k < len; ++k) {
            int d = i < e ? HexDigit(src_[i]) : -1;
            if (d < 0) {
              SyntaxError(b, std::string("truncated \\") + n + " escape in string literal");
            }
            cp = cp * 16 + static_cast<char32_t>(d);
            ++i;
          }
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            SyntaxError(b, "illegal Unicode character in string literal");
          }
          AppendUtf8(&out, cp);
          break;
        }
        case 'N':
          SyntaxError(b, "\\N{...} escapes are not supported");
        default:
          if (n >= '0' && n <= '7') {
            char32_t cp = static_cast<char32_t>(n - '0');
            for (int k = 0; k < 2 && i < e && src_[i] >= '0' && src_[i] <= '7'; ++k, ++i) {
              cp = cp * 8 + static_cast<char32_t>(src_[i] - '0');
            }
            AppendUtf8(&out, cp);
          } else {
            out.push_back('\\');  // unknown escapes stay as written
            out.push_back(n);
          }
      }
    }
    return out;
  }

  std::string src_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  size_t line_pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> Tokenize(std::string_view source) { return Lexer(source).Run(); }

}  // namespace suanli::jinja
