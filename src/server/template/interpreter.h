// Interpreter: renders a parsed template (ast.h) over globals, with jinja2's runtime semantics
// under ImmutableSandboxedEnvironment, and the sandbox limits of jinja::Limits.
//
// Scopes follow jinja2's frames: the template body, each for-loop iteration, each macro call,
// with/set-block/filter-block/call bodies get their own scope; `if` does not. A name resolves
// through the scope chain (lexically: a macro sees the scope it was defined in), then the render
// globals, then the builtin globals (range, namespace, dict, raise_exception, ...).
//
// Attribute and item access follow the sandbox: `x.y` prefers Python attributes (str/dict/list
// methods) and falls back to `x['y']`; `x['y']` prefers items; attributes starting with '_' that
// exist are unsafe (an undefined whose use is a SecurityError); methods that mutate lists and
// dicts (append, pop, update, ...) are unsafe too, as the immutable sandbox makes them.
//
// Bounds: every node evaluation, loop iteration and call is a step; building a string or list
// charges steps in proportion to its size; output, macro depth and interpreter nesting are
// capped. Exceeding any is a TemplateError of kind kLimit.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/template/ast.h"
#include "server/template/error.h"
#include "server/template/value.h"

namespace suanli::jinja {

// Broken-down local time for strftime_now (what Python's datetime.now() holds).
struct CivilTime {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int microsecond = 0;
};

struct InterpreterLimits {
  size_t max_output_bytes;
  uint64_t max_steps;
  int max_depth;
};

struct Scope {
  explicit Scope(std::shared_ptr<Scope> p) : parent(std::move(p)) {}
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;
  Value* FindLocal(std::string_view name) {
    for (auto& kv : vars) {
      if (kv.first == name) return &kv.second;
    }
    return nullptr;
  }
  void Set(std::string_view name, Value v) {
    if (Value* old = FindLocal(name)) {
      *old = std::move(v);
    } else {
      vars.emplace_back(std::string(name), std::move(v));
    }
  }
};

class Interpreter {
 public:
  Interpreter(const InterpreterLimits& limits, std::function<CivilTime()> clock,
              std::unordered_map<std::string, Value> globals);

  // Renders `body`; throws TemplateError.
  std::string Render(const Body& body);

  // ---- services for filters, tests, methods and builtin functions ----
  void Step() {
    if (++steps_ > limits_.max_steps) LimitExceeded("steps");
  }
  // Charges steps for work proportional to `n` bytes or elements (building strings and lists,
  // scanning, splitting): one step per 4.
  void Charge(size_t n);
  // Fails when a value of `n` bytes (or n/16 list elements) would exceed the value-size limit.
  void CheckSize(size_t n) {
    if (n > limits_.max_output_bytes) LimitExceeded("value size");
  }
  [[noreturn]] void LimitExceeded(const char* what);
  size_t max_value_bytes() const { return limits_.max_output_bytes; }
  // Python iteration: list items, dict keys, str characters; undefined iterates nothing.
  std::vector<Value> Iterate(const Value& v);
  Value GetAttr(const Value& obj, std::string_view name);
  Value GetItem(const Value& obj, const Value& key);
  Value CallValue(const Value& callee, CallArgs& args);
  Value ApplyFilter(std::string_view name, const Value& v, CallArgs& args);
  bool ApplyTest(std::string_view name, const Value& v, CallArgs& args);
  Value CallMacro(const class MacroObj& m, CallArgs& args);
  // `loop(items)` in a recursive for loop: renders the loop again one level deeper.
  Value RecurseLoop(const ForStmt& s, const Value& seq, const std::shared_ptr<Scope>& outer,
                    int depth0);
  CivilTime Now() const;
  int line() const { return line_; }
  // Registers an object holding values, to have ReleaseRefs called when the render ends.
  template <typename T>
  std::shared_ptr<T> Track(std::shared_ptr<T> o) {
    tracked_.push_back(o);
    return o;
  }

 private:
  friend class MacroObj;
  enum class Flow { kNormal, kBreak, kContinue };

  struct NestGuard {
    explicit NestGuard(Interpreter* in) : in_(in) {
      if (++in_->nesting_ > kMaxNesting) in_->LimitExceeded("nesting depth");
    }
    ~NestGuard() { --in_->nesting_; }
    Interpreter* in_;
  };
  static constexpr int kMaxNesting = 1500;

  Value Eval(const Expr& e);
  Value EvalInner(const Expr& e);
  Value EvalCall(const CallExpr& e);
  Value EvalFilter(const FilterExpr& e, const Value* seed);
  Value EvalGetItem(const GetItemExpr& e);
  Value EvalCompare(const CompareExpr& e);
  void EvalArgs(const ArgList& a, CallArgs* out);
  Value Lookup(const std::string& name);

  Flow ExecBody(const Body& body);
  Flow Exec(const Stmt& s);
  Flow ExecFor(const ForStmt& s);
  Flow RunLoop(const ForStmt& s, const Value& seq, const std::shared_ptr<Scope>& outer, int depth0);
  void ExecOutput(const OutputStmt& s);
  void Assign(const Target& t, const Value& v);
  std::string RenderToString(const Body& body, std::shared_ptr<Scope> scope, Flow* flow);
  void Emit(std::string_view s);
  void EmitValue(const Value& v);

  InterpreterLimits limits_;
  std::function<CivilTime()> clock_;
  std::unordered_map<std::string, Value> globals_;
  std::shared_ptr<Scope> scope_;
  std::shared_ptr<Scope> root_scope_;
  std::string* out_ = nullptr;
  uint64_t steps_ = 0;
  uint64_t charge_bytes_ = 0;
  int nesting_ = 0;
  int call_depth_ = 0;
  int line_ = 0;
  std::vector<std::shared_ptr<Object>> tracked_;
};

// A macro (or the `caller` of a call block) bound to the scope it was defined in.
class MacroObj final : public Object {
 public:
  MacroObj(std::shared_ptr<const MacroDef> def, std::shared_ptr<Scope> closure)
      : def_(std::move(def)), closure_(std::move(closure)) {}
  std::string_view TypeName() const override { return "Macro"; }
  std::string Repr() const override;
  bool GetAttr(std::string_view name, Value* out) const override;
  bool IsCallable() const override { return true; }
  Value Call(Interpreter& in, CallArgs& args) const override { return in.CallMacro(*this, args); }
  const MacroDef& def() const { return *def_; }
  const std::shared_ptr<Scope>& closure() const { return closure_; }
  void ReleaseRefs() override { closure_.reset(); }

 private:
  std::shared_ptr<const MacroDef> def_;
  std::shared_ptr<Scope> closure_;
};

// A builtin function (range, namespace, dict, raise_exception, strftime_now, ...).
using BuiltinFn = Value (*)(Interpreter& in, CallArgs& args);
class BuiltinObj final : public Object {
 public:
  BuiltinObj(std::string name, BuiltinFn fn, std::string_view type = "function")
      : name_(std::move(name)), fn_(fn), type_(type) {}
  std::string_view TypeName() const override { return type_; }
  std::string Repr() const override;
  bool IsCallable() const override { return true; }
  Value Call(Interpreter& in, CallArgs& args) const override { return fn_(in, args); }

 private:
  std::string name_;
  BuiltinFn fn_;
  std::string_view type_;
};

// Python's namespace(): the one mutable object templates have.
class NamespaceObj final : public Object {
 public:
  std::string_view TypeName() const override { return "Namespace"; }
  std::string Repr() const override;
  bool GetAttr(std::string_view name, Value* out) const override;
  void SetAttr(std::string_view name, Value v);
  void ReleaseRefs() override { attrs.items.clear(); }
  DictData attrs;
};

// A method bound to its receiver: what `'a b'.split` evaluates to before it is called.
using MethodFn = Value (*)(Interpreter& in, const Value& self, CallArgs& args);
class BoundMethod final : public Object {
 public:
  BoundMethod(Value self, std::string name, MethodFn fn)
      : self_(std::move(self)), name_(std::move(name)), fn_(fn) {}
  std::string_view TypeName() const override { return "builtin_function_or_method"; }
  std::string Repr() const override;
  bool IsCallable() const override { return true; }
  Value Call(Interpreter& in, CallArgs& args) const override { return fn_(in, self_, args); }
  void ReleaseRefs() override { self_ = Value(); }

 private:
  Value self_;
  std::string name_;
  MethodFn fn_;
};

// ---- registries (builtins.cc, methods.cc) ----
enum class MethodSafety { kNone, kSafe, kUnsafe };
// Whether `name` is a Python method of `self`'s type, and if the immutable sandbox allows it.
MethodSafety FindMethod(const Value& self, std::string_view name, MethodFn* fn);
BuiltinFn FindGlobalFunction(std::string_view name);

// ---- Python operations shared by the interpreter and the builtins (operators.cc) ----
Value BinaryOp(Interpreter& in, BinOp op, const Value& a, const Value& b);
bool CompareOp(CmpOp op, const Value& a, const Value& b);
bool Contains(const Value& container, const Value& item);
// Python's '%' string formatting and str.format (format.cc).
Value PercentFormat(Interpreter& in, const Value& fmt, const Value& args);
std::string StrFormat(Interpreter& in, std::string_view fmt, CallArgs& args);
// json.dumps as transformers' tojson calls it (json_dump.cc).
struct JsonDumpOptions {
  bool ensure_ascii = false;
  bool has_indent = false;
  std::string indent;
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
};
std::string JsonDumps(Interpreter& in, const Value& v, const JsonDumpOptions& opts);
std::string Strftime(const CivilTime& t, std::string_view fmt);

// Argument helpers for builtins: Python-style binding with TypeErrors on misuse.
// Returns the argument at position `pos` or keyword `name`, or nullptr.
const Value* GetArg(const CallArgs& a, size_t pos, std::string_view name);
// Fails unless every argument is within the first `max_pos` positions or named in `names`.
void CheckArgs(const CallArgs& a, std::string_view fname, size_t max_pos,
               std::initializer_list<std::string_view> names);
int64_t ToInt(const Value& v, std::string_view what);
std::string ToStr(const Value& v);  // soft_str: str() of the value (undefined -> "")

}  // namespace suanli::jinja
