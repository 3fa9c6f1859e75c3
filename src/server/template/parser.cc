// Parser (see parser.h). The structure follows jinja2's Parser method by method so precedence
// and the accepted syntax agree with Hugging Face's renderer.
#include "server/template/parser.h"

#include <algorithm>
#include <set>
#include <string>

#include "server/template/error.h"
#include "server/template/lexer.h"

namespace suanli::jinja {
namespace {

std::string Describe(const Token& t) {
  switch (t.type) {
    case Tok::kData:
      return "template data / text";
    case Tok::kVarBegin:
      return "begin of print statement";
    case Tok::kVarEnd:
      return "end of print statement";
    case Tok::kBlockBegin:
      return "begin of statement block";
    case Tok::kBlockEnd:
      return "end of statement block";
    case Tok::kEof:
      return "end of template";
    case Tok::kString:
      return "string";
    case Tok::kInt:
      return "integer";
    case Tok::kFloat:
      return "float";
    default:
      return t.value;
  }
}

int Height(const ExprPtr& e) { return e ? e->depth : 0; }

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Body ParseAll() {
    Body body = Subparse(nullptr);
    if (Cur().type != Tok::kEof) FailAt(Cur(), "unexpected " + Quote(Describe(Cur())));
    for (const Unknown& u : unknown_) {
      if (!u.soft) Fail(ErrorKind::kSyntax, u.message, u.line);
    }
    return body;
  }

 private:
  // ---- token stream ----
  const Token& Cur() const { return toks_[pos_]; }
  const Token& Look() const { return toks_[pos_ + 1 < toks_.size() ? pos_ + 1 : pos_]; }
  const Token& Next() {
    const Token& t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }
  bool IsOp(const char* op) const { return Cur().type == Tok::kOp && Cur().value == op; }
  bool IsName(const char* n) const { return Cur().type == Tok::kName && Cur().value == n; }
  bool SkipOp(const char* op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(const char* n) {
    if (!IsName(n)) return false;
    Next();
    return true;
  }
  static std::string Quote(const std::string& s) { return "'" + s + "'"; }
  [[noreturn]] void FailAt(const Token& t, const std::string& msg) {
    Fail(ErrorKind::kSyntax, msg, t.line);
  }
  void ExpectOp(const char* op) {
    if (!SkipOp(op)) {
      if (Cur().type == Tok::kEof)
        FailAt(Cur(), std::string("unexpected end of template, expected '") + op + "'");
      FailAt(Cur(), std::string("expected token '") + op + "', got " + Quote(Describe(Cur())));
    }
  }
  void Expect(Tok type, const char* what) {
    if (Cur().type != type) {
      if (Cur().type == Tok::kEof)
        FailAt(Cur(), std::string("unexpected end of template, expected '") + what + "'");
      FailAt(Cur(), std::string("expected token '") + what + "', got " + Quote(Describe(Cur())));
    }
    Next();
  }
  std::string ExpectName() {
    if (Cur().type != Tok::kName) {
      FailAt(Cur(), "expected token 'name', got " + Quote(Describe(Cur())));
    }
    return Next().value;
  }

  // ---- depth guards ----
  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p_(p) {
      if (++p_->depth_ > kMaxParseDepth) p_->FailAt(p_->Cur(), "template nested too deeply");
    }
    ~DepthGuard() { --p_->depth_; }
    Parser* p_;
  };
  template <typename T>
  std::unique_ptr<T> Sized(std::unique_ptr<T> e, int child_height) {
    e->depth = child_height + 1;
    if (e->depth > kMaxExprHeight) FailAt(Cur(), "expression nested too deeply");
    return e;
  }

  // ---- statements ----
  Body Subparse(const std::vector<const char*>* end_tokens) {
    Body body;
    std::unique_ptr<OutputStmt> out;
    auto flush = [&] {
      if (out) body.push_back(std::move(out));
    };
    while (Cur().type != Tok::kEof) {
      const Token& t = Cur();
      if (t.type == Tok::kData) {
        if (!out) out = std::make_unique<OutputStmt>(t.line);
        out->parts.push_back(OutputPart{t.value, nullptr});
        Next();
      } else if (t.type == Tok::kVarBegin) {
        Next();
        if (!out) out = std::make_unique<OutputStmt>(t.line);
        out->parts.push_back(OutputPart{"", ParseTuple(false, true, nullptr, false)});
        Expect(Tok::kVarEnd, "end of print statement");
      } else if (t.type == Tok::kBlockBegin) {
        flush();
        Next();
        if (end_tokens != nullptr && Cur().type == Tok::kName) {
          for (const char* e : *end_tokens) {
            if (Cur().value == e) return body;
          }
        }
        ParseStatement(&body);
        Expect(Tok::kBlockEnd, "end of statement block");
      } else {
        FailAt(t, "unexpected " + Quote(Describe(t)));
      }
    }
    flush();
    return body;
  }

  Body ParseStatements(const std::vector<const char*>& end_tokens, bool drop_needle) {
    SkipOp(":");
    Expect(Tok::kBlockEnd, "end of statement block");
    Body body = Subparse(&end_tokens);
    if (Cur().type == Tok::kEof) {
      std::string expected;
      for (size_t i = 0; i < end_tokens.size(); ++i) {
        if (i) expected += i + 1 == end_tokens.size() ? " or " : ", ";
        expected += Quote(end_tokens[i]);
      }
      std::string msg =
          "Unexpected end of template. Jinja was looking for the following tags: " + expected + ".";
      if (!tag_stack_.empty()) {
        msg += " The innermost block that needs to be closed is " + Quote(tag_stack_.back()) + ".";
      }
      FailAt(Cur(), msg);
    }
    if (drop_needle) Next();
    return body;
  }

  void ParseStatement(Body* body) {
    DepthGuard guard(this);
    const Token& t = Cur();
    if (t.type != Tok::kName) FailAt(t, "tag name expected");
    const std::string name = t.value;
    int line = t.line;
    static const std::set<std::string> kUnsupported = {"extends",    "include", "import",   "from",
                                                       "autoescape", "trans",   "pluralize"};
    if (kUnsupported.count(name)) FailAt(t, "unsupported tag " + Quote(name));
    tag_stack_.push_back(name);
    if (name == "if") {
      body->push_back(ParseIf());
    } else if (name == "for") {
      body->push_back(ParseFor());
    } else if (name == "set") {
      body->push_back(ParseSet());
    } else if (name == "macro") {
      body->push_back(ParseMacro());
    } else if (name == "call") {
      body->push_back(ParseCallBlock());
    } else if (name == "filter") {
      body->push_back(ParseFilterBlock());
    } else if (name == "with") {
      body->push_back(ParseWith());
    } else if (name == "print") {
      Next();
      auto out = std::make_unique<OutputStmt>(line);
      while (Cur().type != Tok::kBlockEnd) {
        if (!out->parts.empty()) ExpectOp(",");
        out->parts.push_back(OutputPart{"", ParseExpression(true)});
      }
      body->push_back(std::move(out));
    } else if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) FailAt(t, Quote(name) + " outside of a loop");
      Next();
      body->push_back(std::make_unique<SimpleStmt>(
          name == "break" ? StmtKind::kBreak : StmtKind::kContinue, line));
    } else if (name == "block") {
      // Without {% extends %}, a block renders in place, in a scope of its own.
      Next();
      auto s = std::make_unique<ScopeStmt>(line);
      std::string bname = ExpectName();
      bool scoped = SkipName("scoped");
      if (IsName("required")) FailAt(Cur(), "unsupported: required blocks");
      if (!block_names_.insert(bname).second) FailAt(t, "block " + Quote(bname) + " defined twice");
      s->top_level_parent = !scoped;
      int saved = loop_depth_;
      loop_depth_ = 0;
      s->body = ParseStatements({"endblock"}, true);
      loop_depth_ = saved;
      if (Cur().type == Tok::kName && Cur().value == bname) Next();
      body->push_back(std::move(s));
    } else if (name == "generation") {
      // transformers' AssistantTracker tag: renders its body (as a call block does).
      Next();
      auto s = std::make_unique<ScopeStmt>(line);
      int saved = loop_depth_;
      loop_depth_ = 0;
      s->body = ParseStatements({"endgeneration"}, true);
      loop_depth_ = saved;
      body->push_back(std::move(s));
    } else {
      tag_stack_.pop_back();
      std::string msg = "Encountered unknown tag " + Quote(name) + ".";
      if (name == "do") msg += " (the 'do' extension is not enabled in Hugging Face's renderer)";
      FailAt(t, msg);
    }
    tag_stack_.pop_back();
  }

  // jinja2 compiles an if (test and bodies) and a conditional expression in a "soft" frame:
  // there, an unknown filter or test only fails when evaluated. Bodies compiled in an inner
  // frame (loops, macros, set/filter/with/call blocks) are not soft.
  struct SoftGuard {
    SoftGuard(Parser* p, bool soft) : p_(p), saved_(p->soft_) { p_->soft_ = soft ? saved_ + 1 : 0; }
    ~SoftGuard() { p_->soft_ = saved_; }
    Parser* p_;
    int saved_;
  };

  StmtPtr ParseIf() {
    SoftGuard soft(this, true);
    auto node = std::make_unique<IfStmt>(Next().line);
    while (true) {
      ExprPtr test = ParseTuple(false, false, nullptr, false);
      Body b = ParseStatements({"elif", "else", "endif"}, false);
      node->branches.emplace_back(std::move(test), std::move(b));
      const Token& t = Next();
      if (t.value == "elif") continue;
      if (t.value == "else") node->else_body = ParseStatements({"endif"}, true);
      break;
    }
    return node;
  }

  StmtPtr ParseFor() {
    auto node = std::make_unique<ForStmt>(Next().line);
    static const std::vector<const char*> kIn = {"in"};
    node->target = ParseAssignTarget(true, false, &kIn, false);
    if (!SkipName("in")) FailAt(Cur(), "expected token 'in', got " + Quote(Describe(Cur())));
    static const std::vector<const char*> kRec = {"recursive"};
    node->iter = ParseTuple(false, false, &kRec, false);
    if (SkipName("if")) node->filter = ParseExpression(true);
    node->recursive = SkipName("recursive");
    SoftGuard hard(this, false);
    ++loop_depth_;
    node->body = ParseStatements({"endfor", "else"}, false);
    --loop_depth_;
    if (Next().value != "endfor") node->else_body = ParseStatements({"endfor"}, true);
    return node;
  }

  StmtPtr ParseSet() {
    int line = Next().line;
    Target target = ParseAssignTarget(true, false, nullptr, true);
    if (SkipOp("=")) {
      auto node = std::make_unique<SetStmt>(line);
      node->target = std::move(target);
      node->value = ParseTuple(false, true, nullptr, false);
      return node;
    }
    auto node = std::make_unique<SetBlockStmt>(line);
    node->target = std::move(target);
    SoftGuard hard(this, false);
    if (IsOp("|")) node->filter = ParseFilter(nullptr, false);
    node->body = ParseStatements({"endset"}, true);
    return node;
  }

  void ParseSignature(MacroDef* def) {
    ExpectOp("(");
    while (!IsOp(")")) {
      if (!def->params.empty()) ExpectOp(",");
      if (Cur().type != Tok::kName)
        FailAt(Cur(), "expected token 'name', got " + Quote(Describe(Cur())));
      def->params.push_back(Next().value);
      if (SkipOp("=")) {
        def->defaults.push_back(ParseExpression(true));
      } else if (!def->defaults.empty()) {
        FailAt(Cur(), "non-default argument follows default argument");
      }
    }
    ExpectOp(")");
  }

  // Parses a macro-like body, recording whether it refers to caller, varargs or kwargs.
  void ParseMacroBody(MacroDef* def, const char* end) {
    SoftGuard hard(this, false);
    names_.emplace_back();
    int saved = loop_depth_;
    loop_depth_ = 0;
    def->body = ParseStatements({end}, true);
    loop_depth_ = saved;
    std::set<std::string> used = std::move(names_.back());
    names_.pop_back();
    def->uses_caller = used.count("caller") > 0;
    def->catch_kwargs = used.count("kwargs") > 0;
    def->catch_varargs = used.count("varargs") > 0;
    if (!names_.empty()) names_.back().insert(used.begin(), used.end());
  }

  StmtPtr ParseMacro() {
    auto node = std::make_unique<MacroStmt>(Next().line);
    auto def = std::make_shared<MacroDef>();
    def->line = node->line;
    def->name = ExpectName();
    ParseSignature(def.get());
    ParseMacroBody(def.get(), "endmacro");
    node->def = std::move(def);
    return node;
  }

  StmtPtr ParseCallBlock() {
    auto node = std::make_unique<CallBlockStmt>(Next().line);
    auto def = std::make_shared<MacroDef>();
    def->name = "caller";
    def->line = node->line;
    if (IsOp("(")) ParseSignature(def.get());
    ExprPtr call = ParseExpression(true);
    if (call->kind != ExprKind::kCall) FailAt(Cur(), "expected call");
    node->call = std::move(call);
    ParseMacroBody(def.get(), "endcall");
    node->caller = std::move(def);
    return node;
  }

  StmtPtr ParseFilterBlock() {
    auto node = std::make_unique<FilterBlockStmt>(Next().line);
    SoftGuard hard(this, false);
    node->filter = ParseFilter(nullptr, true);
    node->body = ParseStatements({"endfilter"}, true);
    return node;
  }

  StmtPtr ParseWith() {
    auto node = std::make_unique<WithStmt>(Next().line);
    while (Cur().type != Tok::kBlockEnd) {
      if (!node->assigns.empty()) ExpectOp(",");
      Target t = ParseAssignTarget(true, false, nullptr, false);
      ExpectOp("=");
      node->assigns.emplace_back(std::move(t), ParseExpression(true));
    }
    SoftGuard hard(this, false);
    node->body = ParseStatements({"endwith"}, true);
    return node;
  }

  Target ParseAssignTarget(bool with_tuple, bool name_only,
                           const std::vector<const char*>* extra_end, bool with_namespace) {
    Target t;
    t.line = Cur().line;
    if (with_namespace && Cur().type == Tok::kName && Look().type == Tok::kOp &&
        Look().value == ".") {
      t.kind = Target::kNsAttr;
      t.name = Next().value;
      Next();
      t.attr = ExpectName();
      return t;
    }
    if (name_only) {
      t.name = ExpectName();
      return t;
    }
    // parse_tuple(simplified=True): primaries separated by commas.
    std::vector<Target> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) ExpectOp(",");
      if (IsTupleEnd(extra_end)) break;
      items.push_back(ParseTargetPrimary());
      if (IsOp(",")) {
        is_tuple = true;
        if (!with_tuple) break;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (items.empty()) FailAt(Cur(), "Expected an expression, got " + Quote(Describe(Cur())));
      return std::move(items[0]);
    }
    t.kind = Target::kTuple;
    t.items = std::move(items);
    return t;
  }

  Target ParseTargetPrimary() {
    Target t;
    t.line = Cur().line;
    if (Cur().type == Tok::kName) {
      const std::string& v = Cur().value;
      if (v == "true" || v == "false" || v == "True" || v == "False" || v == "none" ||
          v == "None") {
        FailAt(Cur(), "can't assign to 'const'");
      }
      t.name = Next().value;
      return t;
    }
    if (IsOp("(")) {
      DepthGuard g(this);
      Next();
      t = ParseAssignTarget(true, false, nullptr, false);
      ExpectOp(")");
      return t;
    }
    FailAt(Cur(), "can't assign to " + Quote(Describe(Cur())));
  }

  bool IsTupleEnd(const std::vector<const char*>* extra_end) const {
    Tok ty = Cur().type;
    if (ty == Tok::kVarEnd || ty == Tok::kBlockEnd || ty == Tok::kEof || IsOp(")")) return true;
    if (extra_end != nullptr && ty == Tok::kName) {
      for (const char* e : *extra_end) {
        if (Cur().value == e) return true;
      }
    }
    return false;
  }

  // ---- expressions ----
  ExprPtr ParseTuple(bool simplified, bool with_condexpr, const std::vector<const char*>* extra_end,
                     bool explicit_parens) {
    int line = Cur().line;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) ExpectOp(",");
      if (IsTupleEnd(extra_end)) break;
      args.push_back(simplified ? ParsePrimary() : ParseExpression(with_condexpr));
      if (IsOp(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parens) {
        FailAt(Cur(), "Expected an expression, got " + Quote(Describe(Cur())));
      }
    }
    auto node = std::make_unique<ListExpr>(line, true);
    int h = 0;
    for (auto& a : args) h = std::max(h, Height(a));
    node->items = std::move(args);
    return Sized(std::move(node), h);
  }

  ExprPtr ParseExpression(bool with_condexpr) {
    DepthGuard g(this);
    return with_condexpr ? ParseCondExpr() : ParseOr();
  }

  ExprPtr ParseCondExpr() {
    int line = Cur().line;
    size_t mark = unknown_.size();
    ExprPtr expr1 = ParseOr();
    while (SkipName("if")) {
      SoftGuard soft(this, true);
      auto node = std::make_unique<CondExpr>(line);
      node->test = ParseOr();
      if (SkipName("else")) node->otherwise = ParseCondExpr();
      node->then = std::move(expr1);
      int h = std::max({Height(node->test), Height(node->then), Height(node->otherwise)});
      expr1 = Sized(std::move(node), h);
      line = Cur().line;
      for (size_t i = mark; i < unknown_.size(); ++i) unknown_[i].soft = true;
    }
    return expr1;
  }

  ExprPtr ParseOr() {
    int line = Cur().line;
    ExprPtr left = ParseAnd();
    while (SkipName("or")) {
      ExprPtr right = ParseAnd();
      int h = std::max(Height(left), Height(right));
      left = Sized(std::make_unique<BinaryExpr>(ExprKind::kOr, line, BinOp::kAdd, std::move(left),
                                                std::move(right)),
                   h);
      line = Cur().line;
    }
    return left;
  }

  ExprPtr ParseAnd() {
    int line = Cur().line;
    ExprPtr left = ParseNot();
    while (SkipName("and")) {
      ExprPtr right = ParseNot();
      int h = std::max(Height(left), Height(right));
      left = Sized(std::make_unique<BinaryExpr>(ExprKind::kAnd, line, BinOp::kAdd, std::move(left),
                                                std::move(right)),
                   h);
      line = Cur().line;
    }
    return left;
  }

  ExprPtr ParseNot() {
    if (IsName("not")) {
      DepthGuard g(this);
      int line = Next().line;
      ExprPtr e = ParseNot();
      int h = Height(e);
      return Sized(std::make_unique<UnaryExpr>(line, '!', std::move(e)), h);
    }
    return ParseCompare();
  }

  ExprPtr ParseCompare() {
    int line = Cur().line;
    ExprPtr expr = ParseMath1();
    std::unique_ptr<CompareExpr> cmp;
    while (true) {
      CmpOp op;
      const Token& t = Cur();
      if (t.type == Tok::kOp && t.value == "==") {
        op = CmpOp::kEq;
      } else if (t.type == Tok::kOp && t.value == "!=") {
        op = CmpOp::kNe;
      } else if (t.type == Tok::kOp && t.value == "<") {
        op = CmpOp::kLt;
      } else if (t.type == Tok::kOp && t.value == "<=") {
        op = CmpOp::kLe;
      } else if (t.type == Tok::kOp && t.value == ">") {
        op = CmpOp::kGt;
      } else if (t.type == Tok::kOp && t.value == ">=") {
        op = CmpOp::kGe;
      } else if (IsName("in")) {
        op = CmpOp::kIn;
      } else if (IsName("not") && Look().type == Tok::kName && Look().value == "in") {
        Next();
        op = CmpOp::kNotIn;
      } else {
        break;
      }
      Next();
      if (!cmp) {
        cmp = std::make_unique<CompareExpr>(line);
        cmp->first = std::move(expr);
      }
      cmp->ops.emplace_back(op, ParseMath1());
      line = Cur().line;
    }
    if (!cmp) return expr;
    int h = Height(cmp->first);
    for (auto& o : cmp->ops) h = std::max(h, Height(o.second));
    return Sized(std::move(cmp), h);
  }

  ExprPtr MakeBinary(int line, BinOp op, ExprPtr a, ExprPtr b) {
    int h = std::max(Height(a), Height(b));
    return Sized(
        std::make_unique<BinaryExpr>(ExprKind::kBinary, line, op, std::move(a), std::move(b)), h);
  }

  ExprPtr ParseMath1() {
    int line = Cur().line;
    ExprPtr left = ParseConcat();
    while (IsOp("+") || IsOp("-")) {
      BinOp op = Next().value == "+" ? BinOp::kAdd : BinOp::kSub;
      ExprPtr right = ParseConcat();
      left = MakeBinary(line, op, std::move(left), std::move(right));
      line = Cur().line;
    }
    return left;
  }

  ExprPtr ParseConcat() {
    int line = Cur().line;
    ExprPtr first = ParseMath2();
    if (!IsOp("~")) return first;
    auto node = std::make_unique<ConcatExpr>(line);
    node->parts.push_back(std::move(first));
    while (SkipOp("~")) node->parts.push_back(ParseMath2());
    int h = 0;
    for (auto& p : node->parts) h = std::max(h, Height(p));
    return Sized(std::move(node), h);
  }

  ExprPtr ParseMath2() {
    int line = Cur().line;
    ExprPtr left = ParsePow();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const std::string& v = Next().value;
      BinOp op = v == "*"    ? BinOp::kMul
                 : v == "/"  ? BinOp::kDiv
                 : v == "//" ? BinOp::kFloorDiv
                             : BinOp::kMod;
      ExprPtr right = ParsePow();
      left = MakeBinary(line, op, std::move(left), std::move(right));
      line = Cur().line;
    }
    return left;
  }

  ExprPtr ParsePow() {
    int line = Cur().line;
    ExprPtr left = ParseUnary(true);
    while (SkipOp("**")) {
      ExprPtr right = ParseUnary(true);
      left = MakeBinary(line, BinOp::kPow, std::move(left), std::move(right));
      line = Cur().line;
    }
    return left;
  }

  ExprPtr ParseUnary(bool with_filter) {
    DepthGuard g(this);
    int line = Cur().line;
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      char op = Next().value[0];
      ExprPtr e = ParseUnary(false);
      int h = Height(e);
      node = Sized(std::make_unique<UnaryExpr>(line, op, std::move(e)), h);
    } else {
      node = ParsePrimary();
    }
    node = ParsePostfix(std::move(node));
    if (with_filter) node = ParseFilterExpr(std::move(node));
    return node;
  }

  ExprPtr ParsePrimary() {
    const Token& t = Cur();
    if (t.type == Tok::kName) {
      const std::string& v = t.value;
      ExprPtr node;
      if (v == "true" || v == "True") {
        node = std::make_unique<ConstExpr>(t.line, Value::Bool(true));
      } else if (v == "false" || v == "False") {
        node = std::make_unique<ConstExpr>(t.line, Value::Bool(false));
      } else if (v == "none" || v == "None") {
        node = std::make_unique<ConstExpr>(t.line, Value::None());
      } else {
        if (v == "lipsum" && Look().type == Tok::kOp && Look().value == "(") {
          FailAt(t, "unsupported global function 'lipsum'");
        }
        // Block references (self.name(), super()) need template inheritance, which is not
        // supported.
        if ((v == "self" && Look().type == Tok::kOp && Look().value == ".") ||
            (v == "super" && Look().type == Tok::kOp && Look().value == "(")) {
          FailAt(t, "unsupported block reference " + Quote(v));
        }
        if (!names_.empty()) names_.back().insert(v);
        node = std::make_unique<NameExpr>(t.line, v);
      }
      Next();
      return node;
    }
    if (t.type == Tok::kString) {
      int line = t.line;
      std::string s = Next().value;
      while (Cur().type == Tok::kString) s += Next().value;  // adjacent literals join
      return std::make_unique<ConstExpr>(line, Value::Str(std::move(s)));
    }
    if (t.type == Tok::kInt) {
      return std::make_unique<ConstExpr>(t.line, Value::Int(Next().ival));
    }
    if (t.type == Tok::kFloat) {
      return std::make_unique<ConstExpr>(t.line, Value::Float(Next().fval));
    }
    if (IsOp("(")) {
      DepthGuard g(this);
      Next();
      ExprPtr e = ParseTuple(false, true, nullptr, true);
      ExpectOp(")");
      return e;
    }
    if (IsOp("[")) return ParseList();
    if (IsOp("{")) return ParseDict();
    if (t.type == Tok::kEof) FailAt(t, "unexpected end of template");
    FailAt(t, "unexpected " + Quote(Describe(t)));
  }

  ExprPtr ParseList() {
    DepthGuard g(this);
    auto node = std::make_unique<ListExpr>(Next().line, false);
    int h = 0;
    while (!IsOp("]")) {
      if (!node->items.empty()) ExpectOp(",");
      if (IsOp("]")) break;
      node->items.push_back(ParseExpression(true));
      h = std::max(h, Height(node->items.back()));
    }
    ExpectOp("]");
    return Sized(std::move(node), h);
  }

  ExprPtr ParseDict() {
    DepthGuard g(this);
    auto node = std::make_unique<DictExpr>(Next().line);
    int h = 0;
    while (!IsOp("}")) {
      if (!node->items.empty()) ExpectOp(",");
      if (IsOp("}")) break;
      ExprPtr k = ParseExpression(true);
      ExpectOp(":");
      ExprPtr v = ParseExpression(true);
      h = std::max({h, Height(k), Height(v)});
      node->items.emplace_back(std::move(k), std::move(v));
    }
    ExpectOp("}");
    return Sized(std::move(node), h);
  }

  ExprPtr ParsePostfix(ExprPtr node) {
    while (true) {
      if (IsOp(".") || IsOp("[")) {
        node = ParseSubscript(std::move(node));
      } else if (IsOp("(")) {
        node = ParseCall(std::move(node));
      } else {
        break;
      }
    }
    return node;
  }

  ExprPtr ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp("|")) {
        node = ParseFilter(std::move(node), false);
      } else if (IsName("is")) {
        node = ParseTest(std::move(node));
      } else if (IsOp("(")) {
        node = ParseCall(std::move(node));
      } else {
        break;
      }
    }
    return node;
  }

  ExprPtr ParseSubscript(ExprPtr node) {
    const Token& t = Next();
    int line = t.line;
    if (t.value == ".") {
      const Token& a = Cur();
      if (a.type == Tok::kName) {
        std::string attr = Next().value;
        int h = Height(node);
        return Sized(std::make_unique<GetAttrExpr>(line, std::move(node), std::move(attr)), h);
      }
      if (a.type != Tok::kInt) FailAt(a, "expected name or number");
      auto idx = std::make_unique<ConstExpr>(a.line, Value::Int(Next().ival));
      int h = Height(node);
      return Sized(std::make_unique<GetItemExpr>(line, std::move(node), std::move(idx)), h);
    }
    DepthGuard g(this);
    std::vector<ExprPtr> args;
    while (!IsOp("]")) {
      if (!args.empty()) ExpectOp(",");
      args.push_back(ParseSubscribed());
    }
    ExpectOp("]");
    ExprPtr arg;
    if (args.size() == 1) {
      arg = std::move(args[0]);
    } else {
      auto tup = std::make_unique<ListExpr>(line, true);
      int h = 0;
      for (auto& a : args) h = std::max(h, Height(a));
      tup->items = std::move(args);
      arg = Sized(std::move(tup), h);
    }
    int h = std::max(Height(node), Height(arg));
    return Sized(std::make_unique<GetItemExpr>(line, std::move(node), std::move(arg)), h);
  }

  ExprPtr ParseSubscribed() {
    int line = Cur().line;
    std::vector<ExprPtr> parts;
    if (IsOp(":")) {
      Next();
      parts.push_back(nullptr);
    } else {
      ExprPtr node = ParseExpression(true);
      if (!IsOp(":")) return node;
      Next();
      parts.push_back(std::move(node));
    }
    if (IsOp(":")) {
      parts.push_back(nullptr);
    } else if (!IsOp("]") && !IsOp(",")) {
      parts.push_back(ParseExpression(true));
    } else {
      parts.push_back(nullptr);
    }
    if (IsOp(":")) {
      Next();
      if (!IsOp("]") && !IsOp(",")) {
        parts.push_back(ParseExpression(true));
      } else {
        parts.push_back(nullptr);
      }
    } else {
      parts.push_back(nullptr);
    }
    auto s = std::make_unique<SliceExpr>(line);
    s->start = std::move(parts[0]);
    s->stop = std::move(parts[1]);
    s->step = std::move(parts[2]);
    int h = std::max({Height(s->start), Height(s->stop), Height(s->step)});
    return Sized(std::move(s), h);
  }

  int ParseCallArgs(ArgList* out) {
    DepthGuard g(this);
    const Token& open = Cur();
    int line = open.line;
    ExpectOp("(");
    bool require_comma = false;
    int h = 0;
    auto ensure = [&](bool ok) {
      if (!ok) Fail(ErrorKind::kSyntax, "invalid syntax for function call expression", line);
    };
    while (!IsOp(")")) {
      if (require_comma) {
        ExpectOp(",");
        if (IsOp(")")) break;
      }
      if (IsOp("*")) {
        ensure(!out->dyn_args && !out->dyn_kwargs);
        Next();
        out->dyn_args = ParseExpression(true);
        h = std::max(h, Height(out->dyn_args));
      } else if (IsOp("**")) {
        ensure(!out->dyn_kwargs);
        Next();
        out->dyn_kwargs = ParseExpression(true);
        h = std::max(h, Height(out->dyn_kwargs));
      } else if (Cur().type == Tok::kName && Look().type == Tok::kOp && Look().value == "=") {
        ensure(!out->dyn_kwargs);
        std::string key = Next().value;
        Next();
        ExprPtr v = ParseExpression(true);
        h = std::max(h, Height(v));
        out->kwargs.emplace_back(std::move(key), std::move(v));
      } else {
        ensure(!out->dyn_args && !out->dyn_kwargs && out->kwargs.empty());
        out->args.push_back(ParseExpression(true));
        h = std::max(h, Height(out->args.back()));
      }
      require_comma = true;
    }
    ExpectOp(")");
    return h;
  }

  ExprPtr ParseCall(ExprPtr node) {
    if (node->kind == ExprKind::kGetAttr) {
      static const std::set<std::string> kUnsupportedMethods = {
          "encode",   "decode", "translate",        "maketrans",  "fromkeys", "bit_length",
          "to_bytes", "hex",    "as_integer_ratio", "is_integer", "conjugate"};
      const std::string& attr = static_cast<const GetAttrExpr&>(*node).attr;
      if (kUnsupportedMethods.count(attr)) FailAt(Cur(), "unsupported method " + Quote(attr));
    }
    auto call = std::make_unique<CallExpr>(Cur().line);
    int h = ParseCallArgs(&call->args);
    h = std::max(h, Height(node));
    call->callee = std::move(node);
    return Sized(std::move(call), h);
  }

  ExprPtr ParseFilter(ExprPtr node, bool start_inline) {
    while (IsOp("|") || start_inline) {
      if (!start_inline) Next();
      const Token& nt = Cur();
      int line = nt.line;
      std::string name = ExpectName();
      while (IsOp(".")) {
        Next();
        name += '.';
        name += ExpectName();
      }
      auto f = std::make_unique<FilterExpr>(line);
      f->name = name;
      f->fn = FindFilter(name);
      if (f->fn == nullptr) {
        if (IsUnsupportedFilter(name)) {
          Fail(ErrorKind::kSyntax, "unsupported filter " + Quote(name), line);
        }
        // Not a jinja2 filter either: an error at load unless in a soft frame (see SoftGuard);
        // fn stays null and the interpreter raises jinja2's runtime error if it is evaluated.
        unknown_.push_back({line, "no filter named " + Quote(name), soft_ > 0});
      }
      int h = Height(node);
      if (IsOp("(")) h = std::max(h, ParseCallArgs(&f->args));
      f->operand = std::move(node);
      node = Sized(std::move(f), h);
      start_inline = false;
    }
    return node;
  }

  ExprPtr ParseTest(ExprPtr node) {
    int line = Next().line;
    bool negated = SkipName("not");
    std::string name = ExpectName();
    while (IsOp(".")) {
      Next();
      name += '.';
      name += ExpectName();
    }
    auto t = std::make_unique<TestExpr>(line);
    t->name = name;
    t->fn = FindTest(name);
    if (t->fn == nullptr) {
      unknown_.push_back({line, "no test named " + Quote(name), soft_ > 0});
    }
    int h = Height(node);
    const Token& c = Cur();
    bool arg_start = c.type == Tok::kName || c.type == Tok::kString || c.type == Tok::kInt ||
                     c.type == Tok::kFloat || IsOp("[") || IsOp("{");
    if (IsOp("(")) {
      h = std::max(h, ParseCallArgs(&t->args));
    } else if (arg_start && !IsName("else") && !IsName("or") && !IsName("and")) {
      if (IsName("is")) FailAt(c, "You cannot chain multiple tests with is");
      DepthGuard g(this);
      ExprPtr arg = ParsePostfix(ParsePrimary());
      h = std::max(h, Height(arg));
      t->args.args.push_back(std::move(arg));
    }
    t->operand = std::move(node);
    ExprPtr out = Sized(std::move(t), h);
    if (negated) {
      int hh = Height(out);
      out = Sized(std::make_unique<UnaryExpr>(line, '!', std::move(out)), hh);
    }
    return out;
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<std::string> tag_stack_;
  std::set<std::string> block_names_;
  std::vector<std::set<std::string>> names_;  // names used in the macro bodies being parsed
  struct Unknown {
    int line;
    std::string message;
    bool soft;
  };
  std::vector<Unknown> unknown_;  // unknown filters/tests, fatal unless in a soft frame
  int soft_ = 0;
};

}  // namespace

Body ParseTemplate(std::string_view source) { return Parser(Tokenize(source)).ParseAll(); }

}  // namespace suanli::jinja
