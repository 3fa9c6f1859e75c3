// Pre-tokenizers of byte-level BPE vocabularies: split text into words before BPE merges.
//
// Each is a hand-written state machine equivalent to the vocabulary's regex (first matching
// alternative wins, as in a backtracking regex engine), written after llama.cpp's custom splitters:
//   kGpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   kQwen2:  as kLlama3 but \p{N} (one digit per word)
// \s is the Unicode White_Space property. Invalid UTF-8 bytes count as U+FFFD (a symbol) so every
// byte of the input lands in exactly one word.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace suanli {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2 };

struct WordSpan {
  size_t begin;  // byte offsets into the text
  size_t end;
};

// Appends the words of `text` to *words, in order; they tile the text exactly.
void PreTokenize(PreTokenizer kind, std::string_view text, std::vector<WordSpan>* words);

}  // namespace suanli
