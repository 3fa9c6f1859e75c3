// Template: parse and render entry points (see jinja.h). TemplateError exceptions from the
// lexer, parser and interpreter stop here and become Status values.
#include "server/template/jinja.h"

#include <chrono>
#include <ctime>

#include "server/template/parser.h"
#include "server/template/unicode.h"

namespace suanli::jinja {
namespace {

constexpr int kMaxJsonDepth = 512;

Value Convert(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxJsonDepth) RuntimeError("input JSON nested too deeply");
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return Value::None();
    case nlohmann::json::value_t::boolean:
      return Value::Bool(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::Int(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::Float(static_cast<double>(u));
      return Value::Int(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::Float(j.get<double>());
    case nlohmann::json::value_t::string: {
      const std::string& s = j.get_ref<const std::string&>();
      size_t bad = FindInvalidUtf8(s);
      if (bad != std::string::npos) {
        RuntimeError("input string is not valid UTF-8 (byte " + std::to_string(bad) + ")");
      }
      return Value::Str(s);
    }
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(Convert(x, depth + 1));
      return Value::List(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      auto d = std::make_shared<DictData>();
      d->items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        size_t bad = FindInvalidUtf8(it.key());
        if (bad != std::string::npos) RuntimeError("input object key is not valid UTF-8");
        d->Set(Value::Str(it.key()), Convert(it.value(), depth + 1));
      }
      return Value::Dict(std::move(d));
    }
    case nlohmann::json::value_t::binary:
      RuntimeError("binary JSON values are not supported");
  }
  return Value::None();
}

}  // namespace

CivilTime SystemLocalTime() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  CivilTime c;
  c.year = tm.tm_year + 1900;
  c.month = tm.tm_mon + 1;
  c.day = tm.tm_mday;
  c.hour = tm.tm_hour;
  c.minute = tm.tm_min;
  c.second = tm.tm_sec;
  c.microsecond = static_cast<int>(
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000);
  return c;
}

StatusOr<Value> ValueFromJson(const nlohmann::ordered_json& j) {
  try {
    return Convert(j, 0);
  } catch (const TemplateError& e) {
    return InvalidArgument(e.message);
  }
}

StatusOr<std::shared_ptr<const Template>> Template::Parse(std::string_view source) {
  size_t bad = FindInvalidUtf8(source);
  if (bad != std::string_view::npos) {
    return InvalidArgument("template is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  try {
    Body body = ParseTemplate(source);
    return std::shared_ptr<const Template>(
        std::make_shared<Template>(std::move(body), std::string(source)));
  } catch (const TemplateError& e) {
    return InvalidArgument("line " + std::to_string(e.line) + ": " + e.message);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory parsing template");
  }
}

StatusOr<std::string> Template::Render(const nlohmann::ordered_json& globals,
                                       const RenderOptions& opts, RenderFailure* failure) const {
  auto fail = [&](ErrorKind kind, int line, const std::string& msg) -> Status {
    if (failure != nullptr) {
      failure->kind = kind;
      failure->line = line;
      failure->message = msg;
    }
    std::string text = line > 0 ? "line " + std::to_string(line) + ": " + msg : msg;
    return kind == ErrorKind::kLimit ? ResourceExhausted(text) : InvalidArgument(text);
  };
  if (!globals.is_object() && !globals.is_null()) {
    return fail(ErrorKind::kRuntime, 0, "globals must be a JSON object");
  }
  try {
    std::unordered_map<std::string, Value> vars;
    if (globals.is_object()) {
      for (auto it = globals.begin(); it != globals.end(); ++it) {
        vars[it.key()] = Convert(it.value(), 0);
      }
    }
    InterpreterLimits limits{opts.limits.max_output_bytes, opts.limits.max_steps,
                             opts.limits.max_depth};
    std::function<CivilTime()> clock = opts.now ? opts.now : SystemLocalTime;
    Interpreter in(limits, std::move(clock), std::move(vars));
    return in.Render(body_);
  } catch (const TemplateError& e) {
    return fail(e.kind, e.line, e.message);
  } catch (const std::bad_alloc&) {
    return fail(ErrorKind::kLimit, 0, "out of memory rendering template");
  } catch (const std::length_error&) {
    return fail(ErrorKind::kLimit, 0, "value too large rendering template");
  }
}

}  // namespace suanli::jinja
