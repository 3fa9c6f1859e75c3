// jinja2's builtin filters and tests, transformers' tojson, and the globals (range, namespace,
// dict, raise_exception, strftime_now, cycler, joiner), each with jinja2 3.1's argument names,
// defaults and results. Filters jinja2 returns generators from (select, map, unique, batch, ...)
// return one-shot iterators here too, so `|length` on them fails as it does in Python.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "server/template/interpreter.h"
#include "server/template/parser.h"
#include "server/template/unicode.h"

namespace suanli::jinja {
namespace {

std::string Tn(const Value& v) { return std::string(PyTypeName(v)); }

Value Generator(std::vector<Value> items) {
  return Value::List(std::move(items), ListKind::kGenerator);
}

// Filters that are generators in jinja2 run lazily there: an error surfaces only when the
// result is iterated. Runs `fn` now and, if it fails, returns a generator holding the error.
template <typename Fn>
Value LazyGenerator(Fn fn) {
  try {
    return fn();
  } catch (const TemplateError& e) {
    if (e.kind == ErrorKind::kLimit) throw;
    Value g = Value::List({}, ListKind::kGenerator);
    const_cast<ListData&>(g.listdata()).pending_error = std::make_shared<TemplateError>(e);
    return g;
  }
}

bool IsSequenceKind(const Value& v) {
  return v.is_list() && (v.list_kind() == ListKind::kList || v.list_kind() == ListKind::kTuple);
}

[[noreturn]] void FilterArgError(const std::string& msg) {
  RuntimeError("FilterArgumentError: " + msg);
}

int64_t Len(Interpreter& in, const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      if (v.undef() != nullptr && v.undef()->security) FailUndefined(v);
      return 0;
    case ValueKind::kString:
      return v.strdata().ascii() ? static_cast<int64_t>(v.str().size())
                                 : static_cast<int64_t>(CodePointCount(v.str()));
    case ValueKind::kList:
      if (v.list_kind() == ListKind::kGenerator || v.list_kind() == ListKind::kReverseIterator) {
        break;
      }
      return static_cast<int64_t>(v.items().size());
    case ValueKind::kDict:
      return static_cast<int64_t>(v.dict().size());
    case ValueKind::kObject:
      if (v.obj()->TypeName() == "LoopContext") {
        Value n;
        v.obj()->GetAttr("length", &n);
        return n.i();
      }
      break;
    default:
      break;
  }
  (void)in;
  RuntimeError("TypeError: object of type '" + Tn(v) + "' has no len()");
}

// environment.getitem along a dotted attribute path ("a.b", "items.0"), as make_attrgetter.
Value AttrPath(Interpreter& in, const Value& item, const Value& attribute, const Value* dflt) {
  std::vector<Value> parts;
  if (attribute.is_string()) {
    const std::string& s = attribute.str();
    size_t start = 0;
    while (true) {
      size_t dot = s.find('.', start);
      std::string part =
          s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
      if (digits && part.size() < 18) {
        parts.push_back(Value::Int(std::strtoll(part.c_str(), nullptr, 10)));
      } else {
        parts.push_back(Value::Str(part));
      }
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  } else if (!attribute.is_none()) {
    parts.push_back(attribute);
  }
  Value v = item;
  for (const Value& p : parts) {
    v = in.GetItem(v, p);
    if (dflt != nullptr && !dflt->is_none() && v.is_undefined()) v = *dflt;
  }
  return v;
}

Value IgnoreCase(const Value& v) {
  if (v.is_string()) return Value::Str(PyLower(v.str()));
  return v;
}

// ---- filters ----

Value FAbs(Interpreter&, const Value& v, CallArgs& a) {
  CheckArgs(a, "abs", 0, {});
  if (v.is_float()) return Value::Float(std::fabs(v.f()));
  if (v.is_integral()) {
    if (v.i() == INT64_MIN) RuntimeError("OverflowError: integer overflow");
    return Value::Int(v.i() < 0 ? -v.i() : v.i());
  }
  if (v.is_undefined()) FailUndefined(v);
  RuntimeError("TypeError: bad operand type for abs(): '" + Tn(v) + "'");
}

Value FAttr(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "attr", 1, {"name"});
  const Value* n = GetArg(a, 0, "name");
  if (n == nullptr) RuntimeError("TypeError: attr() missing required argument 'name'");
  std::string name = PyStr(*n);
  if (v.is_undefined()) {
    if (name.size() > 1 && name[0] == '_' && name[1] == '_') return Value::Unsafe(v, name);
    FailUndefined(v);
  }
  if (v.is_dict() || v.is_string() || v.is_list()) {
    MethodFn fn = nullptr;
    MethodSafety s = FindMethod(v, name, &fn);
    if (s == MethodSafety::kSafe || s == MethodSafety::kUnsafe) return in.GetAttr(v, name);
    if (name.size() > 4 && name.substr(0, 2) == "__") return Value::Unsafe(v, name);
    return Value::UndefinedAttr(v, name);
  }
  if (v.is_object()) return in.GetAttr(v, name);
  if (name.size() > 4 && name.substr(0, 2) == "__") return Value::Unsafe(v, name);
  return Value::UndefinedAttr(v, name);
}

Value FBatchImpl(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "batch", 2, {"linecount", "fill_with"});
  const Value* lc = GetArg(a, 0, "linecount");
  if (lc == nullptr) RuntimeError("TypeError: do_batch() missing required argument 'linecount'");
  int64_t linecount = ToInt(*lc, "linecount");
  const Value* fill = GetArg(a, 1, "fill_with");
  std::vector<Value> out, tmp;
  for (Value& item : in.Iterate(v)) {
    in.Step();
    if (static_cast<int64_t>(tmp.size()) == linecount) {
      out.push_back(Value::List(std::move(tmp)));
      tmp.clear();
    }
    tmp.push_back(std::move(item));
  }
  if (!tmp.empty()) {
    if (fill != nullptr && !fill->is_none() && static_cast<int64_t>(tmp.size()) < linecount) {
      int64_t n = linecount - static_cast<int64_t>(tmp.size());
      in.Charge(static_cast<size_t>(n) * 8);
      tmp.insert(tmp.end(), static_cast<size_t>(n), *fill);
    }
    out.push_back(Value::List(std::move(tmp)));
  }
  return Generator(std::move(out));
}

Value FBatch(Interpreter& in, const Value& v, CallArgs& a) {
  return LazyGenerator([&] { return FBatchImpl(in, v, a); });
}

Value CallStrMethod(Interpreter& in, const Value& s, const char* name, CallArgs& a) {
  MethodFn fn = nullptr;
  FindMethod(s, name, &fn);
  return fn(in, s, a);
}

Value SoftStr(const Value& v) {
  if (v.is_string()) return v;
  return Value::Str(PyStr(v));
}

Value FCapitalize(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "capitalize", 0, {});
  CallArgs none;
  return CallStrMethod(in, SoftStr(v), "capitalize", none);
}

Value FCenter(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "center", 1, {"width"});
  const Value* w = GetArg(a, 0, "width");
  CallArgs args;
  args.args.push_back(w ? *w : Value::Int(80));
  return CallStrMethod(in, SoftStr(v), "center", args);
}

Value FLength(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "length", 0, {});
  return Value::Int(Len(in, v));
}

Value FDefault(Interpreter&, const Value& v, CallArgs& a) {
  CheckArgs(a, "default", 2, {"default_value", "boolean"});
  const Value* d = GetArg(a, 0, "default_value");
  const Value* b = GetArg(a, 1, "boolean");
  bool boolean = b != nullptr && Truthy(*b);
  if (v.is_undefined() || (boolean && !Truthy(v))) return d ? *d : Value::Str("");
  return v;
}

Value FDictSort(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "dictsort", 3, {"case_sensitive", "by", "reverse"});
  const Value* cs = GetArg(a, 0, "case_sensitive");
  const Value* by = GetArg(a, 1, "by");
  const Value* rev = GetArg(a, 2, "reverse");
  bool case_sensitive = cs && Truthy(*cs);
  bool reverse = rev && Truthy(*rev);
  int pos = 0;
  if (by != nullptr) {
    std::string b = PyStr(*by);
    if (b == "value") {
      pos = 1;
    } else if (b != "key") {
      FilterArgError("You can only sort by either \"key\" or \"value\"");
    }
  }
  if (!v.is_dict()) {
    if (v.is_undefined()) FailUndefined(v);
    RuntimeError("AttributeError: '" + Tn(v) + "' object has no attribute 'items'");
  }
  std::vector<std::pair<Value, Value>> items;  // (key for sorting, (k, v) tuple)
  for (const auto& kv : v.dict().items) {
    Value key = pos == 0 ? kv.first : kv.second;
    if (!case_sensitive) key = IgnoreCase(key);
    items.emplace_back(std::move(key), MakeTuple({kv.first, kv.second}));
  }
  in.Charge(items.size() * 16);
  std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
    in.Step();
    return reverse ? PyLess(y.first, x.first) : PyLess(x.first, y.first);
  });
  std::vector<Value> out;
  for (auto& p : items) out.push_back(std::move(p.second));
  return Value::List(std::move(out));
}


Value FEscape(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "escape", 0, {});
  if (v.is_string() && v.markup()) return v;
  std::string s = PyStr(v);
  in.Charge(s.size());
  return Value::Str(HtmlEscape(s), true);
}

Value FForceEscape(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "forceescape", 0, {});
  std::string s = PyStr(v);
  in.Charge(s.size());
  return Value::Str(HtmlEscape(s), true);
}

Value FSafe(Interpreter&, const Value& v, CallArgs& a) {
  CheckArgs(a, "safe", 0, {});
  if (v.is_string()) return Value::Str(v.strptr(), true);
  return Value::Str(PyStr(v), true);
}

Value FFirst(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "first", 0, {});
  std::vector<Value> items = in.Iterate(v);
  if (items.empty()) return Value::UndefinedHint("No first item, sequence was empty.");
  return items.front();
}

Value FLast(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "last", 0, {});
  if (v.is_list() &&
      (v.list_kind() == ListKind::kGenerator || v.list_kind() == ListKind::kReverseIterator)) {
    RuntimeError("TypeError: '" + Tn(v) + "' object is not reversible");
  }
  if (!(v.is_list() || v.is_string() || v.is_dict() || v.is_undefined())) {
    RuntimeError("TypeError: '" + Tn(v) + "' object is not reversible");
  }
  std::vector<Value> items = in.Iterate(v);
  if (items.empty()) return Value::UndefinedHint("No last item, sequence was empty.");
  return items.back();
}

// Python's float(str): optional whitespace, sign, digits with '_' between, inf/nan.
bool ParsePyFloat(const std::string& s0, double* out) {
  std::string s;
  size_t b = 0, e = s0.size();
  while (b < e && IsPySpace(static_cast<unsigned char>(s0[b]))) ++b;
  while (e > b && IsPySpace(static_cast<unsigned char>(s0[e - 1]))) --e;
  std::string t = s0.substr(b, e - b);
  if (t.empty()) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '_') {
      bool ok = i > 0 && i + 1 < t.size() && std::isdigit(static_cast<unsigned char>(t[i - 1])) &&
                std::isdigit(static_cast<unsigned char>(t[i + 1]));
      if (!ok) return false;
      continue;
    }
    s.push_back(t[i]);
  }
  std::string low;
  for (char c : s) low.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  size_t k = (low[0] == '+' || low[0] == '-') ? 1 : 0;
  std::string body = low.substr(k);
  if (body == "inf" || body == "infinity" || body == "nan") {
    double x = body == "nan" ? NAN : INFINITY;
    *out = low[0] == '-' ? -x : x;
    return true;
  }
  for (char c : body) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' ||
          c == '-')) {
      return false;
    }
  }
  if (body.find_first_of("0123456789") == std::string::npos) return false;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Python's int(str, base) for base 10 (and 2..36), with underscores and whitespace.
bool ParsePyInt(const std::string& s0, int base, int64_t* out) {
  size_t b = 0, e = s0.size();
  while (b < e && IsPySpace(static_cast<unsigned char>(s0[b]))) ++b;
  while (e > b && IsPySpace(static_cast<unsigned char>(s0[e - 1]))) --e;
  if (b == e) return false;
  bool neg = false;
  if (s0[b] == '+' || s0[b] == '-') neg = s0[b++] == '-';
  if (b == e) return false;
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (e - b > 2 && s0[b] == '0') {
      char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s0[b + 1])));
      int pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
      if (pb != 0 && (base == 0 || base == pb)) {
        base = pb;
        b += 2;
        if (b < e && s0[b] == '_') ++b;
      }
    }
    if (base == 0) base = 10;
  }
  uint64_t v = 0;
  bool any = false;
  for (size_t i = b; i < e; ++i) {
    char c = s0[i];
    if (c == '_') {
      if (!any || i + 1 >= e || s0[i + 1] == '_') return false;
      continue;
    }
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : std::isalpha(static_cast<unsigned char>(c))
                ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                : 99;
    if (d >= base) return false;
    if (v > (static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(d)) /
                static_cast<uint64_t>(base)) {
      RuntimeError("OverflowError: integer too large");
    }
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    any = true;
  }
  if (!any) return false;
  *out = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  return true;
}

int64_t FloatToInt(double d) {
  if (!std::isfinite(d)) {
    RuntimeError(std::isnan(d) ? "ValueError: cannot convert float NaN to integer"
                               : "OverflowError: cannot convert float infinity to integer");
  }
  if (d >= 9.2e18 || d <= -9.2e18) RuntimeError("OverflowError: integer too large");
  return static_cast<int64_t>(d);
}

Value FInt(Interpreter&, const Value& v, CallArgs& a) {
  CheckArgs(a, "int", 2, {"default", "base"});
  const Value* d = GetArg(a, 0, "default");
  const Value* b = GetArg(a, 1, "base");
  Value dflt = d ? *d : Value::Int(0);
  int base = b ? static_cast<int>(ToInt(*b, "base")) : 10;
  if (v.is_undefined()) FailUndefined(v);
  if (v.is_string()) {
    if (base != 0 && (base < 2 || base > 36))
      RuntimeError("ValueError: int() base must be >= 2 and <= 36, or 0");
    int64_t out;
    if (ParsePyInt(v.str(), base, &out)) return Value::Int(out);
    double f;
    if (ParsePyFloat(v.str(), &f)) return Value::Int(FloatToInt(f));
    return dflt;
  }
  if (v.is_integral()) return Value::Int(v.i());
  if (v.is_float()) return Value::Int(FloatToInt(v.f()));
  return dflt;
}

Value FFloat(Interpreter&, const Value& v, CallArgs& a) {
  CheckArgs(a, "float", 1, {"default"});
  const Value* d = GetArg(a, 0, "default");
  if (v.is_undefined()) FailUndefined(v);
  if (v.is_number()) return Value::Float(v.f());
  if (v.is_string()) {
    double f;
    if (ParsePyFloat(v.str(), &f)) return Value::Float(f);
  }
  return d ? *d : Value::Float(0.0);
}

Value FFormat(Interpreter& in, const Value& v, CallArgs& a) {
  if (!a.args.empty() && !a.kwargs.empty()) {
    FilterArgError("can't handle positional and keyword arguments at the same time");
  }
  Value fmt = SoftStr(v);
  if (!a.kwargs.empty()) {
    auto d = std::make_shared<DictData>();
    for (auto& kv : a.kwargs) d->Set(Value::Str(kv.first), kv.second);
    return PercentFormat(in, fmt, Value::Dict(std::move(d)));
  }
  return PercentFormat(in, fmt, MakeTuple(a.args));
}

Value FIndent(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "indent", 3, {"width", "first", "blank"});
  const Value* w = GetArg(a, 0, "width");
  const Value* f = GetArg(a, 1, "first");
  const Value* b = GetArg(a, 2, "blank");
  std::string indention;
  if (w != nullptr && w->is_string()) {
    indention = w->str();
  } else {
    int64_t n = w ? ToInt(*w, "width") : 4;
    if (n > 0) {
      if (static_cast<uint64_t>(n) > in.max_value_bytes()) in.LimitExceeded("value size");
      in.Charge(static_cast<size_t>(n));
      indention.assign(static_cast<size_t>(n), ' ');
    }
  }
  bool first = f && Truthy(*f);
  bool blank = b && Truthy(*b);
  if (!v.is_string()) {
    if (v.is_undefined()) FailUndefined(v);
    RuntimeError("TypeError: unsupported operand type(s) for +=: '" + Tn(v) + "' and 'str'");
  }
  Value s = Value::Str(v.str() + "\n");
  CallArgs none;
  Value lines_v = CallStrMethod(in, s, "splitlines", none);
  const auto& lines = lines_v.items();
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + indention;
      rv += lines[i].str();
      in.CheckSize(rv.size());
      in.Charge(lines[i].str().size() + indention.size());
    }
  } else {
    rv = lines.empty() ? "" : lines[0].str();
    if (lines.size() > 1) {
      rv += "\n";
      for (size_t i = 1; i < lines.size(); ++i) {
        if (i > 1) rv += "\n";
        if (!lines[i].str().empty()) rv += indention;
        rv += lines[i].str();
        in.CheckSize(rv.size());
        in.Charge(lines[i].str().size() + indention.size());
      }
    }
  }
  if (first) rv = indention + rv;
  return Value::Str(std::move(rv));
}

Value FItemsImpl(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "items", 0, {});
  if (v.is_undefined()) return Generator({});
  if (!v.is_dict()) RuntimeError("TypeError: Can only get item pairs from a mapping.");
  std::vector<Value> out;
  in.Charge(v.dict().size() * 16);
  for (const auto& kv : v.dict().items) out.push_back(MakeTuple({kv.first, kv.second}));
  return Generator(std::move(out));
}

Value FItems(Interpreter& in, const Value& v, CallArgs& a) {
  return LazyGenerator([&] { return FItemsImpl(in, v, a); });
}

Value FJoin(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "join", 2, {"d", "attribute"});
  const Value* d = GetArg(a, 0, "d");
  const Value* attr = GetArg(a, 1, "attribute");
  std::string sep = d ? PyStr(*d) : "";
  std::string out;
  bool first = true;
  for (const Value& item : in.Iterate(v)) {
    Value x = (attr != nullptr && !attr->is_none()) ? AttrPath(in, item, *attr, nullptr) : item;
    if (!first) out += sep;
    first = false;
    size_t before = out.size();
    AppendPyStr(&out, x);
    in.CheckSize(out.size());
    in.Charge(out.size() - before + sep.size());
  }
  return Value::Str(std::move(out));
}

Value FList(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "list", 0, {});
  std::vector<Value> items = in.Iterate(v);
  in.Charge(items.size() * 8);
  return Value::List(std::move(items));
}

Value FLower(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "lower", 0, {});
  Value s = SoftStr(v);
  in.Charge(s.str().size());
  return Value::Str(PyLower(s.str()));
}

Value FUpper(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "upper", 0, {});
  Value s = SoftStr(v);
  in.Charge(s.str().size());
  return Value::Str(PyUpper(s.str()));
}

Value FMapImpl(Interpreter& in, const Value& v, CallArgs& a) {
  if (!Truthy(v)) return Generator({});  // jinja2: `if value:` before anything else
  std::vector<Value> items = in.Iterate(v);
  std::vector<Value> out;
  out.reserve(items.size());
  if (a.args.empty() && a.Kw("attribute") != nullptr) {
    const Value* attr = a.Kw("attribute");
    const Value* dflt = a.Kw("default");
    for (const auto& kv : a.kwargs) {
      if (kv.first != "attribute" && kv.first != "default") {
        FilterArgError("Unexpected keyword argument '" + kv.first + "'");
      }
    }
    for (const Value& item : items) {
      in.Step();
      out.push_back(AttrPath(in, item, *attr, dflt));
    }
    return Generator(std::move(out));
  }
  if (a.args.empty()) FilterArgError("map requires a filter argument");
  std::string name = PyStr(a.args[0]);
  CallArgs rest;
  rest.args.assign(a.args.begin() + 1, a.args.end());
  rest.kwargs = a.kwargs;
  for (const Value& item : items) {
    CallArgs args = rest;
    out.push_back(in.ApplyFilter(name, item, args));
  }
  return Generator(std::move(out));
}

Value FMap(Interpreter& in, const Value& v, CallArgs& a) {
  return LazyGenerator([&] { return FMapImpl(in, v, a); });
}

Value MinMax(Interpreter& in, const Value& v, CallArgs& a, bool want_max, const char* name) {
  CheckArgs(a, name, 2, {"case_sensitive", "attribute"});
  const Value* cs = GetArg(a, 0, "case_sensitive");
  const Value* attr = GetArg(a, 1, "attribute");
  bool case_sensitive = cs && Truthy(*cs);
  std::vector<Value> items = in.Iterate(v);
  if (items.empty()) return Value::UndefinedHint("No aggregated item, sequence was empty.");
  auto key = [&](const Value& x) {
    Value k = (attr != nullptr && !attr->is_none()) ? AttrPath(in, x, *attr, nullptr) : x;
    return case_sensitive ? k : IgnoreCase(k);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    in.Step();
    Value k = key(items[i]);
    bool better = want_max ? PyLess(best_key, k) : PyLess(k, best_key);
    if (better) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}

Value FMin(Interpreter& in, const Value& v, CallArgs& a) { return MinMax(in, v, a, false, "min"); }
Value FMax(Interpreter& in, const Value& v, CallArgs& a) { return MinMax(in, v, a, true, "max"); }

Value SelectRejectImpl(Interpreter& in, const Value& v, CallArgs& a, bool select, bool attr_mode) {
  std::vector<Value> out;
  if (!Truthy(v)) return Generator({});
  std::vector<Value> items = in.Iterate(v);
  size_t off = 0;
  Value attr;
  if (attr_mode) {
    if (a.args.empty()) FilterArgError("Missing parameter for attribute name");
    attr = a.args[0];
    off = 1;
  }
  bool has_test = a.args.size() > off;
  std::string test = has_test ? PyStr(a.args[off]) : "";
  CallArgs rest;
  if (has_test) rest.args.assign(a.args.begin() + static_cast<long>(off) + 1, a.args.end());
  rest.kwargs = a.kwargs;
  for (Value& item : items) {
    in.Step();
    Value x = attr_mode ? AttrPath(in, item, attr, nullptr) : item;
    bool r;
    if (has_test) {
      CallArgs args = rest;
      r = in.ApplyTest(test, x, args);
    } else {
      r = Truthy(x);
    }
    if (r == select) out.push_back(std::move(item));
  }
  return Generator(std::move(out));
}

Value SelectReject(Interpreter& in, const Value& v, CallArgs& a, bool select, bool attr_mode) {
  return LazyGenerator([&] { return SelectRejectImpl(in, v, a, select, attr_mode); });
}

Value FSelect(Interpreter& in, const Value& v, CallArgs& a) {
  return SelectReject(in, v, a, true, false);
}
Value FReject(Interpreter& in, const Value& v, CallArgs& a) {
  return SelectReject(in, v, a, false, false);
}
Value FSelectAttr(Interpreter& in, const Value& v, CallArgs& a) {
  return SelectReject(in, v, a, true, true);
}
Value FRejectAttr(Interpreter& in, const Value& v, CallArgs& a) {
  return SelectReject(in, v, a, false, true);
}

Value FReplace(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "replace", 3, {"old", "new", "count"});
  const Value* o = GetArg(a, 0, "old");
  const Value* n = GetArg(a, 1, "new");
  const Value* c = GetArg(a, 2, "count");
  if (o == nullptr || n == nullptr)
    RuntimeError("TypeError: do_replace() missing required argument");
  CallArgs args;
  args.args = {SoftStr(*o), SoftStr(*n)};
  if (c != nullptr && !c->is_none()) args.args.push_back(*c);
  return CallStrMethod(in, SoftStr(v), "replace", args);
}

Value FReverse(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "reverse", 0, {});
  if (v.is_string()) {
    std::vector<char32_t> cps = ToCodePoints(v.str());
    std::reverse(cps.begin(), cps.end());
    in.Charge(v.str().size());
    return Value::Str(FromCodePoints(cps.data(), cps.size()));
  }
  if (v.is_undefined()) return Value::List({}, ListKind::kReverseIterator);
  if (!(v.is_list() || v.is_dict())) {
    RuntimeError("TypeError: argument to reversed() must be a sequence");
  }
  std::vector<Value> items = in.Iterate(v);
  std::reverse(items.begin(), items.end());
  in.Charge(items.size() * 8);
  ListKind k =
      (v.is_list() && (v.list_kind() == ListKind::kList || v.list_kind() == ListKind::kTuple))
          ? ListKind::kReverseIterator
          : ListKind::kList;
  return Value::List(std::move(items), k);
}

// Python's round(x, ndigits) for floats: correctly rounded, ties to even (via exact printf).
double PyRoundFloat(double x, int64_t nd) {
  if (!std::isfinite(x)) return x;
  if (nd > 300) return x;
  if (nd < -308) return 0.0 * x;
  if (nd >= 0) {
    char buf[400];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(nd), x);
    return std::strtod(buf, nullptr);
  }
  double p = std::pow(10.0, static_cast<double>(-nd));
  double y = x / p;
  double r = std::nearbyint(y);
  return r * p;
}

Value FRound(Interpreter&, const Value& v, CallArgs& a) {
  CheckArgs(a, "round", 2, {"precision", "method"});
  const Value* p = GetArg(a, 0, "precision");
  const Value* m = GetArg(a, 1, "method");
  int64_t prec = p ? ToInt(*p, "precision") : 0;
  std::string method = m ? PyStr(*m) : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    FilterArgError("method must be common, ceil or floor");
  }
  if (!v.is_number()) {
    if (v.is_undefined()) FailUndefined(v);
    RuntimeError("TypeError: type " + Tn(v) + " doesn't define __round__ method");
  }
  if (method == "common") {
    if (v.is_integral()) {
      if (prec >= 0) return Value::Int(v.i());
      double r = PyRoundFloat(static_cast<double>(v.i()), prec);
      return Value::Int(static_cast<int64_t>(r));
    }
    return Value::Float(PyRoundFloat(v.f(), prec));
  }
  double scale = std::pow(10.0, static_cast<double>(prec));
  double x = v.f() * scale;
  x = method == "ceil" ? std::ceil(x) : std::floor(x);
  return Value::Float(x / scale);
}

Value FSliceImpl(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "slice", 2, {"slices", "fill_with"});
  const Value* sl = GetArg(a, 0, "slices");
  if (sl == nullptr) RuntimeError("TypeError: do_slice() missing required argument 'slices'");
  int64_t slices = ToInt(*sl, "slices");
  const Value* fill = GetArg(a, 1, "fill_with");
  std::vector<Value> seq = in.Iterate(v);
  int64_t length = static_cast<int64_t>(seq.size());
  if (slices == 0) RuntimeError("ZeroDivisionError: integer division or modulo by zero");
  if (slices < 0 || slices > 100000) RuntimeError("ValueError: slices out of range");
  auto floordiv = [](int64_t x, int64_t y) {
    return x / y - ((x % y != 0) && ((x < 0) != (y < 0)));
  };
  int64_t per = floordiv(length, slices);
  int64_t extra = length - per * slices;
  int64_t offset = 0;
  std::vector<Value> out;
  for (int64_t n = 0; n < slices; ++n) {
    in.Step();
    int64_t start = offset + n * per;
    if (n < extra) ++offset;
    int64_t end = offset + (n + 1) * per;
    std::vector<Value> tmp;
    for (int64_t i = std::max<int64_t>(start, 0); i < std::min(end, length); ++i) {
      tmp.push_back(seq[static_cast<size_t>(i)]);
    }
    if (fill != nullptr && !fill->is_none() && n >= extra) tmp.push_back(*fill);
    out.push_back(Value::List(std::move(tmp)));
  }
  return Generator(std::move(out));
}

Value FSlice(Interpreter& in, const Value& v, CallArgs& a) {
  return LazyGenerator([&] { return FSliceImpl(in, v, a); });
}

Value FGroupBy(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "groupby", 3, {"attribute", "default", "case_sensitive"});
  const Value* attr = GetArg(a, 0, "attribute");
  if (attr == nullptr) RuntimeError("TypeError: groupby() missing required argument 'attribute'");
  const Value* dflt = GetArg(a, 1, "default");
  const Value* cs = GetArg(a, 2, "case_sensitive");
  bool case_sensitive = cs && Truthy(*cs);
  std::vector<Value> items = in.Iterate(v);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i) {
    Value k = AttrPath(in, items[i], *attr, dflt);
    keyed.emplace_back(case_sensitive ? k : IgnoreCase(k), i);
  }
  in.Charge(items.size() * 16);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    in.Step();
    return PyLess(x.first, y.first);
  });
  // itertools.groupby over the sorted items: runs of equal keys.
  std::vector<Value> out;
  size_t i = 0;
  while (i < keyed.size()) {
    size_t j = i;
    std::vector<Value> group;
    while (j < keyed.size() && PyEquals(keyed[j].first, keyed[i].first)) {
      group.push_back(items[keyed[j].second]);
      ++j;
    }
    // The grouper is the key as found on the group's first item (not lowercased).
    Value grouper = case_sensitive ? keyed[i].first : AttrPath(in, group[0], *attr, dflt);
    Value t = MakeTuple({grouper, Value::List(std::move(group))});
    const_cast<ListData&>(t.listdata()).group_tuple = true;
    out.push_back(std::move(t));
    i = j;
  }
  return Value::List(std::move(out));
}

Value FSort(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "sort", 3, {"reverse", "case_sensitive", "attribute"});
  const Value* rev = GetArg(a, 0, "reverse");
  const Value* cs = GetArg(a, 1, "case_sensitive");
  const Value* attr = GetArg(a, 2, "attribute");
  bool reverse = rev && Truthy(*rev);
  bool case_sensitive = cs && Truthy(*cs);
  std::vector<Value> items = in.Iterate(v);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i) {
    Value k =
        (attr != nullptr && !attr->is_none()) ? AttrPath(in, items[i], *attr, nullptr) : items[i];
    if (!case_sensitive) k = IgnoreCase(k);
    keyed.emplace_back(std::move(k), i);
  }
  in.Charge(items.size() * 16);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    in.Step();
    return reverse ? PyLess(y.first, x.first) : PyLess(x.first, y.first);
  });
  std::vector<Value> out;
  for (auto& k : keyed) out.push_back(items[k.second]);
  return Value::List(std::move(out));
}

Value FString(Interpreter&, const Value& v, CallArgs& a) {
  CheckArgs(a, "string", 0, {});
  return SoftStr(v);
}

Value FSum(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "sum", 2, {"attribute", "start"});
  const Value* attr = GetArg(a, 0, "attribute");
  const Value* st = GetArg(a, 1, "start");
  Value total = st ? *st : Value::Int(0);
  if (total.is_string())
    RuntimeError("TypeError: sum() can't sum strings [use ''.join(seq) instead]");
  for (const Value& item : in.Iterate(v)) {
    in.Step();
    Value x = (attr != nullptr && !attr->is_none()) ? AttrPath(in, item, *attr, nullptr) : item;
    total = BinaryOp(in, BinOp::kAdd, total, x);
  }
  return total;
}

Value FTitle(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "title", 0, {});
  // jinja2: each chunk after [-\s({\[<]+ gets item[0].upper() + item[1:].lower().
  std::string s = PyStr(v);
  in.Charge(s.size());
  auto is_sep = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || IsPySpace(c);
  };
  std::string out;
  bool at_start = true;
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = DecodeUtf8(s, &i);
    if (is_sep(c)) {
      AppendUtf8(&out, c);
      at_start = true;
      continue;
    }
    AppendCaseMapped(&out, c, at_start ? CaseKind::kUpper : CaseKind::kLower);
    at_start = false;
  }
  return Value::Str(std::move(out));
}

Value FToJson(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "tojson", 4, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  const Value* ea = GetArg(a, 0, "ensure_ascii");
  const Value* ind = GetArg(a, 1, "indent");
  const Value* sep = GetArg(a, 2, "separators");
  const Value* sk = GetArg(a, 3, "sort_keys");
  o.ensure_ascii = ea && Truthy(*ea);
  o.sort_keys = sk && Truthy(*sk);
  if (ind != nullptr && !ind->is_none()) {
    o.has_indent = true;
    if (ind->is_string()) {
      o.indent = ind->str();
    } else if (ind->is_integral()) {
      int64_t n = ind->i();
      if (n > 1000) in.LimitExceeded("value size");
      if (n > 0) o.indent.assign(static_cast<size_t>(n), ' ');
    } else {
      RuntimeError("TypeError: can't multiply sequence by non-int of type '" + Tn(*ind) + "'");
    }
    o.item_sep = ",";
  }
  if (sep != nullptr && !sep->is_none()) {
    if (!sep->is_list() || sep->items().size() != 2 || !sep->items()[0].is_string() ||
        !sep->items()[1].is_string()) {
      RuntimeError("ValueError: separators must be a (item_separator, key_separator) pair");
    }
    o.item_sep = sep->items()[0].str();
    o.key_sep = sep->items()[1].str();
  }
  return Value::Str(JsonDumps(in, v, o));
}

Value FTrim(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "trim", 1, {"chars"});
  const Value* c = GetArg(a, 0, "chars");
  CallArgs args;
  if (c != nullptr) args.args.push_back(*c);
  return CallStrMethod(in, SoftStr(v), "strip", args);
}

Value FTruncate(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "truncate", 4, {"length", "killwords", "end", "leeway"});
  const Value* l = GetArg(a, 0, "length");
  const Value* k = GetArg(a, 1, "killwords");
  const Value* e = GetArg(a, 2, "end");
  const Value* lw = GetArg(a, 3, "leeway");
  int64_t length = l ? ToInt(*l, "length") : 255;
  bool killwords = k && Truthy(*k);
  std::string end = e ? PyStr(*e) : "...";
  int64_t leeway = (lw && !lw->is_none()) ? ToInt(*lw, "leeway") : 5;
  int64_t end_len = static_cast<int64_t>(CodePointCount(end));
  if (length < end_len) {
    RuntimeError("AssertionError: expected length >= " + std::to_string(end_len) + ", got " +
                 std::to_string(length));
  }
  if (leeway < 0)
    RuntimeError("AssertionError: expected leeway >= 0, got " + std::to_string(leeway));
  if (!v.is_string() && Len(in, v) <= length + leeway) return v;  // jinja2 returns it as is
  if (!v.is_string())
    RuntimeError("AttributeError: '" + Tn(v) + "' object has no attribute 'rsplit'");
  const std::string& s = v.str();
  std::vector<char32_t> cps = ToCodePoints(s);
  in.Charge(s.size());
  if (static_cast<int64_t>(cps.size()) <= length + leeway) return v;
  std::string head = FromCodePoints(cps.data(), static_cast<size_t>(length - end_len));
  if (killwords) return Value::Str(head + end);
  size_t sp = head.rfind(' ');
  if (sp != std::string::npos) head = head.substr(0, sp);
  return Value::Str(head + end);
}

Value FUniqueImpl(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "unique", 2, {"case_sensitive", "attribute"});
  const Value* cs = GetArg(a, 0, "case_sensitive");
  const Value* attr = GetArg(a, 1, "attribute");
  bool case_sensitive = cs && Truthy(*cs);
  std::vector<Value> seen, out;
  for (const Value& item : in.Iterate(v)) {
    Value k = (attr != nullptr && !attr->is_none()) ? AttrPath(in, item, *attr, nullptr) : item;
    if (!case_sensitive) k = IgnoreCase(k);
    CheckHashable(k);
    bool dup = false;
    for (const Value& s : seen) {
      in.Step();
      if (PyEquals(s, k)) {
        dup = true;
        break;
      }
    }
    if (!dup) {
      seen.push_back(k);
      out.push_back(item);
    }
  }
  return Generator(std::move(out));
}

Value FUnique(Interpreter& in, const Value& v, CallArgs& a) {
  return LazyGenerator([&] { return FUniqueImpl(in, v, a); });
}

Value FWordCount(Interpreter& in, const Value& v, CallArgs& a) {
  CheckArgs(a, "wordcount", 0, {});
  std::string s = PyStr(v);
  in.Charge(s.size());
  int64_t n = 0;
  bool in_word = false;
  size_t i = 0;
  while (i < s.size()) {
    char32_t c = DecodeUtf8(s, &i);
    bool w = c == '_' || IsPyAlpha(c) || IsPyDecimal(c) || IsPyDigit(c) || IsPyNumeric(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::Int(n);
}

// ---- tests ----

bool TOdd(Interpreter& in, const Value& v, CallArgs&) {
  return PyEquals(BinaryOp(in, BinOp::kMod, v, Value::Int(2)), Value::Int(1));
}
bool TEven(Interpreter& in, const Value& v, CallArgs&) {
  return PyEquals(BinaryOp(in, BinOp::kMod, v, Value::Int(2)), Value::Int(0));
}
bool TDivisibleBy(Interpreter& in, const Value& v, CallArgs& a) {
  const Value* n = GetArg(a, 0, "num");
  if (n == nullptr) RuntimeError("TypeError: test_divisibleby() missing required argument 'num'");
  return PyEquals(BinaryOp(in, BinOp::kMod, v, *n), Value::Int(0));
}
bool TDefined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool TUndefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool TFilter(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && FindFilter(v.str()) != nullptr;
}
bool TTest(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && FindTest(v.str()) != nullptr;
}
bool TNone(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool TBoolean(Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); }
bool TFalse(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.b(); }
bool TTrue(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.b(); }
bool TInteger(Interpreter&, const Value& v, CallArgs&) { return v.is_int(); }
bool TFloat(Interpreter&, const Value& v, CallArgs&) { return v.is_float(); }
bool TLower(Interpreter& in, const Value& v, CallArgs&) {
  MethodFn fn = nullptr;
  Value s = SoftStr(v);
  FindMethod(s, "islower", &fn);
  CallArgs none;
  return fn(in, s, none).b();
}
bool TUpper(Interpreter& in, const Value& v, CallArgs&) {
  MethodFn fn = nullptr;
  Value s = SoftStr(v);
  FindMethod(s, "isupper", &fn);
  CallArgs none;
  return fn(in, s, none).b();
}
bool TString(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool TMapping(Interpreter&, const Value& v, CallArgs&) { return v.is_dict(); }
bool TNumber(Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }
bool TSequence(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_dict() || IsSequenceKind(v);
}
bool TIterable(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_object()) return v.obj()->TypeName() == "LoopContext" || v.obj()->TypeName() == "Cycler";
  return v.is_undefined() || v.is_string() || v.is_dict() || v.is_list();
}
bool TCallable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || (v.is_object() && v.obj()->IsCallable());
}
bool TSameAs(Interpreter&, const Value& v, CallArgs& a) {
  const Value* o = GetArg(a, 0, "other");
  if (o == nullptr) RuntimeError("TypeError: test_sameas() missing required argument 'other'");
  if (v.kind() != o->kind()) return false;
  switch (v.kind()) {
    case ValueKind::kNone:
      return true;
    case ValueKind::kBool:
      return v.b() == o->b();
    case ValueKind::kInt:
      return v.i() == o->i() && v.i() >= -5 && v.i() <= 256;  // CPython's small-int cache
    case ValueKind::kUndefined:
      return false;
    default:
      return v.heap() == o->heap();
  }
}
bool TEscaped(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && v.markup(); }
bool TIn(Interpreter&, const Value& v, CallArgs& a) {
  const Value* s = GetArg(a, 0, "seq");
  if (s == nullptr) RuntimeError("TypeError: test_in() missing required argument 'seq'");
  return Contains(*s, v);
}

template <CmpOp kOp>
bool TCompare(Interpreter&, const Value& v, CallArgs& a) {
  if (a.args.size() != 1) RuntimeError("TypeError: comparison test takes exactly one argument");
  return CompareOp(kOp, v, a.args[0]);
}

// ---- global functions ----

Value GRange(Interpreter& in, CallArgs& a) {
  if (!a.kwargs.empty()) RuntimeError("TypeError: range() takes no keyword arguments");
  if (a.args.empty() || a.args.size() > 3) {
    RuntimeError("TypeError: range expected at least 1 argument, got " +
                 std::to_string(a.args.size()));
  }
  auto arg = [&](size_t i) {
    const Value& x = a.args[i];
    if (!x.is_integral()) {
      if (x.is_undefined()) FailUndefined(x);
      RuntimeError("TypeError: '" + Tn(x) + "' object cannot be interpreted as an integer");
    }
    return x.i();
  };
  int64_t start = 0, stop, step = 1;
  if (a.args.size() == 1) {
    stop = arg(0);
  } else {
    start = arg(0);
    stop = arg(1);
    if (a.args.size() == 3) step = arg(2);
  }
  if (step == 0) RuntimeError("ValueError: range() arg 3 must not be zero");
  // len(range): overflow-safe in 128 bits.
  __int128 len = 0;
  if (step > 0 && start < stop) len = (static_cast<__int128>(stop) - start - 1) / step + 1;
  if (step < 0 && start > stop)
    len = (static_cast<__int128>(start) - stop - 1) / -static_cast<__int128>(step) + 1;
  if (len > 100000) {
    RuntimeError(
        "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  in.Charge(static_cast<size_t>(len) * 8);
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(len));
  for (int64_t k = 0, x = start; k < static_cast<int64_t>(len); ++k, x += step)
    out.push_back(Value::Int(x));
  return Value::List(std::move(out), ListKind::kList);
}

Value GNamespace(Interpreter& in, CallArgs& a) {
  auto ns = in.Track(std::make_shared<NamespaceObj>());
  if (a.args.size() > 1)
    RuntimeError("TypeError: dict expected at most 1 argument, got " +
                 std::to_string(a.args.size()));
  if (a.args.size() == 1) {
    const Value& init = a.args[0];
    if (init.is_dict()) {
      for (const auto& kv : init.dict().items) ns->attrs.Set(kv.first, kv.second);
    } else {
      for (const Value& pair : in.Iterate(init)) {
        std::vector<Value> kv = in.Iterate(pair);
        if (kv.size() != 2)
          RuntimeError("ValueError: dictionary update sequence element has wrong length");
        ns->attrs.Set(kv[0], kv[1]);
      }
    }
  }
  for (auto& kv : a.kwargs) ns->attrs.Set(Value::Str(kv.first), kv.second);
  return Value::Obj(std::move(ns));
}

Value GDict(Interpreter& in, CallArgs& a) {
  auto d = std::make_shared<DictData>();
  if (a.args.size() > 1)
    RuntimeError("TypeError: dict expected at most 1 argument, got " +
                 std::to_string(a.args.size()));
  if (a.args.size() == 1) {
    const Value& init = a.args[0];
    if (init.is_dict()) {
      d->items = init.dict().items;
    } else {
      for (const Value& pair : in.Iterate(init)) {
        std::vector<Value> kv = in.Iterate(pair);
        if (kv.size() != 2)
          RuntimeError("ValueError: dictionary update sequence element has wrong length");
        d->Set(kv[0], kv[1]);
      }
    }
  }
  for (auto& kv : a.kwargs) d->Set(Value::Str(kv.first), kv.second);
  in.Charge(d->size() * 16);
  return Value::Dict(std::move(d));
}

Value GRaiseException(Interpreter&, CallArgs& a) {
  std::string msg = a.args.empty() ? "" : PyStr(a.args[0]);
  Fail(ErrorKind::kRaised, msg);
}

Value GStrftimeNow(Interpreter& in, CallArgs& a) {
  if (a.args.size() != 1 || !a.args[0].is_string()) {
    RuntimeError("TypeError: strftime_now() takes one string argument");
  }
  return Value::Str(Strftime(in.Now(), a.args[0].str()));
}

class CyclerObj final : public Object {
 public:
  explicit CyclerObj(std::vector<Value> items) : items_(std::move(items)) {}
  std::string_view TypeName() const override { return "Cycler"; }
  std::string Repr() const override { return "<jinja2.utils.Cycler object>"; }
  void ReleaseRefs() override { items_.clear(); }
  std::vector<Value> items_;
  size_t pos_ = 0;
};

class CyclerMethod final : public Object {
 public:
  CyclerMethod(std::shared_ptr<CyclerObj> c, int which) : c_(std::move(c)), which_(which) {}
  std::string_view TypeName() const override { return "method"; }
  std::string Repr() const override { return "<bound method Cycler>"; }
  bool IsCallable() const override { return true; }
  Value Call(Interpreter&, CallArgs&) const override {
    if (which_ == 0) {  // next()
      Value v = c_->items_[c_->pos_];
      c_->pos_ = (c_->pos_ + 1) % c_->items_.size();
      return v;
    }
    c_->pos_ = 0;  // reset()
    return Value::None();
  }

 private:
  std::shared_ptr<CyclerObj> c_;
  int which_;
};

// Cycler needs shared ownership for its bound methods; a small wrapper provides it.
class CyclerView final : public Object {
 public:
  explicit CyclerView(std::shared_ptr<CyclerObj> c) : c_(std::move(c)) {}
  std::string_view TypeName() const override { return "Cycler"; }
  std::string Repr() const override { return c_->Repr(); }
  bool GetAttr(std::string_view name, Value* out) const override {
    if (name == "next" || name == "__next__") {
      *out = Value::Obj(std::make_shared<CyclerMethod>(c_, 0));
    } else if (name == "reset") {
      *out = Value::Obj(std::make_shared<CyclerMethod>(c_, 1));
    } else if (name == "current") {
      *out = c_->items_[c_->pos_];
    } else if (name == "items") {
      *out = MakeTuple(c_->items_);
    } else {
      return false;
    }
    return true;
  }

 private:
  std::shared_ptr<CyclerObj> c_;
};

Value GCycler(Interpreter& in, CallArgs& a) {
  if (a.args.empty()) RuntimeError("RuntimeError: at least one item has to be provided");
  return Value::Obj(std::make_shared<CyclerView>(in.Track(std::make_shared<CyclerObj>(a.args))));
}

class JoinerObj final : public Object {
 public:
  explicit JoinerObj(std::string sep) : sep_(std::move(sep)) {}
  std::string_view TypeName() const override { return "Joiner"; }
  std::string Repr() const override { return "<jinja2.utils.Joiner object>"; }
  bool IsCallable() const override { return true; }
  Value Call(Interpreter&, CallArgs&) const override {
    if (!used_) {
      used_ = true;
      return Value::Str("");
    }
    return Value::Str(sep_);
  }

 private:
  std::string sep_;
  mutable bool used_ = false;
};

Value GJoiner(Interpreter&, CallArgs& a) {
  const Value* s = GetArg(a, 0, "sep");
  return Value::Obj(std::make_shared<JoinerObj>(s ? PyStr(*s) : ", "));
}

struct FilterEntry {
  const char* name;
  FilterFn fn;
};

const FilterEntry kFilters[] = {
    {"abs", FAbs},
    {"attr", FAttr},
    {"batch", FBatch},
    {"capitalize", FCapitalize},
    {"center", FCenter},
    {"count", FLength},
    {"d", FDefault},
    {"default", FDefault},
    {"dictsort", FDictSort},
    {"e", FEscape},
    {"escape", FEscape},
    {"first", FFirst},
    {"float", FFloat},
    {"forceescape", FForceEscape},
    {"format", FFormat},
    {"groupby", FGroupBy},
    {"indent", FIndent},
    {"int", FInt},
    {"items", FItems},
    {"join", FJoin},
    {"last", FLast},
    {"length", FLength},
    {"list", FList},
    {"lower", FLower},
    {"map", FMap},
    {"max", FMax},
    {"min", FMin},
    {"reject", FReject},
    {"rejectattr", FRejectAttr},
    {"replace", FReplace},
    {"reverse", FReverse},
    {"round", FRound},
    {"safe", FSafe},
    {"select", FSelect},
    {"selectattr", FSelectAttr},
    {"slice", FSlice},
    {"sort", FSort},
    {"string", FString},
    {"sum", FSum},
    {"title", FTitle},
    {"tojson", FToJson},
    {"trim", FTrim},
    {"truncate", FTruncate},
    {"unique", FUnique},
    {"upper", FUpper},
    {"wordcount", FWordCount},
};

const char* const kUnsupportedFilters[] = {"filesizeformat", "groupby",   "pprint",
                                           "random",         "striptags", "urlencode",
                                           "urlize",         "wordwrap",  "xmlattr"};

struct TestEntry {
  const char* name;
  TestFn fn;
};

const TestEntry kTests[] = {
    {"odd", TOdd},
    {"even", TEven},
    {"divisibleby", TDivisibleBy},
    {"defined", TDefined},
    {"undefined", TUndefined},
    {"filter", TFilter},
    {"test", TTest},
    {"none", TNone},
    {"boolean", TBoolean},
    {"false", TFalse},
    {"true", TTrue},
    {"integer", TInteger},
    {"float", TFloat},
    {"lower", TLower},
    {"upper", TUpper},
    {"string", TString},
    {"mapping", TMapping},
    {"number", TNumber},
    {"sequence", TSequence},
    {"iterable", TIterable},
    {"callable", TCallable},
    {"sameas", TSameAs},
    {"escaped", TEscaped},
    {"in", TIn},
    {"==", TCompare<CmpOp::kEq>},
    {"eq", TCompare<CmpOp::kEq>},
    {"equalto", TCompare<CmpOp::kEq>},
    {"!=", TCompare<CmpOp::kNe>},
    {"ne", TCompare<CmpOp::kNe>},
    {">", TCompare<CmpOp::kGt>},
    {"gt", TCompare<CmpOp::kGt>},
    {"greaterthan", TCompare<CmpOp::kGt>},
    {">=", TCompare<CmpOp::kGe>},
    {"ge", TCompare<CmpOp::kGe>},
    {"<", TCompare<CmpOp::kLt>},
    {"lt", TCompare<CmpOp::kLt>},
    {"lessthan", TCompare<CmpOp::kLt>},
    {"<=", TCompare<CmpOp::kLe>},
    {"le", TCompare<CmpOp::kLe>},
};

struct GlobalEntry {
  const char* name;
  BuiltinFn fn;
};

const GlobalEntry kGlobals[] = {
    {"range", GRange},
    {"namespace", GNamespace},
    {"dict", GDict},
    {"raise_exception", GRaiseException},
    {"strftime_now", GStrftimeNow},
    {"cycler", GCycler},
    {"joiner", GJoiner},
};

}  // namespace

FilterFn FindFilter(std::string_view name) {
  for (const auto& f : kFilters) {
    if (name == f.name) return f.fn;
  }
  return nullptr;
}

bool IsUnsupportedFilter(std::string_view name) {
  for (const char* f : kUnsupportedFilters) {
    if (name == f) return true;
  }
  return false;
}

TestFn FindTest(std::string_view name) {
  for (const auto& t : kTests) {
    if (name == t.name) return t.fn;
  }
  return nullptr;
}

BuiltinFn FindGlobalFunction(std::string_view name) {
  for (const auto& g : kGlobals) {
    if (name == g.name) return g.fn;
  }
  return nullptr;
}

}  // namespace suanli::jinja
