// Python's arithmetic, comparison and `in` operators on template values, with Python's results
// and TypeErrors (int vs float, floor division and modulo on negatives, str * int, list + list).
#include <cmath>
#include <limits>

#include "server/template/interpreter.h"
#include "server/template/unicode.h"

namespace suanli::jinja {
namespace {

std::string Tn(const Value& v) { return std::string(PyTypeName(v)); }

[[noreturn]] void Unsupported(const char* op, const Value& a, const Value& b) {
  RuntimeError(std::string("TypeError: unsupported operand type(s) for ") + op + ": '" + Tn(a) +
               "' and '" + Tn(b) + "'");
}


Value Repeat(Interpreter& in, const Value& seq, int64_t n) {
  if (n <= 0) {
    if (seq.is_string()) return Value::Str("", seq.markup());
    return Value::List({},
                       seq.list_kind() == ListKind::kTuple ? ListKind::kTuple : ListKind::kList);
  }
  if (seq.is_string()) {
    const std::string& s = seq.str();
    if (!s.empty() && static_cast<uint64_t>(n) > in.max_value_bytes() / s.size()) {
      in.LimitExceeded("value size");
    }
    in.Charge(s.size() * static_cast<size_t>(n));
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value::Str(std::move(out), seq.markup());
  }
  const auto& items = seq.items();
  if (!items.empty() && static_cast<uint64_t>(n) > in.max_value_bytes() / 16 / items.size()) {
    in.LimitExceeded("value size");
  }
  in.Charge(items.size() * static_cast<size_t>(n) * 8);
  std::vector<Value> out;
  out.reserve(items.size() * static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::List(std::move(out),
                     seq.list_kind() == ListKind::kTuple ? ListKind::kTuple : ListKind::kList);
}

double FloatMod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

double FloatFloorDiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) div -= 1.0;
  }
  double floordiv;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, a / b);
  }
  return floordiv;
}

Value CheckedFloat(double d) { return Value::Float(d); }

}  // namespace

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Value BinaryOp(Interpreter& in, BinOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) FailUndefined(a);
  if (b.is_undefined()) FailUndefined(b);
  const bool nums = a.is_number() && b.is_number();
  const bool floats = nums && (a.is_float() || b.is_float());
  switch (op) {
    case BinOp::kAdd: {
      if (nums) {
        if (floats) return CheckedFloat(a.f() + b.f());
        int64_t r;
        if (__builtin_add_overflow(a.i(), b.i(), &r))
          RuntimeError("OverflowError: integer overflow");
        return Value::Int(r);
      }
      if (a.is_string() && b.is_string()) {
        in.CheckSize(a.str().size() + b.str().size());
        in.Charge(a.str().size() + b.str().size());
        bool markup = a.markup() || b.markup();
        std::string out;
        out.reserve(a.str().size() + b.str().size());
        // Markup + str escapes the plain operand, as markupsafe does.
        out += (markup && !a.markup()) ? HtmlEscape(a.str()) : a.str();
        out += (markup && !b.markup()) ? HtmlEscape(b.str()) : b.str();
        return Value::Str(std::move(out), markup);
      }
      if (a.is_list() && b.is_list()) {
        bool at = a.list_kind() == ListKind::kTuple, bt = b.list_kind() == ListKind::kTuple;
        bool al = a.list_kind() == ListKind::kList, bl = b.list_kind() == ListKind::kList;
        if ((at && bt) || (al && bl)) {
          in.CheckSize((a.items().size() + b.items().size()) * 16);
          in.Charge((a.items().size() + b.items().size()) * 8);
          std::vector<Value> out = a.items();
          out.insert(out.end(), b.items().begin(), b.items().end());
          return Value::List(std::move(out), at ? ListKind::kTuple : ListKind::kList);
        }
      }
      if (a.is_string()) {
        RuntimeError("TypeError: can only concatenate str (not \"" + Tn(b) + "\") to str");
      }
      if (a.is_list() && (a.list_kind() == ListKind::kList || a.list_kind() == ListKind::kTuple)) {
        RuntimeError("TypeError: can only concatenate " + Tn(a) + " (not \"" + Tn(b) + "\") to " +
                     Tn(a));
      }
      Unsupported("+", a, b);
    }
    case BinOp::kSub: {
      if (!nums) Unsupported("-", a, b);
      if (floats) return CheckedFloat(a.f() - b.f());
      int64_t r;
      if (__builtin_sub_overflow(a.i(), b.i(), &r)) RuntimeError("OverflowError: integer overflow");
      return Value::Int(r);
    }
    case BinOp::kMul: {
      if (nums) {
        if (floats) return CheckedFloat(a.f() * b.f());
        int64_t r;
        if (__builtin_mul_overflow(a.i(), b.i(), &r))
          RuntimeError("OverflowError: integer overflow");
        return Value::Int(r);
      }
      auto is_seq = [](const Value& v) {
        return v.is_string() || (v.is_list() && (v.list_kind() == ListKind::kList ||
                                                 v.list_kind() == ListKind::kTuple));
      };
      if (is_seq(a) && b.is_integral()) return Repeat(in, a, b.i());
      if (is_seq(b) && a.is_integral()) return Repeat(in, b, a.i());
      if (is_seq(a) && b.is_float()) {
        RuntimeError("TypeError: can't multiply sequence by non-int of type 'float'");
      }
      if (is_seq(b) && a.is_float()) {
        RuntimeError("TypeError: can't multiply sequence by non-int of type 'float'");
      }
      Unsupported("*", a, b);
    }
    case BinOp::kDiv: {
      if (!nums) Unsupported("/", a, b);
      if (b.f() == 0) RuntimeError("ZeroDivisionError: division by zero");
      if (!floats) {
        // Python divides ints exactly rounded; double division is exact enough for |x| < 2^53.
        return Value::Float(static_cast<double>(a.i()) / static_cast<double>(b.i()));
      }
      return CheckedFloat(a.f() / b.f());
    }
    case BinOp::kFloorDiv: {
      if (!nums) Unsupported("//", a, b);
      if (floats) {
        if (b.f() == 0) RuntimeError("ZeroDivisionError: float floor division by zero");
        return Value::Float(FloatFloorDiv(a.f(), b.f()));
      }
      if (b.i() == 0) RuntimeError("ZeroDivisionError: integer division or modulo by zero");
      if (a.i() == INT64_MIN && b.i() == -1) RuntimeError("OverflowError: integer overflow");
      int64_t q = a.i() / b.i();
      if ((a.i() % b.i() != 0) && ((a.i() < 0) != (b.i() < 0))) --q;
      return Value::Int(q);
    }
    case BinOp::kMod: {
      if (a.is_string()) return PercentFormat(in, a, b);
      if (!nums) Unsupported("%", a, b);
      if (floats) {
        if (b.f() == 0) RuntimeError("ZeroDivisionError: float modulo");
        return Value::Float(FloatMod(a.f(), b.f()));
      }
      if (b.i() == 0) RuntimeError("ZeroDivisionError: integer division or modulo by zero");
      if (b.i() == -1) return Value::Int(0);
      int64_t r = a.i() % b.i();
      if (r != 0 && ((r < 0) != (b.i() < 0))) r += b.i();
      return Value::Int(r);
    }
    case BinOp::kPow: {
      if (!nums) Unsupported("** or pow()", a, b);
      if (!floats && b.i() >= 0) {
        int64_t base = a.i(), e = b.i(), r = 1;
        while (e > 0) {
          if (e & 1) {
            if (__builtin_mul_overflow(r, base, &r))
              RuntimeError("OverflowError: integer overflow");
          }
          e >>= 1;
          if (e > 0 && __builtin_mul_overflow(base, base, &base)) {
            RuntimeError("OverflowError: integer overflow");
          }
        }
        return Value::Int(r);
      }
      double x = a.f(), y = b.f();
      if (x == 0 && y < 0) {
        RuntimeError("ZeroDivisionError: 0.0 cannot be raised to a negative power");
      }
      if (x < 0 && y != std::floor(y)) {
        RuntimeError("TypeError: complex results are not supported");
      }
      double r = std::pow(x, y);
      if (std::isinf(r) && std::isfinite(x) && std::isfinite(y)) {
        RuntimeError("OverflowError: (34, 'Numerical result out of range')");
      }
      return Value::Float(r);
    }
  }
  return Value();
}

bool Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case ValueKind::kString:
      if (!item.is_string()) {
        if (item.is_undefined()) FailUndefined(item);
        RuntimeError("TypeError: 'in <string>' requires string as left operand, not " + Tn(item));
      }
      return container.str().find(item.str()) != std::string::npos;
    case ValueKind::kList:
      for (const Value& v : container.items()) {
        if (PyEquals(v, item)) return true;
      }
      return false;
    case ValueKind::kDict:
      return container.dict().Find(item) != nullptr;
    case ValueKind::kUndefined:
      if (container.undef() != nullptr && container.undef()->security) FailUndefined(container);
      return false;
    default:
      RuntimeError("TypeError: argument of type '" + Tn(container) + "' is not iterable");
  }
}

bool CompareOp(CmpOp op, const Value& a, const Value& b) {
  switch (op) {
    case CmpOp::kEq:
      return PyEquals(a, b);
    case CmpOp::kNe:
      return !PyEquals(a, b);
    case CmpOp::kIn:
      return Contains(b, a);
    case CmpOp::kNotIn:
      return !Contains(b, a);
    default:
      break;
  }
  if (a.is_undefined()) FailUndefined(a);
  if (b.is_undefined()) FailUndefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.f(), y = b.f();
      switch (op) {
        case CmpOp::kLt:
          return x < y;
        case CmpOp::kLe:
          return x <= y;
        case CmpOp::kGt:
          return x > y;
        default:
          return x >= y;
      }
    }
    int64_t x = a.i(), y = b.i();
    switch (op) {
      case CmpOp::kLt:
        return x < y;
      case CmpOp::kLe:
        return x <= y;
      case CmpOp::kGt:
        return x > y;
      default:
        return x >= y;
    }
  }
  const char* sym = op == CmpOp::kLt   ? "<"
                    : op == CmpOp::kLe ? "<="
                    : op == CmpOp::kGt ? ">"
                                       : ">=";
  auto fail = [&]() {
    RuntimeError(std::string("TypeError: '") + sym + "' not supported between instances of '" +
                 Tn(a) + "' and '" + Tn(b) + "'");
  };
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());
    switch (op) {
      case CmpOp::kLt:
        return c < 0;
      case CmpOp::kLe:
        return c <= 0;
      case CmpOp::kGt:
        return c > 0;
      default:
        return c >= 0;
    }
  }
  if (a.is_list() && b.is_list() && a.list_kind() == b.list_kind() &&
      (a.list_kind() == ListKind::kList || a.list_kind() == ListKind::kTuple)) {
    const auto& x = a.items();
    const auto& y = b.items();
    size_t n = std::min(x.size(), y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!PyEquals(x[i], y[i])) return CompareOp(op, x[i], y[i]);
    }
    switch (op) {
      case CmpOp::kLt:
        return x.size() < y.size();
      case CmpOp::kLe:
        return x.size() <= y.size();
      case CmpOp::kGt:
        return x.size() > y.size();
      default:
        return x.size() >= y.size();
    }
  }
  fail();
  return false;
}

}  // namespace suanli::jinja
