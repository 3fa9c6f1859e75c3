// Python string formatting: `fmt % args` (printf-style) and str.format / the format filter's
// format-spec mini language (fill, align, sign, #, 0, width, grouping, precision, type).
// Widths and precisions are bounded by the interpreter's value-size limit.
#include <cmath>
#include <cstdio>

#include "server/template/interpreter.h"
#include "server/template/unicode.h"

namespace suanli::jinja {
namespace {

std::string Tn(const Value& v) { return std::string(PyTypeName(v)); }

std::string Printf(const char* fmt, double d) {
  char buf[512];
  int n = std::snprintf(buf, sizeof(buf), fmt, d);
  if (n < 0) return "";
  if (static_cast<size_t>(n) < sizeof(buf)) return std::string(buf, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), fmt, d);
  big.resize(static_cast<size_t>(n));
  return big;
}

// Python's float formatting for 'e', 'f', 'g', '%' with a precision, no padding.
std::string FormatFloat(double d, char type, int prec, bool alt) {
  if (std::isnan(d)) return (type >= 'A' && type <= 'Z') ? "NAN" : "nan";
  if (std::isinf(d)) {
    std::string s = d < 0 ? "-inf" : "inf";
    if (type >= 'A' && type <= 'Z') s = d < 0 ? "-INF" : "INF";
    return s;
  }
  if (prec < 0) prec = 6;
  if (prec > 300) prec = 300;
  std::string f = "%";
  if (alt) f += "#";
  f += '.';
  f += std::to_string(prec);
  f += type;
  return Printf(f.c_str(), d);
}

int64_t AsIntForFormat(const Value& v, char conv) {
  if (v.is_integral()) return v.i();
  if (v.is_float()) {
    if (!std::isfinite(v.f())) RuntimeError("OverflowError: cannot convert float to integer");
    // Python makes a big integer; ours are 64-bit, and converting beyond them is undefined.
    if (!(std::fabs(v.f()) < 9.2e18))
      RuntimeError(std::string("OverflowError: %") + conv + " format: " + Printf("%g", v.f()) +
                   " does not fit in a 64-bit integer");
    return static_cast<int64_t>(v.f());
  }
  RuntimeError(std::string("TypeError: %") + conv + " format: a real number is required, not " +
               Tn(v));
}

std::string IntToBase(int64_t v, int base, bool upper) {
  if (v == 0) return "0";
  bool neg = v < 0;
  uint64_t u = neg ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  std::string s;
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  while (u > 0) {
    s.insert(s.begin(), digits[u % static_cast<uint64_t>(base)]);
    u /= static_cast<uint64_t>(base);
  }
  return neg ? "-" + s : s;
}

void Pad(Interpreter& in, std::string* s, int64_t width, bool left, char fill = ' ') {
  int64_t len = static_cast<int64_t>(CodePointCount(*s));
  if (width <= len) return;
  if (static_cast<uint64_t>(width) > in.max_value_bytes()) in.LimitExceeded("value size");
  in.Charge(static_cast<size_t>(width));
  std::string pad(static_cast<size_t>(width - len), fill);
  if (left) {
    *s += pad;
  } else {
    *s = pad + *s;
  }
}

}  // namespace

Value PercentFormat(Interpreter& in, const Value& fmt_value, const Value& args) {
  const std::string& fmt = fmt_value.str();
  std::vector<Value> positional;
  const Value* mapping = nullptr;
  if (args.is_list() && args.list_kind() == ListKind::kTuple) {
    positional = args.items();
  } else {
    positional.push_back(args);
    if (args.is_dict()) mapping = &args;
  }
  size_t next = 0;
  bool used_mapping = false;
  auto take = [&]() -> Value {
    if (next >= positional.size())
      RuntimeError("TypeError: not enough arguments for format string");
    return positional[next++];
  };
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (++i >= fmt.size()) RuntimeError("ValueError: incomplete format");
    Value arg;
    bool have_arg = false;
    if (fmt[i] == '(') {
      size_t close = fmt.find(')', i);
      if (close == std::string::npos) RuntimeError("ValueError: incomplete format key");
      if (mapping == nullptr) RuntimeError("TypeError: format requires a mapping");
      std::string key = fmt.substr(i + 1, close - i - 1);
      const Value* v = mapping->dict().FindStr(key);
      if (v == nullptr) RuntimeError("KeyError: '" + key + "'");
      arg = *v;
      have_arg = true;
      used_mapping = true;
      i = close + 1;
    }
    bool left = false, plus = false, space = false, alt = false, zero = false;
    for (; i < fmt.size(); ++i) {
      char f = fmt[i];
      if (f == '-') {
        left = true;
      } else if (f == '+') {
        plus = true;
      } else if (f == ' ') {
        space = true;
      } else if (f == '#') {
        alt = true;
      } else if (f == '0') {
        zero = true;
      } else {
        break;
      }
    }
    int64_t width = 0;
    if (i < fmt.size() && fmt[i] == '*') {
      width = ToInt(take(), "* wants int");
      if (width < 0) {
        left = true;
        width = -width;
      }
      ++i;
    } else {
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
        width = width * 10 + (fmt[i++] - '0');
        if (static_cast<uint64_t>(width) > in.max_value_bytes()) in.LimitExceeded("value size");
      }
    }
    if (static_cast<uint64_t>(width) > in.max_value_bytes()) in.LimitExceeded("value size");
    int prec = -1;
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      prec = 0;
      if (i < fmt.size() && fmt[i] == '*') {
        prec = static_cast<int>(ToInt(take(), "* wants int"));
        ++i;
      } else {
        while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
          prec = prec * 10 + (fmt[i++] - '0');
          if (static_cast<uint64_t>(prec) > in.max_value_bytes()) in.LimitExceeded("value size");
        }
      }
    }
    if (prec > 0 && static_cast<uint64_t>(prec) > in.max_value_bytes())
      in.LimitExceeded("value size");
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) RuntimeError("ValueError: incomplete format");
    char conv = fmt[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (!have_arg) arg = take();
    std::string piece;
    bool numeric = false;
    switch (conv) {
      case 's':
      case 'r':
      case 'a':
        piece = conv == 's' ? PyStr(arg) : PyRepr(arg);
        if (prec >= 0) {
          std::vector<char32_t> cps = ToCodePoints(piece);
          if (static_cast<size_t>(prec) < cps.size())
            piece = FromCodePoints(cps.data(), static_cast<size_t>(prec));
        }
        break;
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        numeric = true;
        int64_t v = AsIntForFormat(arg, conv);
        int base = (conv == 'x' || conv == 'X') ? 16 : conv == 'o' ? 8 : 10;
        std::string digits = IntToBase(v < 0 ? -v : v, base, conv == 'X');
        if (v == INT64_MIN) digits = IntToBase(v, base, conv == 'X').substr(1);
        if (prec > 0 && static_cast<int>(digits.size()) < prec) {
          digits = std::string(static_cast<size_t>(prec) - digits.size(), '0') + digits;
        }
        std::string prefix = v < 0 ? "-" : plus ? "+" : space ? " " : "";
        if (alt && base == 16) prefix += conv == 'X' ? "0X" : "0x";
        if (alt && base == 8) prefix += "0o";
        piece = prefix + digits;
        if (zero && !left && static_cast<int64_t>(piece.size()) < width) {
          piece = prefix + std::string(static_cast<size_t>(width) - piece.size(), '0') + digits;
        }
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        numeric = true;
        if (!arg.is_number()) {
          RuntimeError(std::string("TypeError: must be real number, not ") + Tn(arg));
        }
        double d = arg.f();
        std::string body = FormatFloat(std::fabs(d), conv, prec, alt);
        std::string prefix = std::signbit(d) && !std::isnan(d) ? "-"
                             : plus                            ? "+"
                             : space                           ? " "
                                                               : "";
        piece = prefix + body;
        if (zero && !left && static_cast<int64_t>(piece.size()) < width && std::isfinite(d)) {
          piece = prefix + std::string(static_cast<size_t>(width) - piece.size(), '0') + body;
        }
        break;
      }
      case 'c': {
        if (arg.is_integral()) {
          if (arg.i() < 0 || arg.i() > 0x10FFFF)
            RuntimeError("OverflowError: %c arg not in range(0x110000)");
          AppendUtf8(&piece, static_cast<char32_t>(arg.i()));
        } else if (arg.is_string() && CodePointCount(arg.str()) == 1) {
          piece = arg.str();
        } else {
          RuntimeError("TypeError: %c requires int or char");
        }
        break;
      }
      default: {
        char buf[128];
        std::snprintf(buf, sizeof(buf),
                      "ValueError: unsupported format character '%c' (0x%x) at index %zu", conv,
                      static_cast<unsigned char>(conv), i);
        RuntimeError(buf);
      }
    }
    (void)numeric;
    Pad(in, &piece, width, left);
    out += piece;
    if (out.size() > in.max_value_bytes()) in.LimitExceeded("value size");
  }
  // CPython skips the "not all arguments converted" check when the right side is a mapping or
  // any other non-tuple sequence (PyMapping_Check), e.g. a list.
  bool mapping_like = args.is_dict() || (args.is_list() && args.list_kind() != ListKind::kTuple);
  if (!used_mapping && !mapping_like && next < positional.size()) {
    RuntimeError("TypeError: not all arguments converted during string formatting");
  }
  in.Charge(out.size());
  return Value::Str(std::move(out));
}

namespace {

// Applies a format spec ("[[fill]align][sign][#][0][width][,_][.precision][type]") to v.
std::string ApplySpec(Interpreter& in, const Value& v, std::string_view spec) {
  size_t i = 0;
  char fill = ' ';
  char align = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  // The fill may be any character, so look at the second code point first.
  std::string fill_str = " ";
  if (!spec.empty()) {
    size_t j = 0;
    DecodeUtf8(spec, &j);
    if (j < spec.size() && is_align(spec[j])) {
      fill_str = std::string(spec.substr(0, j));
      align = spec[j];
      i = j + 1;
    } else if (is_align(spec[0])) {
      align = spec[0];
      i = 1;
    }
  }
  (void)fill;
  char sign = 0;
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
  bool alt = false;
  if (i < spec.size() && spec[i] == '#') {
    alt = true;
    ++i;
  }
  if (i < spec.size() && spec[i] == '0') {
    if (align == 0) {
      fill_str = "0";
      align = '=';
    }
    ++i;
  }
  int64_t width = 0;
  while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
    width = width * 10 + (spec[i++] - '0');
    if (static_cast<uint64_t>(width) > in.max_value_bytes()) in.LimitExceeded("value size");
  }
  char group = 0;
  if (i < spec.size() && (spec[i] == ',' || spec[i] == '_')) group = spec[i++];
  int prec = -1;
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    prec = 0;
    while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
      prec = prec * 10 + (spec[i++] - '0');
      if (static_cast<uint64_t>(prec) > in.max_value_bytes()) in.LimitExceeded("value size");
    }
  }
  char type = 0;
  if (i < spec.size()) type = spec[i++];
  if (i != spec.size()) RuntimeError("ValueError: Invalid format specifier");

  std::string body;
  std::string prefix;
  bool numeric = false;
  if (v.is_string() || (!v.is_number() && type == 0)) {
    if (type != 0 && type != 's') {
      RuntimeError(std::string("ValueError: Unknown format code '") + type +
                   "' for object of type '" + Tn(v) + "'");
    }
    body = PyStr(v);
    if (prec >= 0) {
      std::vector<char32_t> cps = ToCodePoints(body);
      if (static_cast<size_t>(prec) < cps.size())
        body = FromCodePoints(cps.data(), static_cast<size_t>(prec));
    }
    if (align == 0) align = '<';
  } else if (v.is_number()) {
    numeric = true;
    if (align == 0) align = '>';
    bool neg = false;
    if (v.is_integral() && (type == 0 || type == 'd' || type == 'x' || type == 'X' || type == 'o' ||
                            type == 'b' || type == 'n' || type == 'c')) {
      if (v.is_bool() && type == 0) {
        body = v.b() ? "True" : "False";
        numeric = false;
        align = align == '>' ? '<' : align;
      } else {
        int64_t x = v.i();
        neg = x < 0;
        int base = type == 'x' || type == 'X' ? 16 : type == 'o' ? 8 : type == 'b' ? 2 : 10;
        std::string digits = IntToBase(x, base, type == 'X');
        if (neg) digits = digits.substr(1);
        if (group && base == 10) {
          std::string g;
          int cnt = 0;
          for (size_t k = digits.size(); k-- > 0;) {
            g.insert(g.begin(), digits[k]);
            if (++cnt % 3 == 0 && k > 0) g.insert(g.begin(), group);
          }
          digits = g;
        }
        if (alt && base != 10)
          prefix = base == 16 ? (type == 'X' ? "0X" : "0x") : base == 8 ? "0o" : "0b";
        body = digits;
      }
    } else {
      double d = v.f();
      neg = std::signbit(d) && !std::isnan(d);
      double a = std::fabs(d);
      switch (type) {
        case 0:
          if (prec < 0) {
            body = FloatRepr(a);
          } else {
            body = FormatFloat(a, 'g', prec == 0 ? 1 : prec, alt);
            if (body.find_first_of(".en") == std::string::npos) body += ".0";
          }
          break;
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
          body = FormatFloat(a, type, prec, alt);
          break;
        case '%':
          body = FormatFloat(a * 100, 'f', prec, alt) + "%";
          break;
        default:
          RuntimeError(std::string("ValueError: Unknown format code '") + type +
                       "' for object of type '" + Tn(v) + "'");
      }
      if (group && std::isfinite(a)) {
        size_t dot = body.find_first_of(".e%");
        std::string ip = body.substr(0, dot == std::string::npos ? body.size() : dot);
        std::string rest = dot == std::string::npos ? "" : body.substr(dot);
        std::string g;
        int cnt = 0;
        for (size_t k = ip.size(); k-- > 0;) {
          g.insert(g.begin(), ip[k]);
          if (++cnt % 3 == 0 && k > 0) g.insert(g.begin(), group);
        }
        body = g + rest;
      }
    }
    if (numeric) {
      std::string s = neg ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
      prefix = s + prefix;
    }
  } else {
    RuntimeError("TypeError: unsupported format string passed to " + Tn(v) + ".__format__");
  }
  int64_t len = static_cast<int64_t>(CodePointCount(prefix) + CodePointCount(body));
  if (width > len) {
    if (static_cast<uint64_t>(width) * fill_str.size() > in.max_value_bytes()) {
      in.LimitExceeded("value size");
    }
    in.Charge(static_cast<size_t>(width) * fill_str.size());
    int64_t padn = width - len;
    auto fill_n = [&](int64_t n) {
      std::string f;
      for (int64_t k = 0; k < n; ++k) f += fill_str;
      return f;
    };
    switch (align) {
      case '<':
        return prefix + body + fill_n(padn);
      case '^':
        return fill_n(padn / 2) + prefix + body + fill_n(padn - padn / 2);
      case '=':
        return prefix + fill_n(padn) + body;
      default:
        return fill_n(padn) + prefix + body;
    }
  }
  return prefix + body;
}

}  // namespace

std::string StrFormat(Interpreter& in, std::string_view fmt, CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      RuntimeError("ValueError: Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos)
      RuntimeError("ValueError: Single '{' encountered in format string");
    std::string_view field = fmt.substr(i + 1, close - i - 1);
    i = close;
    std::string_view spec;
    char conversion = 0;
    size_t colon = field.find(':');
    if (colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    size_t bang = field.find('!');
    if (bang != std::string_view::npos) {
      if (bang + 2 != field.size())
        RuntimeError("ValueError: expected ':' after conversion specifier");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    // The argument name, then .attr / [key] accessors.
    size_t name_end = field.find_first_of(".[");
    std::string_view name = field.substr(0, name_end);
    Value v;
    if (name.empty()) {
      if (auto_index >= args.args.size()) {
        RuntimeError("IndexError: Replacement index " + std::to_string(auto_index) +
                     " out of range for positional args tuple");
      }
      v = args.args[auto_index++];
    } else if (name[0] >= '0' && name[0] <= '9') {
      size_t idx = 0;
      for (char d : name) {
        if (d < '0' || d > '9') RuntimeError("ValueError: invalid format field");
        idx = idx * 10 + static_cast<size_t>(d - '0');
        if (idx > 1000000) RuntimeError("IndexError: format index out of range");
      }
      if (idx >= args.args.size()) {
        RuntimeError("IndexError: Replacement index " + std::to_string(idx) +
                     " out of range for positional args tuple");
      }
      v = args.args[idx];
    } else {
      const Value* kv = args.Kw(name);
      if (kv == nullptr) RuntimeError("KeyError: '" + std::string(name) + "'");
      v = *kv;
    }
    size_t p = name_end;
    while (p != std::string_view::npos && p < field.size()) {
      if (field[p] == '.') {
        size_t e = field.find_first_of(".[", p + 1);
        std::string attr(
            field.substr(p + 1, e == std::string_view::npos ? std::string_view::npos : e - p - 1));
        v = in.GetAttr(v, attr);
        if (v.is_undefined()) RuntimeError("AttributeError: " + attr);
        p = e;
      } else {
        size_t e = field.find(']', p);
        if (e == std::string_view::npos) RuntimeError("ValueError: Missing ']' in format string");
        std::string key(field.substr(p + 1, e - p - 1));
        bool digits = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
        Value k = digits ? Value::Int(std::stoll(key.substr(0, 18))) : Value::Str(key);
        v = in.GetItem(v, k);
        if (v.is_undefined()) RuntimeError("KeyError: " + PyRepr(k));
        p = e + 1;
      }
    }
    if (conversion == 'r' || conversion == 'a') {
      v = Value::Str(PyRepr(v));
    } else if (conversion == 's') {
      v = Value::Str(PyStr(v));
    } else if (conversion != 0) {
      RuntimeError(std::string("ValueError: Unknown conversion specifier ") + conversion);
    }
    out += ApplySpec(in, v, spec);
    if (out.size() > in.max_value_bytes()) in.LimitExceeded("value size");
  }
  in.Charge(out.size());
  return out;
}

}  // namespace suanli::jinja
