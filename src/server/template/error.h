// TemplateError: how failures travel inside the template library.
//
// The lexer, parser and interpreter throw TemplateError internally (deep recursion makes
// StatusOr plumbing on every node costly and noisy); Template::Parse and Template::Render catch
// it and return a Status, so no exception ever leaves the library.
#pragma once

#include <string>
#include <utility>

namespace suanli::jinja {

enum class ErrorKind {
  kSyntax,   // the template source does not parse, or uses an unsupported construct
  kRuntime,  // a Python/Jinja runtime error (TypeError, UndefinedError, ...)
  kRaised,   // the template called raise_exception(msg)
  kLimit,    // a sandbox limit (steps, depth, output size, ...) was exceeded
};

struct TemplateError {
  ErrorKind kind;
  std::string message;
  int line = 0;  // 0: not known yet (the interpreter fills in the current line)
};

[[noreturn]] inline void Fail(ErrorKind kind, std::string message, int line = 0) {
  throw TemplateError{kind, std::move(message), line};
}
[[noreturn]] inline void RuntimeError(std::string message) {
  throw TemplateError{ErrorKind::kRuntime, std::move(message), 0};
}

}  // namespace suanli::jinja
