// suanli::jinja — a sandboxed Jinja2 interpreter for chat templates.
//
// Renders the templates models ship (GGUF tokenizer.chat_template, Hugging Face chat_template)
// byte for byte as Hugging Face transformers renders them: Python jinja2 3.1 in an
// ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and the loopcontrols extension,
// transformers' tojson (json.dumps with ensure_ascii/indent/separators/sort_keys), its
// raise_exception and strftime_now globals and its {% generation %} tag.
//
// Hostile templates and inputs are expected: nothing outside the given globals is reachable
// (no Python internals, no mutation of lists/dicts, no files or environment; time only through
// the injected clock), and every render is bounded by Limits. Parse fails, naming the line and
// the construct, for anything this interpreter cannot render, so a template that loads renders.
//
// Thread safety: a parsed Template is immutable; Render may run on many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "server/template/interpreter.h"
#include "suanli/status.h"

namespace suanli::jinja {

struct Limits {
  size_t max_output_bytes = 8 << 20;  // also the largest single string/list a template may build
  // node evaluations + loop iterations + calls + bytes built/4: every real family renders a
  // 400-message, 400 KB conversation within a tenth of it (template_real_test), and it stops a
  // runaway template in 0.4 s (in Release)
  uint64_t max_steps = 10'000'000;
  int max_depth = 128;  // nested macro/caller calls
};

struct RenderOptions {
  Limits limits;
  // Local wall-clock time for strftime_now (as Python's datetime.now()). Null: the system clock
  // in the process's local time zone. Tests inject a fixed time.
  std::function<CivilTime()> now;
};

// Why a render failed, beside the Status (for callers that tell raise_exception apart).
struct RenderFailure {
  ErrorKind kind = ErrorKind::kRuntime;
  int line = 0;
  std::string message;  // without the "line N: " prefix; for kRaised exactly the template's text
};

class Template {
 public:
  // Parses with Hugging Face's settings. Errors (kInvalidArgument) name the line and construct:
  // "line 12: unsupported filter 'xmlattr'".
  static StatusOr<std::shared_ptr<const Template>> Parse(std::string_view source);

  // Renders with `globals` (a JSON object: messages, tools, add_generation_prompt, bos_token,
  // ...). Errors: kInvalidArgument "line N: <cause>" for template errors (raise_exception gives
  // "line N: <its message>"), kResourceExhausted for a sandbox limit. `failure`, when given, is
  // filled on error.
  StatusOr<std::string> Render(const nlohmann::ordered_json& globals,
                               const RenderOptions& opts = {},
                               RenderFailure* failure = nullptr) const;

  Template(Body body, std::string source) : body_(std::move(body)), source_(std::move(source)) {}

 private:
  Body body_;
  std::string source_;
};

// Converts JSON to template values (objects keep their order, numbers keep int vs float).
// Fails on strings that are not valid UTF-8.
StatusOr<Value> ValueFromJson(const nlohmann::ordered_json& j);

// The current local time from the system clock.
CivilTime SystemLocalTime();

}  // namespace suanli::jinja
