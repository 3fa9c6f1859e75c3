// Interpreter (see interpreter.h): expression evaluation, statements, scopes and the sandbox's
// attribute rules.
#include "server/template/interpreter.h"

#include <algorithm>
#include <cstdio>

#include "server/template/parser.h"
#include "server/template/unicode.h"

namespace suanli::jinja {

namespace {

bool IsDunder(std::string_view n) {
  return n.size() > 4 && n.substr(0, 2) == "__" && n.substr(n.size() - 2) == "__";
}

// Dunder attributes every Python object has (so they exist on an Undefined instance too).
bool IsObjectDunder(std::string_view n) {
  static const char* const kNames[] = {"__class__",
                                       "__doc__",
                                       "__init__",
                                       "__new__",
                                       "__repr__",
                                       "__str__",
                                       "__eq__",
                                       "__ne__",
                                       "__hash__",
                                       "__getattribute__",
                                       "__setattr__",
                                       "__delattr__",
                                       "__dir__",
                                       "__reduce__",
                                       "__reduce_ex__",
                                       "__sizeof__",
                                       "__format__",
                                       "__subclasshook__",
                                       "__init_subclass__",
                                       "__module__",
                                       "__slots__",
                                       "__lt__",
                                       "__le__",
                                       "__gt__",
                                       "__ge__",
                                       "__bool__",
                                       "__len__",
                                       "__iter__",
                                       "__getitem__",
                                       "__call__",
                                       "__add__",
                                       "__getattr__"};
  for (const char* k : kNames) {
    if (n == k) return true;
  }
  return false;
}

// Python's PySlice_AdjustIndices over a sequence of length `len`.
struct SliceRange {
  int64_t start, stop, step, count;
};
SliceRange AdjustSlice(int64_t len, const Value& start, const Value& stop, const Value& step) {
  SliceRange r{};
  r.step = step.is_none() ? 1 : step.i();
  if (r.step == 0) RuntimeError("ValueError: slice step cannot be zero");
  auto clamp = [&](const Value& v, bool is_start) -> int64_t {
    if (v.is_none()) {
      if (r.step < 0) return is_start ? len - 1 : -1;
      return is_start ? 0 : len;
    }
    int64_t x = v.i();
    if (x < 0) {
      x += len;
      if (x < 0) x = r.step < 0 ? -1 : 0;
    } else if (x >= len) {
      x = r.step < 0 ? len - 1 : len;
    }
    return x;
  };
  r.start = clamp(start, true);
  r.stop = clamp(stop, false);
  if (r.step > 0) {
    r.count = r.start < r.stop ? (r.stop - r.start - 1) / r.step + 1 : 0;
  } else {
    r.count = r.stop < r.start ? (r.start - r.stop - 1) / (-r.step) + 1 : 0;
  }
  return r;
}

bool SliceIndexOk(const Value& v) { return v.is_none() || v.is_integral(); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Objects

std::string MacroObj::Repr() const { return "<Macro '" + def_->name + "'>"; }

bool MacroObj::GetAttr(std::string_view name, Value* out) const {
  if (name == "name") {
    *out = Value::Str(def_->name);
  } else if (name == "arguments") {
    std::vector<Value> a;
    for (const auto& p : def_->params) a.push_back(Value::Str(p));
    *out = MakeTuple(std::move(a));
  } else if (name == "catch_kwargs") {
    *out = Value::Bool(def_->catch_kwargs);
  } else if (name == "catch_varargs") {
    *out = Value::Bool(def_->catch_varargs);
  } else if (name == "caller") {
    *out = Value::Bool(def_->uses_caller);
  } else {
    return false;
  }
  return true;
}

std::string BuiltinObj::Repr() const {
  if (type_ == "type") return "<class '" + name_ + "'>";
  return "<function " + name_ + ">";
}

std::string NamespaceObj::Repr() const {
  // Python's dict repr prints a dict already being printed as {...}.
  thread_local std::vector<const NamespaceObj*> active;
  if (std::find(active.begin(), active.end(), this) != active.end()) return "<Namespace {...}>";
  if (active.size() >= static_cast<size_t>(kMaxValueDepth)) {
    Fail(ErrorKind::kLimit, "template exceeded the sandbox limit on value nesting");
  }
  active.push_back(this);
  struct Pop {
    ~Pop() { active.pop_back(); }
  } pop;
  std::string out = "<Namespace {";
  bool first = true;
  for (const auto& kv : attrs.items) {
    if (!first) out += ", ";
    first = false;
    AppendPyRepr(&out, kv.first);
    out += ": ";
    AppendPyRepr(&out, kv.second);
  }
  return out + "}>";
}

bool NamespaceObj::GetAttr(std::string_view name, Value* out) const {
  const Value* v = attrs.FindStr(name);
  if (v == nullptr) return false;
  *out = *v;
  return true;
}

void NamespaceObj::SetAttr(std::string_view name, Value v) {
  attrs.Set(Value::Str(std::string(name)), std::move(v));
}

std::string BoundMethod::Repr() const {
  return "<built-in method " + name_ + " of " + std::string(PyTypeName(self_)) + " object>";
}

// ---------------------------------------------------------------------------------------------
// Interpreter

Interpreter::Interpreter(const InterpreterLimits& limits, std::function<CivilTime()> clock,
                         std::unordered_map<std::string, Value> globals)
    : limits_(limits), clock_(std::move(clock)), globals_(std::move(globals)) {}

void Interpreter::LimitExceeded(const char* what) {
  std::string msg = std::string("template exceeded the sandbox limit on ") + what;
  if (std::string_view(what) == "steps") {
    msg += " (" + std::to_string(limits_.max_steps) + ")";
  } else if (std::string_view(what) == "output size") {
    msg += " (" + std::to_string(limits_.max_output_bytes) + " bytes)";
  } else if (std::string_view(what) == "macro call depth") {
    msg += " (" + std::to_string(limits_.max_depth) + ")";
  }
  Fail(ErrorKind::kLimit, msg);
}

void Interpreter::Charge(size_t n) {
  charge_bytes_ += n;
  // One step per 4 bytes built: bounds both time and total allocation.
  steps_ += charge_bytes_ >> 2;
  charge_bytes_ &= 3;
  if (steps_ > limits_.max_steps) LimitExceeded("steps");
}

CivilTime Interpreter::Now() const { return clock_ ? clock_() : CivilTime{}; }

std::string Interpreter::Render(const Body& body) {
  std::string out;
  out_ = &out;
  scope_ = std::make_shared<Scope>(nullptr);
  root_scope_ = scope_;
  // Whatever way the render ends, break the reference cycles it may have built.
  struct Teardown {
    Interpreter* in;
    ~Teardown() {
      in->scope_.reset();
      in->root_scope_.reset();
      for (auto& o : in->tracked_) o->ReleaseRefs();
      in->tracked_.clear();
    }
  } teardown{this};
  try {
    ExecBody(body);
  } catch (TemplateError& e) {
    if (e.line == 0) e.line = line_;
    throw;
  }
  return out;
}

void Interpreter::Emit(std::string_view s) {
  if (out_->size() + s.size() > limits_.max_output_bytes) LimitExceeded("output size");
  out_->append(s);
}

void Interpreter::EmitValue(const Value& v) {
  if (v.is_string()) {
    Emit(v.str());
    return;
  }
  size_t before = out_->size();
  AppendPyStr(out_, v);
  if (out_->size() > limits_.max_output_bytes) {
    out_->resize(before);
    LimitExceeded("output size");
  }
}

Value Interpreter::Lookup(const std::string& name) {
  for (Scope* s = scope_.get(); s != nullptr; s = s->parent.get()) {
    if (Value* v = s->FindLocal(name)) return *v;
  }
  auto it = globals_.find(name);
  if (it != globals_.end()) return it->second;
  if (BuiltinFn fn = FindGlobalFunction(name)) {
    return Value::Obj(std::make_shared<BuiltinObj>(
        name, fn,
        (name == "dict" || name == "namespace" || name == "cycler" || name == "joiner")
            ? "type"
            : "function"));
  }
  return Value::Undefined(name);
}

std::vector<Value> Interpreter::Iterate(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      if (v.undef() != nullptr && v.undef()->security) FailUndefined(v);
      return {};
    case ValueKind::kList:
      if (IsIteratorKind(v.list_kind())) {
        if (v.listdata().consumed) return {};
        v.listdata().consumed = true;
        if (v.listdata().pending_error) throw *v.listdata().pending_error;
      }
      return v.items();
    case ValueKind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().size());
      for (const auto& kv : v.dict().items) keys.push_back(kv.first);
      return keys;
    }
    case ValueKind::kString: {
      std::vector<Value> chars;
      const std::string& s = v.str();
      Charge(s.size() * 8);
      size_t i = 0;
      while (i < s.size()) {
        size_t start = i;
        DecodeUtf8(s, &i);
        chars.push_back(Value::Str(s.substr(start, i - start)));
      }
      return chars;
    }
    default:
      RuntimeError("TypeError: '" + std::string(PyTypeName(v)) + "' object is not iterable");
  }
}

Value Interpreter::GetAttr(const Value& obj, std::string_view name) {
  if (obj.is_undefined()) {
    // Undefined.__getattr__ fails; only attributes every object has are found (and unsafe).
    bool security = obj.undef() != nullptr && obj.undef()->security;
    if (!security && IsObjectDunder(name)) return Value::Unsafe(obj, name);
    FailUndefined(obj);
  }
  if (IsDunder(name)) return Value::Unsafe(obj, name);
  switch (obj.kind()) {
    case ValueKind::kString:
    case ValueKind::kList:
    case ValueKind::kDict: {
      if (obj.is_list() && obj.listdata().group_tuple && (name == "grouper" || name == "list")) {
        return obj.items()[name == "grouper" ? 0 : 1];
      }
      MethodFn fn = nullptr;
      MethodSafety s = FindMethod(obj, name, &fn);
      if (s == MethodSafety::kSafe) {
        return Value::Obj(Track(std::make_shared<BoundMethod>(obj, std::string(name), fn)));
      }
      if (s == MethodSafety::kUnsafe) return Value::Unsafe(obj, name);
      if (obj.is_dict()) {
        if (const Value* v = obj.dict().FindStr(name)) return *v;
      }
      return Value::UndefinedAttr(obj, std::string(name));
    }
    case ValueKind::kObject: {
      Value out;
      if (obj.obj()->GetAttr(name, &out)) {
        if (!name.empty() && name[0] == '_') return Value::Unsafe(obj, name);
        return out;
      }
      return Value::UndefinedAttr(obj, std::string(name));
    }
    default:
      return Value::UndefinedAttr(obj, std::string(name));
  }
}

Value Interpreter::GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) FailUndefined(obj);
  switch (obj.kind()) {
    case ValueKind::kDict: {
      if (key.is_list() && key.list_kind() != ListKind::kTuple) break;
      if (key.is_dict()) break;
      if (const Value* v = obj.dict().Find(key)) return *v;
      break;
    }
    case ValueKind::kList:
    case ValueKind::kString: {
      if (!key.is_integral() || (obj.is_list() && !obj.is_sequence())) break;
      int64_t n = obj.is_list()
                      ? static_cast<int64_t>(obj.items().size())
                      : static_cast<int64_t>(obj.strdata().ascii() ? obj.str().size()
                                                                   : CodePointCount(obj.str()));
      int64_t i = key.i();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::UndefinedItem(obj, key);
      if (obj.is_list()) return obj.items()[static_cast<size_t>(i)];
      const std::string& s = obj.str();
      if (obj.strdata().ascii()) return Value::Str(s.substr(static_cast<size_t>(i), 1));
      size_t pos = 0;
      for (int64_t k = 0; k < i; ++k) DecodeUtf8(s, &pos);
      size_t end = pos;
      DecodeUtf8(s, &end);
      return Value::Str(s.substr(pos, end - pos));
    }
    default:
      break;
  }
  if (key.is_string()) {
    // The sandbox's getitem falls back to a (checked) attribute for string keys.
    const std::string& name = key.str();
    if (IsDunder(name)) return Value::Unsafe(obj, name);
    if (obj.is_object()) {
      Value out;
      if (obj.obj()->GetAttr(name, &out)) {
        if (!name.empty() && name[0] == '_') return Value::Unsafe(obj, name);
        return out;
      }
    } else if (obj.is_string() || obj.is_list() || obj.is_dict()) {
      MethodFn fn = nullptr;
      MethodSafety s = FindMethod(obj, name, &fn);
      if (s == MethodSafety::kSafe) {
        return Value::Obj(Track(std::make_shared<BoundMethod>(obj, name, fn)));
      }
      if (s == MethodSafety::kUnsafe) return Value::Unsafe(obj, name);
    }
  }
  return Value::UndefinedItem(obj, key);
}

Value Interpreter::CallValue(const Value& callee, CallArgs& args) {
  Step();
  if (callee.is_undefined()) FailUndefined(callee);
  if (callee.is_object() && callee.obj()->IsCallable()) return callee.obj()->Call(*this, args);
  RuntimeError("TypeError: '" + std::string(PyTypeName(callee)) + "' object is not callable");
}

Value Interpreter::ApplyFilter(std::string_view name, const Value& v, CallArgs& args) {
  FilterFn fn = FindFilter(name);
  if (fn == nullptr)
    RuntimeError("TemplateRuntimeError: No filter named '" + std::string(name) + "'.");
  Step();
  return fn(*this, v, args);
}

bool Interpreter::ApplyTest(std::string_view name, const Value& v, CallArgs& args) {
  TestFn fn = FindTest(name);
  if (fn == nullptr)
    RuntimeError("TemplateRuntimeError: No test named '" + std::string(name) + "'.");
  Step();
  return fn(*this, v, args);
}

Value Interpreter::CallMacro(const MacroObj& m, CallArgs& args) {
  const MacroDef& def = m.def();
  if (call_depth_ >= limits_.max_depth) LimitExceeded("macro call depth");
  auto scope = std::make_shared<Scope>(m.closure());
  size_t nparams = def.params.size();
  size_t first_default = nparams - def.defaults.size();
  // Positional arguments first, then keywords, then defaults (evaluated in the macro's scope, so
  // a default may use an earlier parameter).
  std::vector<bool> given(nparams, false);
  for (size_t i = 0; i < nparams && i < args.args.size(); ++i) {
    scope->Set(def.params[i], args.args[i]);
    given[i] = true;
  }
  std::vector<std::pair<std::string, Value>> extra_kwargs;
  Value caller;
  bool have_caller = false;
  for (auto& kv : args.kwargs) {
    bool matched = false;
    for (size_t i = args.args.size(); i < nparams; ++i) {
      if (def.params[i] == kv.first && !given[i]) {
        scope->Set(def.params[i], kv.second);
        given[i] = true;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (kv.first == "caller" && def.uses_caller && !have_caller) {
      caller = kv.second;
      have_caller = true;
      continue;
    }
    extra_kwargs.emplace_back(kv.first, kv.second);
  }
  if (!def.catch_kwargs && !extra_kwargs.empty()) {
    if (extra_kwargs[0].first == "caller") {
      RuntimeError("TypeError: macro '" + def.name +
                   "' was invoked with two values for the special caller argument. This is most "
                   "likely a bug.");
    }
    RuntimeError("TypeError: macro '" + def.name + "' takes no keyword argument '" +
                 extra_kwargs[0].first + "'");
  }
  if (!def.catch_varargs && args.args.size() > nparams) {
    RuntimeError("TypeError: macro '" + def.name + "' takes not more than " +
                 std::to_string(nparams) + " argument(s)");
  }
  if (def.uses_caller) {
    scope->Set("caller", have_caller ? caller : Value::UndefinedHint("No caller defined"));
  }
  if (def.catch_kwargs) {
    auto d = std::make_shared<DictData>();
    for (auto& kv : extra_kwargs) d->Set(Value::Str(kv.first), kv.second);
    scope->Set("kwargs", Value::Dict(std::move(d)));
  }
  if (def.catch_varargs) {
    std::vector<Value> rest;
    for (size_t i = nparams; i < args.args.size(); ++i) rest.push_back(args.args[i]);
    scope->Set("varargs", MakeTuple(std::move(rest)));
  }
  std::shared_ptr<Scope> saved = scope_;
  scope_ = scope;
  ++call_depth_;
  struct Restore {
    Interpreter* in;
    std::shared_ptr<Scope> saved;
    ~Restore() {
      in->scope_ = std::move(saved);
      --in->call_depth_;
    }
  } restore{this, saved};
  for (size_t i = 0; i < nparams; ++i) {
    if (given[i]) continue;
    if (i >= first_default) {
      scope->Set(def.params[i], Eval(*def.defaults[i - first_default]));
    } else {
      scope->Set(def.params[i],
                 Value::UndefinedHint("parameter '" + def.params[i] + "' was not provided"));
    }
  }
  Flow flow;
  std::string s = RenderToString(def.body, scope, &flow);
  return Value::Str(std::move(s));
}

std::string Interpreter::RenderToString(const Body& body, std::shared_ptr<Scope> scope,
                                        Flow* flow) {
  std::string buf;
  std::string* saved_out = out_;
  std::shared_ptr<Scope> saved_scope = scope_;
  out_ = &buf;
  scope_ = std::move(scope);
  struct Restore {
    Interpreter* in;
    std::string* out;
    std::shared_ptr<Scope> scope;
    ~Restore() {
      in->out_ = out;
      in->scope_ = std::move(scope);
    }
  } restore{this, saved_out, saved_scope};
  *flow = ExecBody(body);
  return buf;
}

// ---- expressions ----

Value Interpreter::Eval(const Expr& e) {
  NestGuard guard(this);
  Step();
  line_ = e.line;
  return EvalInner(e);
}

void Interpreter::EvalArgs(const ArgList& a, CallArgs* out) {
  out->args.reserve(a.args.size());
  for (const auto& x : a.args) out->args.push_back(Eval(*x));
  if (a.dyn_args) {
    Value extra = Eval(*a.dyn_args);
    for (Value& v : Iterate(extra)) out->args.push_back(std::move(v));
  }
  for (const auto& kv : a.kwargs) out->kwargs.emplace_back(kv.first, Eval(*kv.second));
  if (a.dyn_kwargs) {
    Value d = Eval(*a.dyn_kwargs);
    if (!d.is_dict()) {
      RuntimeError("TypeError: argument after ** must be a mapping, not " +
                   std::string(PyTypeName(d)));
    }
    for (const auto& kv : d.dict().items) {
      if (!kv.first.is_string()) RuntimeError("TypeError: keywords must be strings");
      out->kwargs.emplace_back(kv.first.str(), kv.second);
    }
  }
}

Value Interpreter::EvalCall(const CallExpr& e) {
  // `obj.method(...)` on str/list/dict calls the method directly (no bound-method object).
  if (e.callee->kind == ExprKind::kGetAttr) {
    const auto& ga = static_cast<const GetAttrExpr&>(*e.callee);
    Value obj = Eval(*ga.obj);
    if ((obj.is_string() || obj.is_list() || obj.is_dict()) && !IsDunder(ga.attr)) {
      MethodFn fn = nullptr;
      MethodSafety s = FindMethod(obj, ga.attr, &fn);
      if (s == MethodSafety::kSafe) {
        CallArgs args;
        EvalArgs(e.args, &args);
        Step();
        line_ = e.line;
        return fn(*this, obj, args);
      }
    }
    Value callee = GetAttr(obj, ga.attr);
    CallArgs args;
    EvalArgs(e.args, &args);
    line_ = e.line;
    return CallValue(callee, args);
  }
  Value callee = Eval(*e.callee);
  CallArgs args;
  EvalArgs(e.args, &args);
  line_ = e.line;
  return CallValue(callee, args);
}

Value Interpreter::EvalFilter(const FilterExpr& e, const Value* seed) {
  Value operand;
  if (e.operand) {
    if (e.operand->kind == ExprKind::kFilter && seed != nullptr) {
      NestGuard guard(this);
      operand = EvalFilter(static_cast<const FilterExpr&>(*e.operand), seed);
    } else {
      operand = Eval(*e.operand);
    }
  } else if (seed != nullptr) {
    operand = *seed;
  }
  CallArgs args;
  EvalArgs(e.args, &args);
  line_ = e.line;
  if (e.fn == nullptr) {
    RuntimeError("TemplateRuntimeError: No filter named '" + e.name + "' found.");
  }
  return e.fn(*this, operand, args);
}

Value Interpreter::EvalGetItem(const GetItemExpr& e) {
  Value obj = Eval(*e.obj);
  if (e.index->kind == ExprKind::kSlice) {
    const auto& s = static_cast<const SliceExpr&>(*e.index);
    Value start = s.start ? Eval(*s.start) : Value::None();
    Value stop = s.stop ? Eval(*s.stop) : Value::None();
    Value step = s.step ? Eval(*s.step) : Value::None();
    line_ = e.line;
    // Slices bypass the sandbox's getitem in jinja2: errors propagate as Python raises them.
    if (obj.is_undefined()) FailUndefined(obj);
    if (obj.is_dict()) RuntimeError("TypeError: unhashable type: 'slice'");
    if (!(obj.is_sequence() || obj.is_string())) {
      RuntimeError("TypeError: '" + std::string(PyTypeName(obj)) + "' object is not subscriptable");
    }
    for (const Value* x : {&start, &stop, &step}) {
      if (x->is_undefined()) FailUndefined(*x);
      if (!SliceIndexOk(*x)) {
        RuntimeError(
            "TypeError: slice indices must be integers or None or have an __index__ method");
      }
    }
    if (obj.is_list()) {
      const auto& items = obj.items();
      SliceRange r = AdjustSlice(static_cast<int64_t>(items.size()), start, stop, step);
      Charge(static_cast<size_t>(r.count) * 8);
      std::vector<Value> out;
      out.reserve(static_cast<size_t>(r.count));
      for (int64_t k = 0, i = r.start; k < r.count; ++k, i += r.step) {
        out.push_back(items[static_cast<size_t>(i)]);
      }
      ListKind kind = obj.list_kind() == ListKind::kTuple ? ListKind::kTuple : ListKind::kList;
      return Value::List(std::move(out), kind);
    }
    const std::string& str = obj.str();
    if (obj.strdata().ascii()) {
      SliceRange r = AdjustSlice(static_cast<int64_t>(str.size()), start, stop, step);
      Charge(static_cast<size_t>(r.count));
      if (r.step == 1) {
        return Value::Str(str.substr(static_cast<size_t>(r.start), static_cast<size_t>(r.count)));
      }
      std::string out;
      out.reserve(static_cast<size_t>(r.count));
      for (int64_t k = 0, i = r.start; k < r.count; ++k, i += r.step) {
        out.push_back(str[static_cast<size_t>(i)]);
      }
      return Value::Str(std::move(out));
    }
    std::vector<char32_t> cps = ToCodePoints(str);
    Charge(cps.size() * 4);
    SliceRange r = AdjustSlice(static_cast<int64_t>(cps.size()), start, stop, step);
    std::string out;
    for (int64_t k = 0, i = r.start; k < r.count; ++k, i += r.step) {
      AppendUtf8(&out, cps[static_cast<size_t>(i)]);
    }
    return Value::Str(std::move(out));
  }
  Value key = Eval(*e.index);
  line_ = e.line;
  return GetItem(obj, key);
}

Value Interpreter::EvalCompare(const CompareExpr& e) {
  Value left = Eval(*e.first);
  for (const auto& op : e.ops) {
    Value right = Eval(*op.second);
    line_ = e.line;
    if (!CompareOp(op.first, left, right)) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

Value Interpreter::EvalInner(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kConst:
      return static_cast<const ConstExpr&>(e).value;
    case ExprKind::kName:
      return Lookup(static_cast<const NameExpr&>(e).name);
    case ExprKind::kList: {
      const auto& l = static_cast<const ListExpr&>(e);
      std::vector<Value> items;
      items.reserve(l.items.size());
      for (const auto& x : l.items) items.push_back(Eval(*x));
      return Value::List(std::move(items), l.tuple ? ListKind::kTuple : ListKind::kList);
    }
    case ExprKind::kDict: {
      const auto& d = static_cast<const DictExpr&>(e);
      auto data = std::make_shared<DictData>();
      for (const auto& kv : d.items) {
        Value k = Eval(*kv.first);
        Value v = Eval(*kv.second);
        line_ = e.line;
        data->Set(std::move(k), std::move(v));
      }
      return Value::Dict(std::move(data));
    }
    case ExprKind::kGetAttr: {
      const auto& g = static_cast<const GetAttrExpr&>(e);
      Value obj = Eval(*g.obj);
      line_ = e.line;
      return GetAttr(obj, g.attr);
    }
    case ExprKind::kGetItem:
      return EvalGetItem(static_cast<const GetItemExpr&>(e));
    case ExprKind::kSlice:
      RuntimeError("slice outside of a subscript");
    case ExprKind::kCall:
      return EvalCall(static_cast<const CallExpr&>(e));
    case ExprKind::kFilter:
      return EvalFilter(static_cast<const FilterExpr&>(e), nullptr);
    case ExprKind::kTest: {
      const auto& t = static_cast<const TestExpr&>(e);
      Value operand = Eval(*t.operand);
      CallArgs args;
      EvalArgs(t.args, &args);
      line_ = e.line;
      if (t.fn == nullptr) {
        RuntimeError("TemplateRuntimeError: No test named '" + t.name + "' found.");
      }
      return Value::Bool(t.fn(*this, operand, args));
    }
    case ExprKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      Value v = Eval(*u.operand);
      line_ = e.line;
      if (u.op == '!') return Value::Bool(!Truthy(v));
      if (v.is_undefined()) FailUndefined(v);
      if (v.is_float()) return Value::Float(u.op == '-' ? -v.f() : v.f());
      if (v.is_integral()) {
        if (u.op == '+') return Value::Int(v.i());
        if (v.i() == INT64_MIN) RuntimeError("OverflowError: integer overflow");
        return Value::Int(-v.i());
      }
      RuntimeError(std::string("TypeError: bad operand type for unary ") + u.op + ": '" +
                   std::string(PyTypeName(v)) + "'");
    }
    case ExprKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value l = Eval(*b.left);
      Value r = Eval(*b.right);
      line_ = e.line;
      return BinaryOp(*this, b.op, l, r);
    }
    case ExprKind::kAnd: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value l = Eval(*b.left);
      if (!Truthy(l)) return l;
      return Eval(*b.right);
    }
    case ExprKind::kOr: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value l = Eval(*b.left);
      if (Truthy(l)) return l;
      return Eval(*b.right);
    }
    case ExprKind::kCompare:
      return EvalCompare(static_cast<const CompareExpr&>(e));
    case ExprKind::kConcat: {
      const auto& c = static_cast<const ConcatExpr&>(e);
      std::string out;
      for (const auto& p : c.parts) {
        Value v = Eval(*p);
        AppendPyStr(&out, v);
        CheckSize(out.size());
      }
      line_ = e.line;
      CheckSize(out.size());
      Charge(out.size());
      return Value::Str(std::move(out));
    }
    case ExprKind::kCond: {
      const auto& c = static_cast<const CondExpr&>(e);
      if (Truthy(Eval(*c.test))) return Eval(*c.then);
      if (c.otherwise) return Eval(*c.otherwise);
      return Value::UndefinedHint("the inline if-expression on line " + std::to_string(e.line) +
                                  " evaluated to false and no else section was defined.");
    }
  }
  return Value();
}

// ---- statements ----

Interpreter::Flow Interpreter::ExecBody(const Body& body) {
  for (const auto& s : body) {
    Flow f = Exec(*s);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

void Interpreter::ExecOutput(const OutputStmt& s) {
  for (const auto& p : s.parts) {
    if (p.expr) {
      Value v = Eval(*p.expr);
      EmitValue(v);
    } else {
      Emit(p.text);
    }
  }
}

void Interpreter::Assign(const Target& t, const Value& v) {
  switch (t.kind) {
    case Target::kName:
      scope_->Set(t.name, v);
      return;
    case Target::kNsAttr: {
      Value ns = Lookup(t.name);
      auto* obj = ns.is_object() ? dynamic_cast<NamespaceObj*>(ns.obj()) : nullptr;
      if (obj == nullptr) {
        RuntimeError("TemplateRuntimeError: cannot assign attribute on non-namespace object");
      }
      obj->SetAttr(t.attr, v);
      return;
    }
    case Target::kTuple: {
      std::vector<Value> items = Iterate(v);
      if (items.size() < t.items.size()) {
        RuntimeError("ValueError: not enough values to unpack (expected " +
                     std::to_string(t.items.size()) + ", got " + std::to_string(items.size()) +
                     ")");
      }
      if (items.size() > t.items.size()) {
        RuntimeError("ValueError: too many values to unpack (expected " +
                     std::to_string(t.items.size()) + ")");
      }
      for (size_t i = 0; i < items.size(); ++i) Assign(t.items[i], items[i]);
      return;
    }
  }
}

namespace {

// The `loop` variable of a for loop.
class LoopObj final : public Object {
 public:
  LoopObj(Value items, size_t length) : items_(std::move(items)), length_(length) {}
  std::string_view TypeName() const override { return "LoopContext"; }
  std::string Repr() const override {
    return "<LoopContext " + std::to_string(index0_ + 1) + "/" + std::to_string(length_) + ">";
  }
  bool GetAttr(std::string_view name, Value* out) const override;
  void ReleaseRefs() override {
    items_ = Value();
    last_changed_ = Value();
    outer_.reset();
  }
  size_t index0_ = 0;
  int depth0_ = 0;
  const ForStmt* stmt_ = nullptr;  // set for `recursive` loops
  std::shared_ptr<Scope> outer_;   // the scope the loop runs in (recursive loops)
  Value last_changed_;
  bool has_changed_ = false;

 private:
  const Value& Item(size_t i) const { return items_.items()[i]; }
  Value items_;  // the (filtered) sequence being iterated
  size_t length_;
};

bool LoopObj::GetAttr(std::string_view name, Value* out) const {
  int64_t i0 = static_cast<int64_t>(index0_);
  int64_t len = static_cast<int64_t>(length_);
  if (name == "index") {
    *out = Value::Int(i0 + 1);
  } else if (name == "index0") {
    *out = Value::Int(i0);
  } else if (name == "revindex") {
    *out = Value::Int(len - i0);
  } else if (name == "revindex0") {
    *out = Value::Int(len - i0 - 1);
  } else if (name == "first") {
    *out = Value::Bool(i0 == 0);
  } else if (name == "last") {
    *out = Value::Bool(i0 + 1 == len);
  } else if (name == "length") {
    *out = Value::Int(len);
  } else if (name == "depth") {
    *out = Value::Int(depth0_ + 1);
  } else if (name == "depth0") {
    *out = Value::Int(depth0_);
  } else if (name == "previtem") {
    *out = i0 > 0 ? Item(index0_ - 1) : Value::UndefinedHint("there is no previous item");
  } else if (name == "nextitem") {
    *out = i0 + 1 < len ? Item(index0_ + 1) : Value::UndefinedHint("there is no next item");
  } else if (name == "cycle" || name == "changed") {
    // Bound to this loop through a non-owning alias; the loop outlives any use inside the body.
    return false;
  } else {
    return false;
  }
  return true;
}

class LoopMethod final : public Object {
 public:
  LoopMethod(std::shared_ptr<LoopObj> loop, bool cycle) : loop_(std::move(loop)), cycle_(cycle) {}
  std::string_view TypeName() const override { return "method"; }
  std::string Repr() const override {
    return cycle_ ? "<bound method LoopContext.cycle>" : "<bound method LoopContext.changed>";
  }
  bool IsCallable() const override { return true; }
  Value Call(Interpreter&, CallArgs& args) const override {
    if (!args.kwargs.empty()) RuntimeError("TypeError: unexpected keyword argument");
    if (cycle_) {
      if (args.args.empty()) RuntimeError("TypeError: no items for cycling given");
      return args.args[loop_->index0_ % args.args.size()];
    }
    Value v = MakeTuple(args.args);
    if (!loop_->has_changed_ || !PyEquals(loop_->last_changed_, v)) {
      loop_->last_changed_ = v;
      loop_->has_changed_ = true;
      return Value::Bool(true);
    }
    return Value::Bool(false);
  }

 private:
  std::shared_ptr<LoopObj> loop_;
  bool cycle_;
};

// A wrapper exposing loop attributes plus cycle()/changed() bound to the loop.
class LoopView final : public Object {
 public:
  explicit LoopView(std::shared_ptr<LoopObj> loop) : loop_(std::move(loop)) {}
  std::string_view TypeName() const override { return "LoopContext"; }
  std::string Repr() const override { return loop_->Repr(); }
  bool GetAttr(std::string_view name, Value* out) const override {
    if (name == "cycle" || name == "changed") {
      *out = Value::Obj(std::make_shared<LoopMethod>(loop_, name == "cycle"));
      return true;
    }
    return loop_->GetAttr(name, out);
  }
  bool IsCallable() const override { return true; }
  Value Call(Interpreter& in, CallArgs& args) const override {
    if (loop_->stmt_ == nullptr) {
      RuntimeError(
          "TypeError: The loop must have the 'recursive' marker to be called recursively.");
    }
    if (args.args.size() != 1 || !args.kwargs.empty()) {
      RuntimeError("TypeError: loop() takes exactly one argument");
    }
    return in.RecurseLoop(*loop_->stmt_, args.args[0], loop_->outer_, loop_->depth0_ + 1);
  }

 private:
  std::shared_ptr<LoopObj> loop_;
};

}  // namespace

Interpreter::Flow Interpreter::ExecFor(const ForStmt& s) {
  Value seq = Eval(*s.iter);
  line_ = s.line;
  std::shared_ptr<Scope> outer = scope_;  // a copy: RunLoop reassigns scope_ per iteration
  return RunLoop(s, seq, outer, 0);
}

Value Interpreter::RecurseLoop(const ForStmt& s, const Value& seq,
                               const std::shared_ptr<Scope>& outer, int depth0) {
  if (call_depth_ >= limits_.max_depth) LimitExceeded("macro call depth");
  ++call_depth_;
  std::string buf;
  std::string* saved_out = out_;
  std::shared_ptr<Scope> saved_scope = scope_;
  out_ = &buf;
  struct Restore {
    Interpreter* in;
    std::string* out;
    std::shared_ptr<Scope> scope;
    ~Restore() {
      in->out_ = out;
      in->scope_ = std::move(scope);
      --in->call_depth_;
    }
  } restore{this, saved_out, saved_scope};
  RunLoop(s, seq, outer, depth0);
  return Value::Str(std::move(buf));
}

Interpreter::Flow Interpreter::RunLoop(const ForStmt& s, const Value& seq,
                                       const std::shared_ptr<Scope>& outer, int depth0) {
  std::vector<Value> items = Iterate(seq);
  std::shared_ptr<Scope> saved = scope_;
  struct Restore {
    Interpreter* in;
    std::shared_ptr<Scope> saved;
    ~Restore() { in->scope_ = std::move(saved); }
  } restore{this, saved};
  if (s.filter) {
    std::vector<Value> kept;
    for (Value& v : items) {
      Step();
      scope_ = std::make_shared<Scope>(outer);
      Assign(s.target, v);
      bool keep = Truthy(Eval(*s.filter));
      if (keep) kept.push_back(std::move(v));
    }
    items = std::move(kept);
  }
  size_t n = items.size();
  Value list = Value::List(std::move(items));
  auto loop = Track(std::make_shared<LoopObj>(list, n));
  loop->depth0_ = depth0;
  if (s.recursive) {
    loop->stmt_ = &s;
    loop->outer_ = outer;
  }
  Value loop_value = Value::Obj(std::make_shared<LoopView>(loop));
  // jinja2 runs the else block unless some iteration reached the end of the body: an iteration
  // left by continue or break does not count (so a loop that always continues runs its else).
  bool completed = false;
  for (size_t i = 0; i < n; ++i) {
    Step();
    loop->index0_ = i;
    scope_ = std::make_shared<Scope>(outer);
    scope_->vars.reserve(4);
    Assign(s.target, list.items()[i]);
    scope_->Set("loop", loop_value);
    Flow f = ExecBody(s.body);
    if (f == Flow::kBreak) break;
    if (f == Flow::kNormal) completed = true;
  }
  if (completed || s.else_body.empty()) return Flow::kNormal;
  scope_ = std::make_shared<Scope>(outer);
  return ExecBody(s.else_body);
}

Interpreter::Flow Interpreter::Exec(const Stmt& s) {
  NestGuard guard(this);
  Step();
  line_ = s.line;
  switch (s.kind) {
    case StmtKind::kOutput:
      ExecOutput(static_cast<const OutputStmt&>(s));
      return Flow::kNormal;
    case StmtKind::kIf: {
      const auto& st = static_cast<const IfStmt&>(s);
      for (const auto& br : st.branches) {
        if (Truthy(Eval(*br.first))) return ExecBody(br.second);
      }
      return ExecBody(st.else_body);
    }
    case StmtKind::kFor:
      return ExecFor(static_cast<const ForStmt&>(s));
    case StmtKind::kSet: {
      const auto& st = static_cast<const SetStmt&>(s);
      Value v = Eval(*st.value);
      line_ = s.line;
      Assign(st.target, v);
      return Flow::kNormal;
    }
    case StmtKind::kSetBlock: {
      const auto& st = static_cast<const SetBlockStmt&>(s);
      Flow flow;
      std::string text = RenderToString(st.body, std::make_shared<Scope>(scope_), &flow);
      if (flow != Flow::kNormal) return flow;
      Value v = Value::Str(std::move(text));
      if (st.filter) v = EvalFilter(static_cast<const FilterExpr&>(*st.filter), &v);
      line_ = s.line;
      Assign(st.target, v);
      return Flow::kNormal;
    }
    case StmtKind::kMacro: {
      const auto& st = static_cast<const MacroStmt&>(s);
      scope_->Set(st.def->name, Value::Obj(Track(std::make_shared<MacroObj>(st.def, scope_))));
      return Flow::kNormal;
    }
    case StmtKind::kCallBlock: {
      const auto& st = static_cast<const CallBlockStmt&>(s);
      const auto& call = static_cast<const CallExpr&>(*st.call);
      Value callee = Eval(*call.callee);
      CallArgs args;
      EvalArgs(call.args, &args);
      args.kwargs.emplace_back("caller",
                               Value::Obj(Track(std::make_shared<MacroObj>(st.caller, scope_))));
      line_ = s.line;
      EmitValue(CallValue(callee, args));
      return Flow::kNormal;
    }
    case StmtKind::kFilterBlock: {
      const auto& st = static_cast<const FilterBlockStmt&>(s);
      Flow flow;
      std::string text = RenderToString(st.body, std::make_shared<Scope>(scope_), &flow);
      if (flow != Flow::kNormal) return flow;
      Value v = Value::Str(std::move(text));
      EmitValue(EvalFilter(static_cast<const FilterExpr&>(*st.filter), &v));
      return Flow::kNormal;
    }
    case StmtKind::kWith: {
      const auto& st = static_cast<const WithStmt&>(s);
      auto scope = std::make_shared<Scope>(scope_);
      std::vector<Value> values;
      for (const auto& a : st.assigns) values.push_back(Eval(*a.second));
      std::shared_ptr<Scope> saved = scope_;
      scope_ = scope;
      struct Restore {
        Interpreter* in;
        std::shared_ptr<Scope> saved;
        ~Restore() { in->scope_ = std::move(saved); }
      } restore{this, saved};
      for (size_t i = 0; i < values.size(); ++i) Assign(st.assigns[i].first, values[i]);
      return ExecBody(st.body);
    }
    case StmtKind::kScope: {
      const auto& st = static_cast<const ScopeStmt&>(s);
      Flow flow;
      std::string text = RenderToString(
          st.body, std::make_shared<Scope>(st.top_level_parent ? root_scope_ : scope_), &flow);
      Emit(text);
      return Flow::kNormal;
    }
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
  }
  return Flow::kNormal;
}

// ---------------------------------------------------------------------------------------------
// Argument helpers

const Value* GetArg(const CallArgs& a, size_t pos, std::string_view name) {
  if (pos < a.args.size()) return &a.args[pos];
  return a.Kw(name);
}

void CheckArgs(const CallArgs& a, std::string_view fname, size_t max_pos,
               std::initializer_list<std::string_view> names) {
  if (a.args.size() > max_pos) {
    RuntimeError("TypeError: " + std::string(fname) + "() takes at most " +
                 std::to_string(max_pos) + " positional argument(s) (" +
                 std::to_string(a.args.size()) + " given)");
  }
  for (const auto& kv : a.kwargs) {
    size_t idx = 0;
    bool ok = false;
    for (std::string_view n : names) {
      if (n == kv.first) {
        if (idx < a.args.size()) {
          RuntimeError("TypeError: " + std::string(fname) +
                       "() got multiple values for argument '" + kv.first + "'");
        }
        ok = true;
        break;
      }
      ++idx;
    }
    if (!ok) {
      RuntimeError("TypeError: " + std::string(fname) + "() got an unexpected keyword argument '" +
                   kv.first + "'");
    }
  }
}

int64_t ToInt(const Value& v, std::string_view what) {
  if (v.is_integral()) return v.i();
  if (v.is_undefined()) FailUndefined(v);
  RuntimeError("TypeError: " + std::string(what) + " must be an integer, not '" +
               std::string(PyTypeName(v)) + "'");
}

std::string ToStr(const Value& v) { return PyStr(v); }

}  // namespace suanli::jinja
