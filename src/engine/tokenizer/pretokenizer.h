// Pre-tokenizers of byte-level BPE vocabularies: split text into words before BPE merges.
//
// Each is a hand-written state machine equivalent to the regex llama.cpp applies for the
// vocabulary's tokenizer.ggml.pre (first matching alternative wins, as in a backtracking regex
// engine):
//   kGpt2:      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3:    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//               ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   kQwen2:     as kLlama3 but \p{N} (one digit per word)
//   kQwen35:    as kQwen2 with marks joining letters: [^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+ and
//               ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*
//   kStarcoder: every \p{N} is a word of its own; the text between two of them is split by kGpt2
//               as if it were all the text (so a whitespace run before a digit stays whole)
//   kTekken:    [^\r\n\p{L}\p{N}]?U*W+|[^\r\n\p{L}\p{N}]?U+W*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|
//               \s*[\r\n]+|\s+(?!\S)|\s+
//               with U a letter other than a-z and W a letter other than A-Z. This is how
//               llama.cpp runs Mistral's [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]* /
//               [\p{Ll}\p{Lm}\p{Lo}\p{M}]+: case is told apart in ASCII only (a non-ASCII letter is
//               both U and W) and marks are not letters.
//   kDefault:   llama.cpp's fallback for "default" or no tokenizer.ggml.pre: runs of
//               [\p{P}$+<=>^~|] apart, then kGpt2 on each piece, then \p{N}+ runs apart, then
//               every [0-9]{3} apart
// \s is the Unicode White_Space property. Invalid UTF-8 bytes count as U+FFFD (a symbol) so every
// byte of the input lands in exactly one word. Each splitter reads every code point a bounded
// number of times, so the time is linear in the text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace suanli {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2, kQwen35, kStarcoder, kTekken, kDefault };

// What a tokenizer.ggml.pre value selects, as llama.cpp reads it.
struct PreTokenizerInfo {
  std::string_view name;
  PreTokenizer kind;
  bool ignore_merges;  // a word that is a whole token skips the merges
  bool add_bos;        // default of tokenizer.ggml.add_bos_token
};

// The entry for `name`, or nullptr for a name no entry has.
const PreTokenizerInfo* FindPreTokenizer(std::string_view name);
// Every supported name, comma-separated, in table order (for error messages).
std::string SupportedPreTokenizers();

struct WordSpan {
  size_t begin;  // byte offsets into the text
  size_t end;
};

// Appends the words of `text` to *words, in order; they tile the text exactly.
void PreTokenize(PreTokenizer kind, std::string_view text, std::vector<WordSpan>* words);

}  // namespace suanli
