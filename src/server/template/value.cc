// Python semantics of template values (see value.h).
#include "server/template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "server/template/error.h"
#include "server/template/unicode.h"

namespace suanli::jinja {

bool StrData::ComputeAscii() const { return IsAscii(s); }

std::string UndefData::Message() const {
  if (!hint.empty()) return hint;
  std::string name_repr;
  if (name_is_str) {
    AppendStrRepr(&name_repr, name);
  } else {
    name_repr = name;  // already a repr (an int or other key)
  }
  if (owner_type.empty()) return name_repr + " is undefined";
  if (!name_is_str) return owner_type + " has no element " + name_repr;
  std::string out;
  AppendStrRepr(&out, owner_type);
  return out + " has no attribute " + name_repr;
}

bool Object::GetAttr(std::string_view, Value*) const { return false; }

Value Object::Call(Interpreter&, CallArgs&) const {
  RuntimeError("'" + std::string(TypeName()) + "' object is not callable");
}

namespace {

int Depth(const Value& v) {
  if (v.is_list()) return v.listdata().depth;
  if (v.is_dict()) return v.dict().depth;
  return 0;
}

[[noreturn]] void TooDeep() {
  Fail(ErrorKind::kLimit, "template exceeded the sandbox limit on value nesting (" +
                              std::to_string(kMaxValueDepth) + " levels)");
}

}  // namespace

Value Value::List(std::vector<Value> items, ListKind kind) {
  int depth = 0;
  for (const Value& x : items) depth = std::max(depth, Depth(x));
  if (depth + 1 > kMaxValueDepth) TooDeep();
  Value v(ValueKind::kList);
  auto d = std::make_shared<ListData>();
  d->depth = depth + 1;
  d->items = std::move(items);
  d->kind = kind;
  v.data_ = std::move(d);
  return v;
}

Value Value::Dict(std::shared_ptr<DictData> d) {
  int depth = 0;
  for (const auto& kv : d->items) depth = std::max({depth, Depth(kv.first), Depth(kv.second)});
  if (depth + 1 > kMaxValueDepth) TooDeep();
  d->depth = depth + 1;
  Value v(ValueKind::kDict);
  v.data_ = std::move(d);
  return v;
}

Value Value::Undefined(std::string name) {
  Value v;
  auto d = std::make_shared<UndefData>();
  d->name = std::move(name);
  v.data_ = std::move(d);
  return v;
}

Value Value::UndefinedHint(std::string hint) {
  Value v;
  auto d = std::make_shared<UndefData>();
  d->hint = std::move(hint);
  v.data_ = std::move(d);
  return v;
}

Value Value::UndefinedAttr(const Value& owner, std::string name) {
  Value v;
  auto d = std::make_shared<UndefData>();
  d->name = std::move(name);
  d->owner_type = ObjectTypeRepr(owner);
  v.data_ = std::move(d);
  return v;
}

Value Value::UndefinedItem(const Value& owner, const Value& key) {
  if (key.is_string()) return UndefinedAttr(owner, key.str());
  Value v;
  auto d = std::make_shared<UndefData>();
  d->name = PyRepr(key);
  d->name_is_str = false;
  d->owner_type = ObjectTypeRepr(owner);
  v.data_ = std::move(d);
  return v;
}

Value Value::Unsafe(const Value& owner, std::string_view attr) {
  Value v;
  auto d = std::make_shared<UndefData>();
  std::string a;
  AppendStrRepr(&a, attr);
  std::string t;
  AppendStrRepr(&t, PyTypeName(owner));
  d->hint = "access to attribute " + a + " of " + t + " object is unsafe.";
  d->name = std::string(attr);
  d->security = true;
  v.data_ = std::move(d);
  return v;
}

const std::vector<Value>& Value::items() const {
  return static_cast<const ListData*>(data_.get())->items;
}
ListKind Value::list_kind() const { return static_cast<const ListData*>(data_.get())->kind; }
const ListData& Value::listdata() const { return *static_cast<const ListData*>(data_.get()); }
const DictData& Value::dict() const { return *static_cast<const DictData*>(data_.get()); }

void DictData::BuildIndex() const {
  index_.clear();
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].first.is_string()) index_.emplace(items[i].first.str(), i);
  }
  indexed_ = true;
}

const Value* DictData::FindStr(std::string_view key) const {
  if (items.size() > 8) {
    if (!indexed_) BuildIndex();
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items[it->second].second;
  }
  for (const auto& kv : items) {
    if (kv.first.is_string() && kv.first.str() == key) return &kv.second;
  }
  return nullptr;
}

const Value* DictData::Find(const Value& key) const {
  if (key.is_string()) return FindStr(key.str());
  CheckHashable(key);
  for (const auto& kv : items) {
    if (!kv.first.is_string() && PyEquals(kv.first, key)) return &kv.second;
  }
  return nullptr;
}

void DictData::Set(Value key, Value value) {
  CheckHashable(key);
  for (auto& kv : items) {
    if (kv.first.is_string() == key.is_string() && PyEquals(kv.first, key)) {
      kv.second = std::move(value);  // Python keeps the first key object and its position
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
  if (indexed_ && items.back().first.is_string()) {
    index_.emplace(items.back().first.str(), items.size() - 1);
  }
}

void CheckHashable(const Value& v) {
  if (v.is_list()) {
    if (v.list_kind() == ListKind::kTuple) {
      for (const Value& x : v.items()) CheckHashable(x);
      return;
    }
    RuntimeError("TypeError: unhashable type: '" + std::string(PyTypeName(v)) + "'");
  }
  if (v.is_dict()) RuntimeError("TypeError: unhashable type: 'dict'");
}

[[noreturn]] void FailUndefined(const Value& v) {
  const UndefData* u = v.undef();
  if (u == nullptr) RuntimeError("UndefinedError: undefined value");
  if (u->security) RuntimeError("SecurityError: " + u->Message());
  RuntimeError("UndefinedError: " + u->Message());
}

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return false;
    case ValueKind::kBool:
      return v.b();
    case ValueKind::kInt:
      return v.i() != 0;
    case ValueKind::kFloat:
      return v.f() != 0.0;
    case ValueKind::kString:
      return !v.str().empty();
    case ValueKind::kList:
      return IsIteratorKind(v.list_kind()) || !v.items().empty();
    case ValueKind::kDict:
      return v.dict().size() != 0;
    case ValueKind::kObject:
      return true;
  }
  return false;
}

bool PyEquals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      if (a.is_float() && b.is_float()) return a.f() == b.f();
      // int vs float: exact comparison, as Python does for large ints.
      const Value& fl = a.is_float() ? a : b;
      const Value& in = a.is_float() ? b : a;
      double f = fl.f();
      if (!std::isfinite(f) || f != std::floor(f)) return false;
      if (f < -9.3e18 || f > 9.3e18) return false;
      return static_cast<int64_t>(f) == in.i() && static_cast<double>(in.i()) == f;
    }
    return a.i() == b.i();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return true;
    case ValueKind::kString:
      return a.str() == b.str();
    case ValueKind::kList: {
      if (IsIteratorKind(a.list_kind()) || IsIteratorKind(b.list_kind())) {
        return a.heap() == b.heap();
      }
      bool at = a.list_kind() == ListKind::kTuple, bt = b.list_kind() == ListKind::kTuple;
      if (at != bt) return false;
      const auto& x = a.items();
      const auto& y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!PyEquals(x[i], y[i])) return false;
      }
      return true;
    }
    case ValueKind::kDict: {
      const DictData& x = a.dict();
      const DictData& y = b.dict();
      if (x.size() != y.size()) return false;
      for (const auto& kv : x.items) {
        const Value* other = y.Find(kv.first);
        if (other == nullptr || !PyEquals(kv.second, *other)) return false;
      }
      return true;
    }
    case ValueKind::kObject:
      return a.heap() == b.heap();
    default:
      return false;
  }
}

bool PyLess(const Value& a, const Value& b) {
  if (a.is_undefined()) FailUndefined(a);
  if (b.is_undefined()) FailUndefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.f() < b.f();
    return a.i() < b.i();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();  // UTF-8 keeps code point order
  if (a.is_list() && b.is_list() &&
      (a.list_kind() == ListKind::kTuple) == (b.list_kind() == ListKind::kTuple)) {
    const auto& x = a.items();
    const auto& y = b.items();
    size_t n = std::min(x.size(), y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!PyEquals(x[i], y[i])) return PyLess(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  RuntimeError("TypeError: '<' not supported between instances of '" + std::string(PyTypeName(a)) +
               "' and '" + std::string(PyTypeName(b)) + "'");
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string_view sci(buf, res.ptr - buf);  // [-]d[.ddd]e[+-]dd
  size_t e = sci.find('e');
  std::string_view mant = sci.substr(0, e);
  int exp = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp);
  bool neg = mant[0] == '-';
  if (neg) mant.remove_prefix(1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits.push_back(c);
  }
  std::string out = neg ? "-" : "";
  if (exp >= -5 + 1 && exp < 16) {
    // Fixed notation, as repr() uses for 1e-4 <= |d| < 1e16.
    if (exp < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
    } else {
      size_t int_len = static_cast<size_t>(exp) + 1;
      if (digits.size() <= int_len) {
        out += digits;
        out.append(int_len - digits.size(), '0');
        out += ".0";
      } else {
        out += digits.substr(0, int_len);
        out += '.';
        out += digits.substr(int_len);
      }
    }
    return out;
  }
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char eb[16];
  std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  out += eb;
  return out;
}

void AppendStrRepr(std::string* out, std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  out->push_back(quote);
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    char32_t c = DecodeUtf8(s, &i);
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (IsPyPrintable(c)) {
      out->append(s.substr(start, i - start));
    } else {
      char buf[16];
      if (c < 0x100) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      } else if (c < 0x10000) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(c));
      }
      out->append(buf);
    }
  }
  out->push_back(quote);
}

void AppendPyRepr(std::string* out, const Value& v) {
  switch (v.kind()) {
    case ValueKind::kString:
      AppendStrRepr(out, v.str());
      return;
    case ValueKind::kUndefined:
      out->append("Undefined");
      return;
    case ValueKind::kList: {
      ListKind k = v.list_kind();
      const auto& items = v.items();
      const char* open = "[";
      const char* close = "]";
      if (k == ListKind::kTuple) {
        open = "(";
        close = items.size() == 1 ? ",)" : ")";
      } else if (k == ListKind::kDictKeys) {
        open = "dict_keys([";
        close = "])";
      } else if (k == ListKind::kDictValues) {
        open = "dict_values([";
        close = "])";
      } else if (k == ListKind::kDictItems) {
        open = "dict_items([";
        close = "])";
      } else if (k == ListKind::kGenerator) {
        out->append("<generator object select_or_reject at 0x7f0000000000>");
        return;
      } else if (k == ListKind::kReverseIterator) {
        out->append("<list_reverseiterator object at 0x7f0000000000>");
        return;
      }
      out->append(open);
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out->append(", ");
        AppendPyRepr(out, items[i]);
      }
      out->append(close);
      return;
    }
    case ValueKind::kDict: {
      out->push_back('{');
      bool first = true;
      for (const auto& kv : v.dict().items) {
        if (!first) out->append(", ");
        first = false;
        AppendPyRepr(out, kv.first);
        out->append(": ");
        AppendPyRepr(out, kv.second);
      }
      out->push_back('}');
      return;
    }
    default:
      AppendPyStr(out, v);
  }
}

void AppendPyStr(std::string* out, const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      return;
    case ValueKind::kNone:
      out->append("None");
      return;
    case ValueKind::kBool:
      out->append(v.b() ? "True" : "False");
      return;
    case ValueKind::kInt: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof(buf), v.i());
      out->append(buf, r.ptr);
      return;
    }
    case ValueKind::kFloat:
      out->append(FloatRepr(v.f()));
      return;
    case ValueKind::kString:
      out->append(v.str());
      return;
    case ValueKind::kList:
    case ValueKind::kDict:
      AppendPyRepr(out, v);
      return;
    case ValueKind::kObject:
      out->append(v.obj()->Repr());
      return;
  }
}

std::string PyStr(const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  AppendPyStr(&out, v);
  return out;
}

std::string PyRepr(const Value& v) {
  std::string out;
  AppendPyRepr(&out, v);
  return out;
}

std::string_view PyTypeName(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      return "Undefined";
    case ValueKind::kNone:
      return "NoneType";
    case ValueKind::kBool:
      return "bool";
    case ValueKind::kInt:
      return "int";
    case ValueKind::kFloat:
      return "float";
    case ValueKind::kString:
      return v.markup() ? "Markup" : "str";
    case ValueKind::kList:
      switch (v.list_kind()) {
        case ListKind::kTuple:
          return "tuple";
        case ListKind::kDictKeys:
          return "dict_keys";
        case ListKind::kDictValues:
          return "dict_values";
        case ListKind::kDictItems:
          return "dict_items";
        case ListKind::kGenerator:
          return "generator";
        case ListKind::kReverseIterator:
          return "list_reverseiterator";
        default:
          return "list";
      }
    case ValueKind::kDict:
      return "dict";
    case ValueKind::kObject:
      return v.obj()->TypeName();
  }
  return "object";
}

std::string ObjectTypeRepr(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is_undefined()) return "jinja2.runtime.Undefined object";
  if (v.is_object()) {
    std::string_view t = v.obj()->TypeName();
    if (t == "Namespace" || t == "LoopContext" || t == "Macro" || t == "Cycler" || t == "Joiner") {
      return "jinja2.runtime." + std::string(t) + " object";
    }
    return std::string(t) + " object";
  }
  if (v.is_string() && v.markup()) return "markupsafe.Markup object";
  return std::string(PyTypeName(v)) + " object";
}

}  // namespace suanli::jinja
