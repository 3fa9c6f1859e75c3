// Unit tests of the Jinja interpreter: constructs, Python printing, undefined rules, the sandbox,
// every limit (each case would hang, crash or allocate without bound without its limit), error
// messages with line numbers, load-time failures, ChatTemplate and render speed. Behaviour
// that must match Python exactly is also covered by template_snippets_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "server/template/chat_template.h"
#include "server/template/jinja.h"

namespace suanli::jinja {
namespace {

using Json = nlohmann::ordered_json;

Json Ctx() {
  return Json::parse(R"({"messages": [{"role": "user", "content": "hi"}], "n": 3, "s": "abc",
                          "d": {"k": 1, "l": [1, 2]}, "z": null})");
}

std::string Render(const std::string& src, const Json& ctx = Ctx()) {
  auto t = Template::Parse(src);
  if (!t.ok()) return "PARSE ERROR: " + t.status().message();
  auto r = (*t)->Render(ctx);
  if (!r.ok()) return "ERROR: " + r.status().message();
  return *r;
}

// Renders and returns the failure (the test fails if the render succeeds).
RenderFailure RenderFails(const std::string& src, Limits limits = {}, Status* status = nullptr) {
  auto t = Template::Parse(src);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  RenderFailure f;
  if (!t.ok()) return f;
  RenderOptions o;
  o.limits = limits;
  auto start = std::chrono::steady_clock::now();
  auto r = (*t)->Render(Ctx(), o, &f);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_FALSE(r.ok()) << "rendered " << r->size() << " bytes";
  EXPECT_LT(secs, 20.0) << "a limit should stop this quickly";
  if (status != nullptr && !r.ok()) *status = r.status();
  return f;
}

TEST(Jinja, Basics) {
  EXPECT_EQ(Render("Hello {{ name }}!", {{"name", "World"}}), "Hello World!");
  EXPECT_EQ(Render("{{ messages[0].content }}"), "hi");
  EXPECT_EQ(Render("{% for i in range(n) %}{{ i }}{% endfor %}"), "012");
}

TEST(Jinja, PythonPrinting) {
  EXPECT_EQ(Render("{{ true }} {{ none }} {{ [1, 'a', none, {'k': false}] }}"),
            "True None [1, 'a', None, {'k': False}]");
  EXPECT_EQ(Render("{{ 1.0 }} {{ 1e-05 }} {{ 0.1 }} {{ 1e16 }} {{ 2.5e-10 }} {{ 10 / 4 }}"),
            "1.0 1e-05 0.1 1e+16 2.5e-10 2.5");
  EXPECT_EQ(Render("{{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 'ab' * 2 }}"), "-4 2 -2 abab");
  EXPECT_EQ(Render("{{ (1,) }} {{ ('a', \"it's\") }}"), "(1,) ('a', \"it's\")");
  EXPECT_EQ(Render("{{ d }}"), "{'k': 1, 'l': [1, 2]}");
  EXPECT_EQ(Render("{{ 'x' ~ 1 ~ none }}"), "x1None");
}

TEST(Jinja, UndefinedRules) {
  EXPECT_EQ(Render("[{{ nope }}][{{ d.nope }}][{{ nope is defined }}][{{ nope|default('x') }}]"),
            "[][][False][x]");
  EXPECT_EQ(Render("{{ z|default('x') }}|{{ z|default('x', true) }}"), "None|x");
  EXPECT_EQ(Render("{{ nope.attr }}"), "ERROR: line 1: UndefinedError: 'nope' is undefined");
  EXPECT_EQ(Render("\n\n{{ d.nope.deeper }}"),
            "ERROR: line 3: UndefinedError: 'dict object' has no attribute 'nope'");
  EXPECT_EQ(Render("{{ nope + 1 }}"), "ERROR: line 1: UndefinedError: 'nope' is undefined");
}

TEST(Jinja, Scoping) {
  // Loop bodies get their own scope per iteration; namespace() carries state out.
  EXPECT_EQ(Render("{% set x = 0 %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}"
                   "{{ x }}"),
            "01020");
  EXPECT_EQ(Render("{% set ns = namespace(x=0) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}"
                   "{% endfor %}{{ ns.x }}"),
            "3");
  EXPECT_EQ(Render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5");
  EXPECT_EQ(Render("{% macro m() %}{{ late }}{% endmacro %}{% set late = 'L' %}{{ m() }}"), "L");
}

TEST(Jinja, WhitespaceControl) {
  EXPECT_EQ(Render("a\n  {% if true %}\n  b\n  {% endif %}\nc"), "a\n  b\nc");
  EXPECT_EQ(Render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(Render("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(Render("x\r\ny\n"), "x\ny");  // newlines normalized, one trailing newline dropped
}

TEST(Jinja, Sandbox) {
  EXPECT_EQ(Render("[{{ s.__class__ }}][{{ d.__class__ is defined }}]"), "[][False]");
  EXPECT_EQ(Render("{{ s.__class__.__mro__ }}"),
            "ERROR: line 1: SecurityError: access to attribute '__class__' of 'str' object is "
            "unsafe.");
  EXPECT_EQ(Render("{% set l = [1] %}{{ l.append(2) }}"),
            "ERROR: line 1: SecurityError: access to attribute 'append' of 'list' object is "
            "unsafe.");
  EXPECT_EQ(Render("{{ d.update({'a': 1}) }}"),
            "ERROR: line 1: SecurityError: access to attribute 'update' of 'dict' object is "
            "unsafe.");
  EXPECT_EQ(Render("{{ d.pop('k') }}"),
            "ERROR: line 1: SecurityError: access to attribute 'pop' of 'dict' object is unsafe.");
  // Methods that do not mutate are fine; dict keys are reachable through attributes.
  EXPECT_EQ(Render("{{ d.get('k') }}{{ d.k }}{{ d['l'].index(2) }}"), "111");
  // Found by template_fuzz: a float too large for an integer format was undefined behaviour.
  EXPECT_NE(Render("{{ '%05.if 0f' % 3.14e159 }}").find("OverflowError"), std::string::npos);
  EXPECT_EQ(Render("{{ '%d' % 3.9 }}"), "3");
  EXPECT_EQ(Render("{{ range(100001)|length }}"),
            "ERROR: line 1: OverflowError: Range too big. The sandbox blocks ranges larger than "
            "MAX_RANGE (100000).");
}

TEST(Jinja, Strftime) {
  auto t = Template::Parse("{{ strftime_now('%Y-%m-%d %A %b %-d %I:%M %p %j') }}");
  ASSERT_TRUE(t.ok());
  RenderOptions o;
  o.now = [] { return CivilTime{2025, 3, 9, 15, 4, 5, 0}; };
  auto r = (*t)->Render(Json::object(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "2025-03-09 Sunday Mar 9 03:04 PM 068");
}

TEST(Jinja, ErrorsNameLineAndCause) {
  auto t = Template::Parse("a\nb\n{{ x|xmlattr }}");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "line 3: unsupported filter 'xmlattr'");
  t = Template::Parse("{% for x in y %}\n{{ x|nosuch }}{% endfor %}");
  EXPECT_EQ(t.status().message(), "line 2: no filter named 'nosuch'");
  // Inside an if, jinja2 defers an unknown filter to render time (the `is filter` idiom).
  EXPECT_EQ(Render("{% if 'nosuch' is filter %}{{ s|nosuch }}{% else %}none{% endif %}"), "none");
  EXPECT_EQ(Render("{% if true %}\n{{ s|nosuch }}{% endif %}"),
            "ERROR: line 2: TemplateRuntimeError: No filter named 'nosuch' found.");
  t = Template::Parse("\n{% include 'x.jinja' %}");
  EXPECT_EQ(t.status().message(), "line 2: unsupported tag 'include'");
  t = Template::Parse("{% for x in y %}\n\n");
  EXPECT_EQ(t.status().message(),
            "line 2: Unexpected end of template. Jinja was looking for the following tags: "
            "'endfor' or 'else'. The innermost block that needs to be closed is 'for'.");
  t = Template::Parse("{% do x %}");
  EXPECT_NE(t.status().message().find("line 1: Encountered unknown tag 'do'"), std::string::npos);
  t = Template::Parse("{{ x is nosuchtest }}");
  EXPECT_EQ(t.status().message(), "line 1: no test named 'nosuchtest'");
  t = Template::Parse("{{ 1 +\n}}");
  EXPECT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().rfind("line 2: ", 0), 0u) << t.status().message();
  t = Template::Parse("{% break %}");
  EXPECT_EQ(t.status().message(), "line 1: 'break' outside of a loop");
  t = Template::Parse("{% block b required %}{% endblock %}");
  EXPECT_EQ(t.status().message(), "line 1: unsupported: required blocks");
  t = Template::Parse("{{ s.encode('utf-8') }}");
  EXPECT_EQ(t.status().message(), "line 1: unsupported method 'encode'");
  t = Template::Parse("{% block b %}x{% endblock %}{{ self.b() }}");
  EXPECT_EQ(t.status().message(), "line 1: unsupported block reference 'self'");
  t = Template::Parse("{{ lipsum(2) }}");
  EXPECT_EQ(t.status().message(), "line 1: unsupported global function 'lipsum'");
  t = Template::Parse(std::string("bad \xff utf8"));
  EXPECT_FALSE(t.ok());
  EXPECT_EQ(Render("1\n2\n{{ 1 + 'a' }}"),
            "ERROR: line 3: TypeError: unsupported operand type(s) for +: 'int' and 'str'");
}

// ---- limits: each case would hang or allocate without bound without its limit ----

TEST(Limits, Steps) {
  Limits l;
  l.max_steps = 1'000'000;
  Status st;
  RenderFailure f = RenderFails(
      "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", l, &st);
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("steps"), std::string::npos);
}

TEST(Limits, DefaultStepsStopNestedLoops) {
  RenderFailure f = RenderFails(
      "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
}

TEST(Limits, MacroRecursion) {
  RenderFailure f = RenderFails("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
  EXPECT_NE(f.message.find("macro call depth"), std::string::npos);
}

TEST(Limits, CallerRecursion) {
  RenderFailure f = RenderFails(
      "{% macro m() %}{{ caller() }}{% endmacro %}{% macro r() %}{% call m() %}{{ r() }}"
      "{% endcall %}{% endmacro %}{{ r() }}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
}

TEST(Limits, RecursiveLoop) {
  RenderFailure f = RenderFails("{% for i in [1] recursive %}{{ loop([1]) }}{% endfor %}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
}

TEST(Limits, OutputSize) {
  Limits l;
  l.max_output_bytes = 1 << 20;
  RenderFailure f = RenderFails("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", l);
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
  EXPECT_NE(f.message.find("output size"), std::string::npos);
}

TEST(Limits, StringRepetition) {
  RenderFailure f = RenderFails("{{ 'x' * 10000000000 }}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
  f = RenderFails("{{ [1, 2] * 10000000000 }}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
}

TEST(Limits, DoublingStringsAndLists) {
  RenderFailure f = RenderFails(
      "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
      "{% endfor %}{{ ns.s|length }}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
  f = RenderFails(
      "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
      "{% endfor %}{{ ns.l|length }}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
  f = RenderFails(
      "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(64) %}"
      "{% set ns.s = [ns.s, ns.s]|join %}{% endfor %}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
}

TEST(Limits, WidthsAndPadding) {
  EXPECT_EQ(RenderFails("{{ '%0999999999d' % 1 }}").kind, ErrorKind::kLimit);
  EXPECT_EQ(RenderFails("{{ '{:>999999999}'.format('x') }}").kind, ErrorKind::kLimit);
  EXPECT_EQ(RenderFails("{{ 'ab'.center(999999999) }}").kind, ErrorKind::kLimit);
  EXPECT_EQ(RenderFails("{{ 'a\\nb'|indent(999999999) }}").kind, ErrorKind::kLimit);
  EXPECT_EQ(RenderFails("{{ 'x'.zfill(999999999) }}").kind, ErrorKind::kLimit);
}

TEST(Limits, BigIntegers) {
  // Python would build a huge integer; here it is a clean error.
  RenderFailure f = RenderFails("{{ 2 ** 1000000 }}");
  EXPECT_EQ(f.kind, ErrorKind::kRuntime);
  EXPECT_NE(f.message.find("OverflowError"), std::string::npos);
}

TEST(Limits, DeepSourceNestingDoesNotOverflowTheParser) {
  for (const std::string& src :
       {std::string("{{ ") + std::string(10000, '(') + "1" + std::string(10000, ')') + " }}",
        std::string("{{ ") + std::string(10000, '[') + std::string(10000, ']') + " }}",
        std::string("{{ ") + std::string(100000, '-') + "1 }}",
        [] {
          std::string s = "{{ 1";
          for (int i = 0; i < 100000; ++i) s += " + 1";
          return s + " }}";
        }(),
        [] {
          std::string s = "{{ x";
          for (int i = 0; i < 100000; ++i) s += "|trim";
          return s + " }}";
        }(),
        [] {
          std::string s;
          for (int i = 0; i < 10000; ++i) s += "{% if true %}";
          return s;
        }(),
        [] {
          std::string s = "{{ not";
          for (int i = 0; i < 100000; ++i) s += " not";
          return s + " 1 }}";
        }()}) {
    auto t = Template::Parse(src);
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("nested too deeply"), std::string::npos)
        << t.status().message().substr(0, 200);
  }
}

TEST(Limits, NestingAcrossMacrosStaysOnTheStack) {
  // Each macro level nests a deep expression; the interpreter's nesting cap stops it cleanly
  // long before the native stack runs out (also under ASan, whose frames are larger).
  std::string deep = std::string(150, '-') + "f(n + 1)";
  RenderFailure f = RenderFails("{% macro f(n) %}{{ " + deep + " }}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
}

TEST(Limits, LargeButLegitimateInputsRender) {
  // A 5 MB message: scanning, splitting and concatenating it are work, not oversized values.
  std::string big(5 << 20, 'a');
  big[1000] = 'x';
  auto t = Template::Parse(
      "{{ (content.split('x')|length) }}|{{ content|length }}|{{ ('<s>' + content + '</s>')|length "
      "}}"
      "|{{ content.strip()|length }}|{{ (content|tojson)|length }}|{{ 'x' in content }}");
  ASSERT_TRUE(t.ok());
  auto r = (*t)->Render(Json{{"content", big}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "2|5242880|5242887|5242880|5242882|True");
}

TEST(Limits, DeepInputNesting) {
  Json deep = Json::array();
  Json* cur = &deep;
  for (int i = 0; i < 5000; ++i) {
    cur->push_back(Json::array());
    cur = &(*cur)[0];
  }
  auto t = Template::Parse("{{ x }}");
  ASSERT_TRUE(t.ok());
  auto r = (*t)->Render(Json{{"x", deep}});
  EXPECT_FALSE(r.ok());
}

TEST(Limits, DeepValueNestingInRepr) {
  // Nesting built by the template itself: printing it must not overflow the stack either.
  RenderFailure f = RenderFails(
      "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}"
      "{% endfor %}{{ ns.l }}");
  EXPECT_EQ(f.kind, ErrorKind::kLimit);
}

TEST(Limits, CyclesDoNotLeak) {
  // Under ASan/LSan a leak here fails the test binary.
  EXPECT_EQ(Render("{% set ns = namespace() %}{% set ns.me = ns %}{% macro m() %}{% endmacro %}"
                   "{% set ns.m = m %}{% for i in [1] %}{% set ns.loop = loop %}{% endfor %}"
                   "{% set ns.f = [ns].index %}ok"),
            "ok");
}

// ---- ChatTemplate ----

TEST(ChatTemplate, RaiseExceptionIsToldApart) {
  auto t = ChatTemplate::Load(
      "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}"
      "{% endif %}{{ messages[0].content }}",
      "<s>", "</s>");
  ASSERT_TRUE(t.ok());
  ChatInputs in;
  in.messages = Json::parse(R"([{"role": "system", "content": "x"}])");
  ApplyResult r = t->Apply(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "System role not supported");
  EXPECT_TRUE(r.raised_by_template());

  in.messages = Json::parse(R"([{"role": "user"}])");
  r = t->Apply(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
  in.messages = Json::parse(R"([])");
  r = t->Apply(in);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.raised_by_template());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "line 1: UndefinedError: list object has no element 0");
}

TEST(ChatTemplate, Variables) {
  auto t = ChatTemplate::Load(
      "{{ bos_token }}|{{ tools is defined }}|{{ add_generation_prompt }}|{{ enable_thinking }}|"
      "{{ eos_token }}",
      "<B>", "<E>");
  ASSERT_TRUE(t.ok());
  ChatInputs in;
  in.messages = Json::array();
  in.add_generation_prompt = false;
  in.extra = Json{{"enable_thinking", false}};
  ApplyResult r = t->Apply(in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "<B>|False|False|False|<E>");
  in.tools = Json::array();
  r = t->Apply(in);
  EXPECT_EQ(*r, "<B>|True|False|False|<E>");
  in.extra = Json{{"messages", 1}};
  EXPECT_FALSE(t->Apply(in).ok());
}

TEST(ChatTemplate, DefaultChatML) {
  ChatTemplate t = ChatTemplate::DefaultChatML("<s>", "</s>");
  EXPECT_TRUE(t.is_default());
  ChatInputs in;
  in.messages = Json::parse(R"([{"role": "system", "content": "S"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image"},
                                   {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null}])");
  ApplyResult r = t.Apply(in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nab<|im_end|>\n"
            "<|im_start|>assistant\n<|im_end|>\n<|im_start|>assistant\n");
  in.add_generation_prompt = false;
  r = t.Apply(in);
  EXPECT_EQ(r->substr(r->size() - 11), "<|im_end|>\n");
}

TEST(ChatTemplate, LoadFailureNamesLine) {
  auto t = ChatTemplate::Load("ok\n{{ x|pprint }}", "", "");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "chat template: line 2: unsupported filter 'pprint'");
}

TEST(ChatTemplate, ConcurrentRendersOfOneTemplate) {
  // A parsed template is immutable: renders on several threads share its constants.
  auto t = ChatTemplate::Load(
      "{% macro m(x) %}{{ x|upper }}{% endmacro %}{% for msg in messages %}{{ m(msg.content) }}"
      "{{ 'é' ~ loop.index }}{% endfor %}",
      "", "");
  ASSERT_TRUE(t.ok());
  ChatInputs in;
  in.messages =
      Json::parse(R"([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])");
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        ApplyResult r = t->Apply(in);
        if (r.ok() && *r == "Aé1Bé2") good.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 2000);
}

TEST(Performance, TenMessageConversationRendersWellUnderAMillisecond) {
  // Llama 3.1's template is one of the heavier common ones (tojson, trims, loops).
  const char* kTemplate =
      "{{- bos_token }}{%- if messages[0]['role'] == 'system' %}{%- set system_message = "
      "messages[0]['content']|trim %}{%- set messages = messages[1:] %}{%- else %}{%- set "
      "system_message = '' %}{%- endif %}{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' "
      "}}{{- 'Cutting Knowledge Date: December 2023\\nToday Date: 26 Jul 2024\\n\\n' }}{{- "
      "system_message }}{{- '<|eot_id|>' }}{%- for message in messages %}{%- if not "
      "(message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}{{- "
      "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | "
      "trim + '<|eot_id|>' }}{%- else %}{{- message.tool_calls[0].function.arguments | tojson "
      "}}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- "
      "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";
  auto t = ChatTemplate::Load(kTemplate, "<s>", "</s>");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ChatInputs in;
  in.messages = Json::array();
  in.messages.push_back({{"role", "system"}, {"content", "You are a helpful assistant."}});
  for (int i = 0; i < 9; ++i) {
    in.messages.push_back({{"role", i % 2 ? "assistant" : "user"},
                           {"content", "Message number " + std::to_string(i) +
                                           " with some ordinary text in it, about a sentence."}});
  }
  const int kIters = 2000;
  auto start = std::chrono::steady_clock::now();
  size_t bytes = 0;
  for (int i = 0; i < kIters; ++i) {
    ApplyResult r = t->Apply(in);
    ASSERT_TRUE(r.ok());
    bytes += r->size();
  }
  double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kIters;
  std::printf("10-message render: %.1f us (%zu bytes)\n", us, bytes / kIters);
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(us, 1000.0);
#endif
}

}  // namespace
}  // namespace suanli::jinja
