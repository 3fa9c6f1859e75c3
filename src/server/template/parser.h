// Parser: tokens -> AST, following jinja2's parser.py grammar and precedence (condexpr < or < and
// < not < compare < +,- < ~ < *,/,//,% < ** < unary < postfix/filters/tests).
//
// Every filter and test name is resolved here, so a template using one this interpreter does not
// implement fails at load, naming the line: "line 12: unsupported filter 'xmlattr'". Unsupported
// tags (include, extends, import, ...) fail the same way. A name jinja2 does not know either
// fails at load too, except inside an {% if %} or a conditional expression, where jinja2 itself
// only fails if it is evaluated (the `{% if 'x' is filter %}{{ v|x }}{% endif %}` idiom). Nesting
// is bounded (parentheses, blocks, expression height) so hostile sources cannot overflow the stack.
#pragma once

#include <string_view>

#include "server/template/ast.h"

namespace suanli::jinja {

constexpr int kMaxParseDepth = 200;  // nested parentheses/brackets/blocks
constexpr int kMaxExprHeight = 400;  // height of one expression tree

// Throws TemplateError (kSyntax).
Body ParseTemplate(std::string_view source);

// Filter and test registries (builtins.cc); nullptr when unknown.
FilterFn FindFilter(std::string_view name);
TestFn FindTest(std::string_view name);
// Names jinja2 has but this interpreter does not implement (for the load-time message).
bool IsUnsupportedFilter(std::string_view name);

}  // namespace suanli::jinja
