// Lexer: template source -> tokens, as jinja2's lexer tokenizes with Hugging Face's settings.
//
// Rules reproduced (jinja2 3.1 lexer.py): newlines (\r\n, \r, \n) become \n and one trailing
// newline is dropped; `{{ }}`, `{% %}`, `{# #}` tags; `-` on either side strips all whitespace
// (Python str.isspace) next to the tag, `+` disables lstrip_blocks; trim_blocks drops the first
// newline after a block or comment tag; lstrip_blocks strips whitespace from the start of the
// line up to a block or comment tag; `{% raw %}...{% endraw %}` is data; inside tags `}}`
// and `%}` only close the tag when (, [ and { are balanced. Comments produce no tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace suanli::jinja {

enum class Tok : uint8_t {
  kData,
  kVarBegin,
  kVarEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInt,
  kFloat,
  kOp,  // value holds the operator text: "+", "//", "(", ...
  kEof,
};

struct Token {
  Tok type;
  int line;
  std::string value;  // data text, name, decoded string literal, operator
  int64_t ival = 0;
  double fval = 0;
};

// Throws TemplateError (kSyntax) with the line on malformed input.
std::vector<Token> Tokenize(std::string_view source);

}  // namespace suanli::jinja
