// Value: the Python data model as Jinja templates see it.
//
// A Value is one of undefined (jinja2's Undefined, carrying why it is undefined), None, bool,
// int (int64; Python's big ints overflow into an error), float, str (valid UTF-8), list (also
// tuple and the dict views keys()/values()/items(), which differ only in how they print), dict
// (insertion ordered, keys of any hashable kind) or an object (namespace, loop, macro, bound
// method, ...). Lists and dicts are immutable once built, as ImmutableSandboxedEnvironment makes
// them, so values share their payload freely; only namespace() objects change after creation.
//
// The functions here give Python's semantics: str() and repr() (True, None, 1.0, 1e-05,
// ['a', {'k': None}]), truthiness, ==, ordering (TypeError between unorderable types) and
// jinja2's object_type_repr for error messages.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace suanli::jinja {

class Interpreter;

enum class ValueKind : uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kDict,
  kObject,
};

// kGenerator and kReverseIterator are one-shot iterators (what select, map, reverse, ... return
// in jinja2): always truthy, no len(), not subscriptable, empty once iterated.
enum class ListKind : uint8_t {
  kList,
  kTuple,
  kDictKeys,
  kDictValues,
  kDictItems,
  kGenerator,
  kReverseIterator,
};

struct HeapData {
  virtual ~HeapData() = default;
};

struct StrData final : HeapData {
  explicit StrData(std::string v) : s(std::move(v)) {}
  // Whether every byte is ASCII (then code point offsets are byte offsets). Cached; atomic
  // because string constants of a parsed template are shared by renders on several threads.
  bool ascii() const {
    int8_t a = ascii_.load(std::memory_order_relaxed);
    if (a < 0) {
      a = ComputeAscii() ? 1 : 0;
      ascii_.store(a, std::memory_order_relaxed);
    }
    return a == 1;
  }
  std::string s;

 private:
  bool ComputeAscii() const;
  mutable std::atomic<int8_t> ascii_{-1};
};

class Value;
struct CallArgs;

// Why a value is undefined, rendered as jinja2 renders Undefined._undefined_message.
struct UndefData final : HeapData {
  std::string hint;        // explicit message (wins when set)
  std::string name;        // the missing name or attribute (repr'd in messages)
  std::string owner_type;  // object_type_repr of the object it was looked up on ("" = a name)
  bool name_is_str = true;
  bool security = false;  // an unsafe attribute: any use is a SecurityError
  std::string Message() const;
};

// Objects beyond plain data: namespace, loop, macros, builtins, bound methods, cycler, joiner.
class Object : public HeapData {
 public:
  // Python type name, as in error messages ("Namespace", "LoopContext", "Macro", ...).
  virtual std::string_view TypeName() const = 0;
  virtual std::string Repr() const = 0;
  // Attribute lookup; false when there is no such attribute.
  virtual bool GetAttr(std::string_view name, Value* out) const;
  virtual bool IsCallable() const { return false; }
  virtual Value Call(Interpreter& in, CallArgs& args) const;
  // Drops the values this object holds. The interpreter calls it on every object it created
  // when a render ends, so reference cycles (a namespace holding itself, a macro held by the
  // scope it closes over) cannot leak.
  virtual void ReleaseRefs() {}
};

class Value {
 public:
  Value() = default;  // undefined, no hint
  static Value None() { return Value(ValueKind::kNone); }
  static Value Bool(bool b) {
    Value v(ValueKind::kBool);
    v.b_ = b;
    return v;
  }
  static Value Int(int64_t i) {
    Value v(ValueKind::kInt);
    v.i_ = i;
    return v;
  }
  static Value Float(double f) {
    Value v(ValueKind::kFloat);
    v.f_ = f;
    return v;
  }
  static Value Str(std::string s, bool markup = false) {
    Value v(ValueKind::kString);
    v.data_ = std::make_shared<StrData>(std::move(s));
    v.markup_ = markup;
    return v;
  }
  static Value Str(std::shared_ptr<StrData> s, bool markup = false) {
    Value v(ValueKind::kString);
    v.data_ = std::move(s);
    v.markup_ = markup;
    return v;
  }
  static Value List(std::vector<Value> items, ListKind kind = ListKind::kList);
  static Value Dict(std::shared_ptr<struct DictData> d);
  static Value Obj(std::shared_ptr<Object> o) {
    Value v(ValueKind::kObject);
    v.data_ = std::move(o);
    return v;
  }
  static Value Undefined(std::string name);
  static Value UndefinedHint(std::string hint);
  static Value UndefinedAttr(const Value& owner, std::string name);
  static Value UndefinedItem(const Value& owner, const Value& key);
  static Value Unsafe(const Value& owner, std::string_view attr);

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == ValueKind::kUndefined; }
  bool is_none() const { return kind_ == ValueKind::kNone; }
  bool is_bool() const { return kind_ == ValueKind::kBool; }
  bool is_int() const { return kind_ == ValueKind::kInt; }
  bool is_float() const { return kind_ == ValueKind::kFloat; }
  // bool, int and float: Python's numbers (bool is an int subclass).
  bool is_number() const {
    return kind_ == ValueKind::kBool || kind_ == ValueKind::kInt || kind_ == ValueKind::kFloat;
  }
  bool is_integral() const { return kind_ == ValueKind::kBool || kind_ == ValueKind::kInt; }
  bool is_string() const { return kind_ == ValueKind::kString; }
  bool is_list() const { return kind_ == ValueKind::kList; }
  bool is_dict() const { return kind_ == ValueKind::kDict; }
  bool is_object() const { return kind_ == ValueKind::kObject; }
  bool markup() const { return markup_; }

  bool b() const { return b_; }
  int64_t i() const { return kind_ == ValueKind::kBool ? (b_ ? 1 : 0) : i_; }
  double f() const { return kind_ == ValueKind::kFloat ? f_ : static_cast<double>(i()); }
  const std::string& str() const { return static_cast<const StrData*>(data_.get())->s; }
  const StrData& strdata() const { return *static_cast<const StrData*>(data_.get()); }
  std::shared_ptr<StrData> strptr() const { return std::static_pointer_cast<StrData>(data_); }
  const std::vector<Value>& items() const;
  ListKind list_kind() const;
  const struct ListData& listdata() const;
  // A list or tuple (subscriptable, sliceable), not a view or an iterator.
  bool is_sequence() const {
    return kind_ == ValueKind::kList &&
           (list_kind() == ListKind::kList || list_kind() == ListKind::kTuple);
  }
  const struct DictData& dict() const;
  Object* obj() const { return static_cast<Object*>(data_.get()); }
  std::shared_ptr<Object> objptr() const { return std::static_pointer_cast<Object>(data_); }
  const UndefData* undef() const { return static_cast<const UndefData*>(data_.get()); }
  const HeapData* heap() const { return data_.get(); }

 private:
  explicit Value(ValueKind k) : kind_(k) {}
  ValueKind kind_ = ValueKind::kUndefined;
  bool markup_ = false;
  union {
    bool b_;
    int64_t i_ = 0;
    double f_;
  };
  std::shared_ptr<HeapData> data_;
};

// Lists and dicts nest at most this deep (Python's repr gives up near 1000), so every recursive
// operation (repr, ==, <, json, destruction) stays within a bounded stack.
constexpr int kMaxValueDepth = 200;

struct ListData final : HeapData {
  std::vector<Value> items;
  ListKind kind = ListKind::kList;
  int depth = 1;
  mutable bool consumed = false;  // iterators: iterated once already
  bool group_tuple = false;       // groupby's (grouper, list) tuples: .grouper and .list work
  // Generators: the error the lazy Python generator would raise once iterated.
  std::shared_ptr<const struct TemplateError> pending_error;
};

inline bool IsIteratorKind(ListKind k) {
  return k == ListKind::kGenerator || k == ListKind::kReverseIterator;
}

// Insertion-ordered dict; string keys are indexed once the dict grows past a few entries.
struct DictData final : HeapData {
  std::vector<std::pair<Value, Value>> items;
  const Value* Find(const Value& key) const;  // throws TypeError for unhashable keys
  const Value* FindStr(std::string_view key) const;
  void Set(Value key, Value value);  // insert or replace, as Python's d[k] = v
  size_t size() const { return items.size(); }
  int depth = 1;

 private:
  void BuildIndex() const;
  mutable std::unordered_map<std::string_view, size_t> index_;
  mutable bool indexed_ = false;
};

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  const Value* Kw(std::string_view name) const {
    for (const auto& kv : kwargs) {
      if (kv.first == name) return &kv.second;
    }
    return nullptr;
  }
};

inline Value MakeTuple(std::vector<Value> v) { return Value::List(std::move(v), ListKind::kTuple); }

// Python semantics.
bool Truthy(const Value& v);
bool PyEquals(const Value& a, const Value& b);
// a < b, as Python's < (TypeError between unorderable types; UndefinedError for undefined).
bool PyLess(const Value& a, const Value& b);
std::string PyStr(const Value& v);
void AppendPyStr(std::string* out, const Value& v);
std::string PyRepr(const Value& v);
void AppendPyRepr(std::string* out, const Value& v);
void AppendStrRepr(std::string* out, std::string_view s);
std::string FloatRepr(double d);
std::string_view PyTypeName(const Value& v);
// jinja2.utils.object_type_repr: "None", "dict object", "str object", ...
std::string ObjectTypeRepr(const Value& v);
// Throws TypeError("unhashable type: 'list'") for values that cannot be dict keys.
void CheckHashable(const Value& v);
// Raises the UndefinedError (or SecurityError) an operation on an undefined value raises.
[[noreturn]] void FailUndefined(const Value& v);

// Markup escaping as jinja2 does it (& < > " ' become entities).
std::string HtmlEscape(std::string_view s);

}  // namespace suanli::jinja
