// Python methods of str, list and dict that templates call (message.content.strip(),
// tool.items(), text.split('\n', 1), ...), with CPython's semantics on code points. The list and
// dict methods that mutate are reported unsafe, as ImmutableSandboxedEnvironment treats them:
// looking them up gives an undefined whose call is a SecurityError.
#include <algorithm>
#include <cstring>

#include "server/template/interpreter.h"
#include "server/template/unicode.h"

namespace suanli::jinja {
namespace {

std::string Tn(const Value& v) { return std::string(PyTypeName(v)); }

const std::string& StrArg(const Value& v, std::string_view method) {
  if (!v.is_string()) {
    if (v.is_undefined()) FailUndefined(v);
    RuntimeError("TypeError: " + std::string(method) + " arg must be None or str, not " + Tn(v));
  }
  return v.str();
}

void NoKwargs(const CallArgs& a, std::string_view name) {
  if (!a.kwargs.empty()) {
    RuntimeError("TypeError: " + std::string(name) + "() takes no keyword arguments");
  }
}

void MaxArgs(const CallArgs& a, std::string_view name, size_t n) {
  if (a.args.size() > n) {
    RuntimeError("TypeError: " + std::string(name) + "() takes at most " + std::to_string(n) +
                 " arguments (" + std::to_string(a.args.size()) + " given)");
  }
}

bool IsCharIn(char32_t c, const std::vector<char32_t>& set) {
  return std::find(set.begin(), set.end(), c) != set.end();
}

// strip/lstrip/rstrip: which = 1 left, 2 right, 3 both.
Value Strip(Interpreter& in, const Value& self, CallArgs& a, int which, const char* name) {
  NoKwargs(a, name);
  MaxArgs(a, name, 1);
  const std::string& s = self.str();
  bool whitespace = a.args.empty() || a.args[0].is_none();
  std::vector<char32_t> chars;
  if (!whitespace) chars = ToCodePoints(StrArg(a.args[0], name));
  auto strip_it = [&](char32_t c) { return whitespace ? IsPySpace(c) : IsCharIn(c, chars); };
  size_t b = 0, e = s.size();
  if (which & 1) {
    while (b < e) {
      size_t q = b;
      if (!strip_it(DecodeUtf8(s, &q))) break;
      b = q;
    }
  }
  if (which & 2) {
    while (e > b) {
      size_t st = e - 1;
      while (st > b && (static_cast<unsigned char>(s[st]) & 0xC0) == 0x80) --st;
      size_t q = st;
      if (!strip_it(DecodeUtf8(s, &q))) break;
      e = st;
    }
  }
  in.Charge(e - b);
  if (b == 0 && e == s.size()) return self;
  return Value::Str(s.substr(b, e - b), self.markup());
}

Value MStrip(Interpreter& in, const Value& s, CallArgs& a) { return Strip(in, s, a, 3, "strip"); }
Value MLStrip(Interpreter& in, const Value& s, CallArgs& a) { return Strip(in, s, a, 1, "lstrip"); }
Value MRStrip(Interpreter& in, const Value& s, CallArgs& a) { return Strip(in, s, a, 2, "rstrip"); }

Value Split(Interpreter& in, const Value& self, CallArgs& a, bool from_right) {
  const char* name = from_right ? "rsplit" : "split";
  CheckArgs(a, name, 2, {"sep", "maxsplit"});
  const Value* sepv = GetArg(a, 0, "sep");
  const Value* maxv = GetArg(a, 1, "maxsplit");
  int64_t maxsplit = maxv ? ToInt(*maxv, "maxsplit") : -1;
  const std::string& s = self.str();
  std::vector<std::string> parts;
  in.Charge(s.size() * 2);
  if (sepv == nullptr || sepv->is_none()) {
    // Runs of whitespace; no empty strings.
    size_t i = 0;
    std::vector<std::pair<size_t, size_t>> spans;
    while (i < s.size()) {
      size_t q = i;
      char32_t c = DecodeUtf8(s, &q);
      if (IsPySpace(c)) {
        i = q;
        continue;
      }
      size_t b = i;
      while (i < s.size()) {
        size_t r = i;
        if (IsPySpace(DecodeUtf8(s, &r))) break;
        i = r;
      }
      spans.emplace_back(b, i);
    }
    if (maxsplit < 0 || static_cast<size_t>(maxsplit) >= spans.size()) {
      for (auto& sp : spans) parts.push_back(s.substr(sp.first, sp.second - sp.first));
    } else if (!from_right) {
      for (int64_t k = 0; k < maxsplit; ++k) {
        parts.push_back(s.substr(spans[k].first, spans[k].second - spans[k].first));
      }
      // The remainder keeps everything after the last split, trailing whitespace included.
      parts.push_back(s.substr(spans[static_cast<size_t>(maxsplit)].first));
    } else {
      size_t keep = spans.size() - static_cast<size_t>(maxsplit);
      parts.push_back(s.substr(0, spans[keep - 1].second));
      for (size_t k = keep; k < spans.size(); ++k) {
        parts.push_back(s.substr(spans[k].first, spans[k].second - spans[k].first));
      }
    }
  } else {
    const std::string& sep = StrArg(*sepv, name);
    if (sep.empty()) RuntimeError("ValueError: empty separator");
    if (!from_right) {
      size_t start = 0;
      int64_t n = 0;
      while (maxsplit < 0 || n < maxsplit) {
        size_t p = s.find(sep, start);
        if (p == std::string::npos) break;
        parts.push_back(s.substr(start, p - start));
        start = p + sep.size();
        ++n;
      }
      parts.push_back(s.substr(start));
    } else {
      size_t end = s.size();
      int64_t n = 0;
      std::vector<std::string> rev;
      while (maxsplit < 0 || n < maxsplit) {
        if (end < sep.size()) break;
        size_t p = s.rfind(sep, end - sep.size());
        if (p == std::string::npos) break;
        rev.push_back(s.substr(p + sep.size(), end - p - sep.size()));
        end = p;
        ++n;
      }
      rev.push_back(s.substr(0, end));
      parts.assign(rev.rbegin(), rev.rend());
    }
  }
  std::vector<Value> out;
  out.reserve(parts.size());
  for (auto& p : parts) out.push_back(Value::Str(std::move(p)));
  return Value::List(std::move(out));
}

Value MSplit(Interpreter& in, const Value& s, CallArgs& a) { return Split(in, s, a, false); }
Value MRSplit(Interpreter& in, const Value& s, CallArgs& a) { return Split(in, s, a, true); }

bool IsLineBreak(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

Value MSplitLines(Interpreter& in, const Value& self, CallArgs& a) {
  CheckArgs(a, "splitlines", 1, {"keepends"});
  const Value* k = GetArg(a, 0, "keepends");
  bool keep = k && Truthy(*k);
  const std::string& s = self.str();
  in.Charge(s.size() * 2);
  std::vector<Value> out;
  size_t i = 0, line_start = 0;
  while (i < s.size()) {
    size_t q = i;
    char32_t c = DecodeUtf8(s, &q);
    if (IsLineBreak(c)) {
      size_t end = q;
      if (c == '\r' && end < s.size() && s[end] == '\n') ++end;
      out.push_back(Value::Str(s.substr(line_start, (keep ? end : i) - line_start)));
      line_start = i = end;
    } else {
      i = q;
    }
  }
  if (line_start < s.size()) out.push_back(Value::Str(s.substr(line_start)));
  return Value::List(std::move(out));
}

// Byte offset of code point index `cp` (clamped), for the start/end arguments of find & co.
size_t ByteOffset(const std::string& s, bool ascii, int64_t cp_len, const Value* v, int64_t dflt) {
  int64_t x = dflt;
  if (v != nullptr && !v->is_none()) {
    x = ToInt(*v, "slice indices");
    if (x < 0) x = std::max<int64_t>(0, x + cp_len);
    x = std::min(x, cp_len);
  }
  if (ascii) return static_cast<size_t>(x);
  size_t pos = 0;
  for (int64_t k = 0; k < x && pos < s.size(); ++k) DecodeUtf8(s, &pos);
  return pos;
}

int64_t CpIndex(const std::string& s, bool ascii, size_t byte_pos) {
  if (ascii) return static_cast<int64_t>(byte_pos);
  return static_cast<int64_t>(CodePointCount(std::string_view(s).substr(0, byte_pos)));
}

Value StartsEnds(Interpreter& in, const Value& self, CallArgs& a, bool ends) {
  const char* name = ends ? "endswith" : "startswith";
  NoKwargs(a, name);
  if (a.args.empty() || a.args.size() > 3) {
    RuntimeError(std::string("TypeError: ") + name + "() takes at least 1 argument");
  }
  const std::string& s = self.str();
  bool ascii = self.strdata().ascii();
  int64_t n = ascii ? static_cast<int64_t>(s.size()) : static_cast<int64_t>(CodePointCount(s));
  size_t b = ByteOffset(s, ascii, n, a.args.size() > 1 ? &a.args[1] : nullptr, 0);
  size_t e = ByteOffset(s, ascii, n, a.args.size() > 2 ? &a.args[2] : nullptr, n);
  std::string_view view = b <= e ? std::string_view(s).substr(b, e - b) : std::string_view();
  bool empty_range = b > e;
  auto test = [&](const Value& p) {
    if (!p.is_string()) {
      RuntimeError(std::string("TypeError: ") + name +
                   " first arg must be str or a tuple of str, not " + Tn(p));
    }
    if (empty_range) return false;
    const std::string& x = p.str();
    if (x.size() > view.size()) return false;
    return ends ? view.substr(view.size() - x.size()) == x : view.substr(0, x.size()) == x;
  };
  in.Step();
  const Value& p = a.args[0];
  if (p.is_list() && p.list_kind() == ListKind::kTuple) {
    for (const Value& x : p.items()) {
      if (test(x)) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  return Value::Bool(test(p));
}

Value MStartsWith(Interpreter& in, const Value& s, CallArgs& a) {
  return StartsEnds(in, s, a, false);
}
Value MEndsWith(Interpreter& in, const Value& s, CallArgs& a) { return StartsEnds(in, s, a, true); }

Value MReplace(Interpreter& in, const Value& self, CallArgs& a) {
  NoKwargs(a, "replace");
  if (a.args.size() < 2 || a.args.size() > 3) {
    RuntimeError("TypeError: replace expected at least 2 arguments, got " +
                 std::to_string(a.args.size()));
  }
  const std::string& s = self.str();
  const std::string& old = StrArg(a.args[0], "replace");
  const std::string& neu = StrArg(a.args[1], "replace");
  int64_t count = a.args.size() > 2 ? ToInt(a.args[2], "count") : -1;
  std::string out;
  if (old.empty()) {
    // Inserts `neu` before every code point and at the end, at most `count` times.
    int64_t n = 0;
    auto insert = [&] {
      if (count >= 0 && n >= count) return;
      out += neu;
      ++n;
      in.CheckSize(out.size());
      in.Charge(neu.size() + 1);
    };
    size_t i = 0;
    insert();
    while (i < s.size()) {
      size_t st = i;
      DecodeUtf8(s, &i);
      out.append(s, st, i - st);
      insert();
    }
    return Value::Str(std::move(out));
  }
  size_t start = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    size_t p = s.find(old, start);
    if (p == std::string::npos) break;
    out.append(s, start, p - start);
    out += neu;
    start = p + old.size();
    ++n;
    in.CheckSize(out.size());
    in.Charge(neu.size());
  }
  if (n == 0) return self;
  out.append(s, start, std::string::npos);
  in.Charge(out.size());
  return Value::Str(std::move(out));
}

Value MLower(Interpreter& in, const Value& self, CallArgs& a) {
  NoKwargs(a, "lower");
  MaxArgs(a, "lower", 0);
  in.Charge(self.str().size());
  return Value::Str(PyLower(self.str()));
}

Value MUpper(Interpreter& in, const Value& self, CallArgs& a) {
  NoKwargs(a, "upper");
  MaxArgs(a, "upper", 0);
  in.Charge(self.str().size());
  return Value::Str(PyUpper(self.str()));
}

Value MTitle(Interpreter& in, const Value& self, CallArgs& a) {
  MaxArgs(a, "title", 0);
  const std::string& s = self.str();
  in.Charge(s.size());
  std::string out;
  bool prev_cased = false;
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = DecodeUtf8(s, &i);
    AppendCaseMapped(&out, c, prev_cased ? CaseKind::kLower : CaseKind::kTitle);
    prev_cased = IsPyCased(c);
  }
  return Value::Str(std::move(out));
}

Value MCapitalize(Interpreter& in, const Value& self, CallArgs& a) {
  MaxArgs(a, "capitalize", 0);
  const std::string& s = self.str();
  in.Charge(s.size());
  std::string out;
  size_t i = 0;
  bool first = true;
  while (i < s.size()) {
    char32_t c = DecodeUtf8(s, &i);
    AppendCaseMapped(&out, c, first ? CaseKind::kTitle : CaseKind::kLower);
    first = false;
  }
  return Value::Str(std::move(out));
}

Value MSwapCase(Interpreter& in, const Value& self, CallArgs& a) {
  MaxArgs(a, "swapcase", 0);
  const std::string& s = self.str();
  in.Charge(s.size());
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = DecodeUtf8(s, &i);
    if (IsPyUpper(c)) {
      AppendCaseMapped(&out, c, CaseKind::kLower);
    } else if (IsPyLower(c)) {
      AppendCaseMapped(&out, c, CaseKind::kUpper);
    } else {
      AppendUtf8(&out, c);
    }
  }
  return Value::Str(std::move(out));
}

Value FindImpl(Interpreter& in, const Value& self, CallArgs& a, bool reverse, bool raise,
               const char* name) {
  NoKwargs(a, name);
  if (a.args.empty() || a.args.size() > 3) {
    RuntimeError(std::string("TypeError: ") + name + "() takes at least 1 argument");
  }
  const std::string& s = self.str();
  const std::string& sub = StrArg(a.args[0], name);
  bool ascii = self.strdata().ascii();
  int64_t n = ascii ? static_cast<int64_t>(s.size()) : static_cast<int64_t>(CodePointCount(s));
  size_t b = ByteOffset(s, ascii, n, a.args.size() > 1 ? &a.args[1] : nullptr, 0);
  size_t e = ByteOffset(s, ascii, n, a.args.size() > 2 ? &a.args[2] : nullptr, n);
  in.Charge(s.size() / 4);
  size_t p = std::string::npos;
  if (b <= e && sub.size() <= e - b) {
    std::string_view view = std::string_view(s).substr(b, e - b);
    p = reverse ? view.rfind(sub) : view.find(sub);
    if (p != std::string::npos) p += b;
  }
  if (p == std::string::npos) {
    if (raise) RuntimeError("ValueError: substring not found");
    return Value::Int(-1);
  }
  return Value::Int(CpIndex(s, ascii, p));
}

Value MFind(Interpreter& in, const Value& s, CallArgs& a) {
  return FindImpl(in, s, a, false, false, "find");
}
Value MRFind(Interpreter& in, const Value& s, CallArgs& a) {
  return FindImpl(in, s, a, true, false, "rfind");
}
Value MIndex(Interpreter& in, const Value& s, CallArgs& a) {
  return FindImpl(in, s, a, false, true, "index");
}
Value MRIndex(Interpreter& in, const Value& s, CallArgs& a) {
  return FindImpl(in, s, a, true, true, "rindex");
}

Value MCount(Interpreter& in, const Value& self, CallArgs& a) {
  NoKwargs(a, "count");
  if (a.args.empty() || a.args.size() > 3)
    RuntimeError("TypeError: count() takes at least 1 argument");
  const std::string& s = self.str();
  const std::string& sub = StrArg(a.args[0], "count");
  bool ascii = self.strdata().ascii();
  int64_t n = ascii ? static_cast<int64_t>(s.size()) : static_cast<int64_t>(CodePointCount(s));
  size_t b = ByteOffset(s, ascii, n, a.args.size() > 1 ? &a.args[1] : nullptr, 0);
  size_t e = ByteOffset(s, ascii, n, a.args.size() > 2 ? &a.args[2] : nullptr, n);
  in.Charge(s.size() / 4);
  if (b > e) return Value::Int(0);
  std::string_view view = std::string_view(s).substr(b, e - b);
  if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(view)) + 1);
  int64_t c = 0;
  size_t p = 0;
  while ((p = view.find(sub, p)) != std::string_view::npos) {
    ++c;
    p += sub.size();
  }
  return Value::Int(c);
}

Value MJoin(Interpreter& in, const Value& self, CallArgs& a) {
  NoKwargs(a, "join");
  if (a.args.size() != 1) RuntimeError("TypeError: str.join() takes exactly one argument");
  std::vector<Value> items = in.Iterate(a.args[0]);
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      RuntimeError("TypeError: sequence item " + std::to_string(i) + ": expected str instance, " +
                   Tn(items[i]) + " found");
    }
    if (i) out += self.str();
    out += items[i].str();
    in.CheckSize(out.size());
    in.Charge(items[i].str().size() + self.str().size());
  }
  return Value::Str(std::move(out));
}

Value MFormat(Interpreter& in, const Value& self, CallArgs& a) {
  return Value::Str(StrFormat(in, self.str(), a));
}

Value MFormatMap(Interpreter& in, const Value& self, CallArgs& a) {
  NoKwargs(a, "format_map");
  if (a.args.size() != 1 || !a.args[0].is_dict()) {
    RuntimeError("TypeError: format_map() takes exactly one mapping argument");
  }
  CallArgs named;
  for (const auto& kv : a.args[0].dict().items) {
    if (kv.first.is_string()) named.kwargs.emplace_back(kv.first.str(), kv.second);
  }
  return Value::Str(StrFormat(in, self.str(), named));
}

Value MIsAscii(Interpreter&, const Value& self, CallArgs& a) {
  MaxArgs(a, "isascii", 0);
  return Value::Bool(self.strdata().ascii());
}

template <bool (*Pred)(char32_t)>
Value AllChars(Interpreter&, const Value& self, CallArgs& a) {
  MaxArgs(a, "is", 0);
  const std::string& s = self.str();
  if (s.empty()) return Value::Bool(false);
  size_t i = 0;
  while (i < s.size()) {
    if (!Pred(DecodeUtf8(s, &i))) return Value::Bool(false);
  }
  return Value::Bool(true);
}

bool IsAlnumCp(char32_t c) {
  return IsPyAlpha(c) || IsPyDecimal(c) || IsPyDigit(c) || IsPyNumeric(c);
}

Value MIsLower(Interpreter&, const Value& self, CallArgs& a) {
  MaxArgs(a, "islower", 0);
  const std::string& s = self.str();
  bool cased = false;
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = DecodeUtf8(s, &i);
    if (IsPyUpper(c) || (IsPyCased(c) && !IsPyLower(c))) return Value::Bool(false);
    if (IsPyLower(c)) cased = true;
  }
  return Value::Bool(cased);
}

Value MIsUpper(Interpreter&, const Value& self, CallArgs& a) {
  MaxArgs(a, "isupper", 0);
  const std::string& s = self.str();
  bool cased = false;
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = DecodeUtf8(s, &i);
    if (IsPyLower(c) || (IsPyCased(c) && !IsPyUpper(c))) return Value::Bool(false);
    if (IsPyUpper(c)) cased = true;
  }
  return Value::Bool(cased);
}

Value MIsTitle(Interpreter&, const Value& self, CallArgs& a) {
  MaxArgs(a, "istitle", 0);
  const std::string& s = self.str();
  bool cased = false, prev_cased = false;
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = DecodeUtf8(s, &i);
    bool upper_or_title = IsPyCased(c) && !IsPyLower(c);
    if (upper_or_title) {
      if (prev_cased) return Value::Bool(false);
      prev_cased = cased = true;
    } else if (IsPyLower(c)) {
      if (!prev_cased) return Value::Bool(false);
      prev_cased = cased = true;
    } else {
      prev_cased = false;
    }
  }
  return Value::Bool(cased);
}

Value MIsIdentifier(Interpreter&, const Value& self, CallArgs& a) {
  MaxArgs(a, "isidentifier", 0);
  const std::string& s = self.str();
  if (s.empty()) return Value::Bool(false);
  size_t i = 0;
  bool first = true;
  while (i < s.size()) {
    char32_t c = DecodeUtf8(s, &i);
    bool ok = c == '_' || IsPyAlpha(c) || (!first && (IsPyDecimal(c) || IsPyDigit(c)));
    if (!ok) return Value::Bool(false);
    first = false;
  }
  return Value::Bool(true);
}

Value Justify(Interpreter& in, const Value& self, CallArgs& a, int mode, const char* name) {
  NoKwargs(a, name);
  if (a.args.empty() || a.args.size() > 2) {
    RuntimeError(std::string("TypeError: ") + name + "() takes 1 or 2 arguments");
  }
  int64_t width = ToInt(a.args[0], "width");
  std::string fill = " ";
  if (a.args.size() > 1) {
    fill = StrArg(a.args[1], name);
    if (CodePointCount(fill) != 1) {
      RuntimeError("TypeError: The fill character must be exactly one character long");
    }
  }
  const std::string& s = self.str();
  int64_t len = static_cast<int64_t>(CodePointCount(s));
  if (width <= len) return self;
  if (static_cast<uint64_t>(width) > in.max_value_bytes() / fill.size())
    in.LimitExceeded("value size");
  in.Charge(static_cast<size_t>(width) * fill.size());
  int64_t marg = width - len;
  int64_t left = 0;
  if (mode == 0) left = marg / 2 + (marg & width & 1);  // CPython's center()
  if (mode == 2) left = marg;                           // rjust
  auto rep = [&](int64_t n) {
    std::string r;
    for (int64_t k = 0; k < n; ++k) r += fill;
    return r;
  };
  return Value::Str(rep(left) + s + rep(marg - left));
}

Value MCenter(Interpreter& in, const Value& s, CallArgs& a) {
  return Justify(in, s, a, 0, "center");
}
Value MLJust(Interpreter& in, const Value& s, CallArgs& a) { return Justify(in, s, a, 1, "ljust"); }
Value MRJust(Interpreter& in, const Value& s, CallArgs& a) { return Justify(in, s, a, 2, "rjust"); }

Value MZFill(Interpreter& in, const Value& self, CallArgs& a) {
  NoKwargs(a, "zfill");
  if (a.args.size() != 1) RuntimeError("TypeError: zfill() takes exactly one argument");
  int64_t width = ToInt(a.args[0], "width");
  const std::string& s = self.str();
  int64_t len = static_cast<int64_t>(CodePointCount(s));
  if (width <= len) return self;
  if (static_cast<uint64_t>(width) > in.max_value_bytes()) in.LimitExceeded("value size");
  in.Charge(static_cast<size_t>(width));
  std::string pad(static_cast<size_t>(width - len), '0');
  if (!s.empty() && (s[0] == '+' || s[0] == '-'))
    return Value::Str(s.substr(0, 1) + pad + s.substr(1));
  return Value::Str(pad + s);
}

Value Partition(Interpreter& in, const Value& self, CallArgs& a, bool reverse) {
  const char* name = reverse ? "rpartition" : "partition";
  NoKwargs(a, name);
  if (a.args.size() != 1)
    RuntimeError(std::string("TypeError: ") + name + "() takes exactly one argument");
  const std::string& s = self.str();
  const std::string& sep = StrArg(a.args[0], name);
  if (sep.empty()) RuntimeError("ValueError: empty separator");
  in.Charge(s.size());
  size_t p = reverse ? s.rfind(sep) : s.find(sep);
  if (p == std::string::npos) {
    if (reverse) return MakeTuple({Value::Str(""), Value::Str(""), self});
    return MakeTuple({self, Value::Str(""), Value::Str("")});
  }
  return MakeTuple(
      {Value::Str(s.substr(0, p)), Value::Str(sep), Value::Str(s.substr(p + sep.size()))});
}

Value MPartition(Interpreter& in, const Value& s, CallArgs& a) {
  return Partition(in, s, a, false);
}
Value MRPartition(Interpreter& in, const Value& s, CallArgs& a) {
  return Partition(in, s, a, true);
}

Value MRemovePrefix(Interpreter&, const Value& self, CallArgs& a) {
  if (a.args.size() != 1) RuntimeError("TypeError: removeprefix() takes exactly one argument");
  const std::string& p = StrArg(a.args[0], "removeprefix");
  const std::string& s = self.str();
  if (s.compare(0, p.size(), p) == 0 && s.size() >= p.size()) return Value::Str(s.substr(p.size()));
  return self;
}

Value MRemoveSuffix(Interpreter&, const Value& self, CallArgs& a) {
  if (a.args.size() != 1) RuntimeError("TypeError: removesuffix() takes exactly one argument");
  const std::string& p = StrArg(a.args[0], "removesuffix");
  const std::string& s = self.str();
  if (!p.empty() && s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0) {
    return Value::Str(s.substr(0, s.size() - p.size()));
  }
  return self;
}

Value MExpandTabs(Interpreter& in, const Value& self, CallArgs& a) {
  CheckArgs(a, "expandtabs", 1, {"tabsize"});
  const Value* t = GetArg(a, 0, "tabsize");
  int64_t tab = t ? ToInt(*t, "tabsize") : 8;
  const std::string& s = self.str();
  std::string out;
  int64_t col = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t st = i;
    char32_t c = DecodeUtf8(s, &i);
    if (c == '\t') {
      if (tab > 0) {
        int64_t n = tab - col % tab;
        in.Charge(static_cast<size_t>(n));
        out.append(static_cast<size_t>(n), ' ');
        col += n;
      }
    } else {
      out.append(s, st, i - st);
      col = (c == '\n' || c == '\r') ? 0 : col + 1;
    }
  }
  return Value::Str(std::move(out));
}

// ---- list ----

Value LIndex(Interpreter& in, const Value& self, CallArgs& a) {
  NoKwargs(a, "index");
  if (a.args.empty() || a.args.size() > 3)
    RuntimeError("TypeError: index expected at least 1 argument");
  const auto& items = self.items();
  int64_t n = static_cast<int64_t>(items.size());
  auto norm = [&](size_t k, int64_t d) {
    if (a.args.size() <= k) return d;
    int64_t x = ToInt(a.args[k], "slice indices");
    if (x < 0) x = std::max<int64_t>(0, x + n);
    return std::min(x, n);
  };
  int64_t b = norm(1, 0), e = norm(2, n);
  for (int64_t i = b; i < e; ++i) {
    in.Step();
    if (PyEquals(items[static_cast<size_t>(i)], a.args[0])) return Value::Int(i);
  }
  RuntimeError("ValueError: " + PyRepr(a.args[0]) + " is not in list");
}

Value LCount(Interpreter& in, const Value& self, CallArgs& a) {
  NoKwargs(a, "count");
  if (a.args.size() != 1) RuntimeError("TypeError: list.count() takes exactly one argument");
  int64_t c = 0;
  for (const Value& v : self.items()) {
    in.Step();
    if (PyEquals(v, a.args[0])) ++c;
  }
  return Value::Int(c);
}

Value LCopy(Interpreter& in, const Value& self, CallArgs& a) {
  MaxArgs(a, "copy", 0);
  in.Charge(self.items().size() * 8);
  return Value::List(self.items(), self.list_kind());
}

// ---- dict ----

Value DItems(Interpreter& in, const Value& self, CallArgs& a) {
  MaxArgs(a, "items", 0);
  NoKwargs(a, "items");
  in.Charge(self.dict().size() * 16);
  std::vector<Value> out;
  out.reserve(self.dict().size());
  for (const auto& kv : self.dict().items) out.push_back(MakeTuple({kv.first, kv.second}));
  return Value::List(std::move(out), ListKind::kDictItems);
}

Value DKeys(Interpreter& in, const Value& self, CallArgs& a) {
  MaxArgs(a, "keys", 0);
  NoKwargs(a, "keys");
  in.Charge(self.dict().size() * 8);
  std::vector<Value> out;
  for (const auto& kv : self.dict().items) out.push_back(kv.first);
  return Value::List(std::move(out), ListKind::kDictKeys);
}

Value DValues(Interpreter& in, const Value& self, CallArgs& a) {
  MaxArgs(a, "values", 0);
  NoKwargs(a, "values");
  in.Charge(self.dict().size() * 8);
  std::vector<Value> out;
  for (const auto& kv : self.dict().items) out.push_back(kv.second);
  return Value::List(std::move(out), ListKind::kDictValues);
}

Value DGet(Interpreter&, const Value& self, CallArgs& a) {
  NoKwargs(a, "get");
  if (a.args.empty() || a.args.size() > 2) {
    RuntimeError("TypeError: get expected at least 1 argument, got " +
                 std::to_string(a.args.size()));
  }
  if (const Value* v = self.dict().Find(a.args[0])) return *v;
  return a.args.size() > 1 ? a.args[1] : Value::None();
}

Value DCopy(Interpreter& in, const Value& self, CallArgs& a) {
  MaxArgs(a, "copy", 0);
  in.Charge(self.dict().size() * 16);
  auto d = std::make_shared<DictData>();
  d->items = self.dict().items;
  return Value::Dict(std::move(d));
}

struct MethodEntry {
  const char* name;
  MethodFn fn;
};

const MethodEntry kStrMethods[] = {
    {"strip", MStrip},
    {"lstrip", MLStrip},
    {"rstrip", MRStrip},
    {"split", MSplit},
    {"rsplit", MRSplit},
    {"splitlines", MSplitLines},
    {"startswith", MStartsWith},
    {"endswith", MEndsWith},
    {"replace", MReplace},
    {"lower", MLower},
    {"casefold", MLower},
    {"upper", MUpper},
    {"title", MTitle},
    {"capitalize", MCapitalize},
    {"swapcase", MSwapCase},
    {"find", MFind},
    {"rfind", MRFind},
    {"index", MIndex},
    {"rindex", MRIndex},
    {"count", MCount},
    {"join", MJoin},
    {"format", MFormat},
    {"format_map", MFormatMap},
    {"isascii", MIsAscii},
    {"isdigit", AllChars<IsPyDigit>},
    {"isdecimal", AllChars<IsPyDecimal>},
    {"isnumeric", AllChars<IsPyNumeric>},
    {"isalpha", AllChars<IsPyAlpha>},
    {"isalnum", AllChars<IsAlnumCp>},
    {"isspace", AllChars<IsPySpace>},
    {"isprintable", nullptr},
    {"islower", MIsLower},
    {"isupper", MIsUpper},
    {"istitle", MIsTitle},
    {"isidentifier", MIsIdentifier},
    {"center", MCenter},
    {"ljust", MLJust},
    {"rjust", MRJust},
    {"zfill", MZFill},
    {"partition", MPartition},
    {"rpartition", MRPartition},
    {"removeprefix", MRemovePrefix},
    {"removesuffix", MRemoveSuffix},
    {"expandtabs", MExpandTabs},
};

Value MIsPrintable(Interpreter&, const Value& self, CallArgs& a) {
  MaxArgs(a, "isprintable", 0);
  const std::string& s = self.str();
  size_t i = 0;
  while (i < s.size()) {
    if (!IsPyPrintable(DecodeUtf8(s, &i))) return Value::Bool(false);
  }
  return Value::Bool(true);
}

const MethodEntry kListMethods[] = {{"index", LIndex}, {"count", LCount}, {"copy", LCopy}};
const char* const kListUnsafe[] = {"append", "clear", "pop",    "reverse",
                                   "insert", "sort",  "extend", "remove"};
const MethodEntry kDictMethods[] = {
    {"items", DItems}, {"keys", DKeys}, {"values", DValues}, {"get", DGet}, {"copy", DCopy}};
const char* const kDictUnsafe[] = {"clear", "pop", "popitem", "setdefault", "update"};

}  // namespace

MethodSafety FindMethod(const Value& self, std::string_view name, MethodFn* fn) {
  if (self.is_string()) {
    for (const auto& m : kStrMethods) {
      if (name == m.name) {
        *fn = m.fn != nullptr ? m.fn : MIsPrintable;
        return MethodSafety::kSafe;
      }
    }
    return MethodSafety::kNone;
  }
  if (self.is_list()) {
    ListKind k = self.list_kind();
    if (k == ListKind::kList || k == ListKind::kTuple) {
      for (const auto& m : kListMethods) {
        if (name == m.name && (k == ListKind::kList || std::strcmp(m.name, "copy") != 0)) {
          *fn = m.fn;
          return MethodSafety::kSafe;
        }
      }
      if (k == ListKind::kList) {
        for (const char* u : kListUnsafe) {
          if (name == u) return MethodSafety::kUnsafe;
        }
      }
    }
    return MethodSafety::kNone;
  }
  if (self.is_dict()) {
    for (const auto& m : kDictMethods) {
      if (name == m.name) {
        *fn = m.fn;
        return MethodSafety::kSafe;
      }
    }
    for (const char* u : kDictUnsafe) {
      if (name == u) return MethodSafety::kUnsafe;
    }
  }
  return MethodSafety::kNone;
}

}  // namespace suanli::jinja
