// Tokenizers built from GGUF metadata (the tokenizer.ggml.* keys), matching llama.cpp's results.
//
//   "llama": SentencePiece BPE with scores. Spaces become U+2581 ("▁"), a leading "▁" is added
//            (tokenizer.ggml.add_space_prefix, default true), adjacent pieces merge greedily by the
//            highest score of the merged token, and bytes no token covers fall back to <0xXX>
//            byte tokens (else the unknown token).
//   "gpt2":  byte-level BPE. tokenizer.ggml.pre picks the regex that splits text into words
//            (pretokenizer.h: Llama 3, Qwen 2/3, Qwen 3.5, StarCoder-style, Tekken, GPT-2 and
//            llama.cpp's "default", also taken when the key is absent; its table has the names
//            each family's files carry); each word's bytes are spelled with GPT-2's printable
//            byte alphabet and merged by tokenizer.ggml.merges order.
// Control (type 3) and unknown (2) tokens are recognised in text only with parse_special; user-
// defined tokens (4) always are, as llama.cpp and Hugging Face's added tokens do. Overlapping
// special tokens resolve longest first. In Phi-3 files (by general.name, as llama.cpp decides) the
// whitespace after a special token is dropped (Hugging Face's rstrip), except after <unk>, <s>
// and <|endoftext|>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/hash_tables.h"
#include "engine/tokenizer/pretokenizer.h"
#include "gguf/gguf.h"
#include "suanli/status.h"

namespace suanli {

// tokenizer.ggml.token_type values.
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

class Tokenizer {
 public:
  // Reads the tokenizer.ggml.* keys; errors name the offending key. The tokenizer copies what it
  // needs, so `file` may be closed afterwards.
  static StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);

  // Encodes text. add_special: add BOS/EOS per the vocabulary's rules; parse_special: text such
  // as "<|im_start|>" or "</s>" becomes its control token, else it is plain text (user-defined
  // tokens match either way).
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;
  // Bytes this token contributes to output text: byte tokens give the raw byte, SPM's "▁" a
  // space, control/unknown/unused tokens nothing. Out-of-range ids give nothing.
  std::string TokenToPiece(int32_t id) const;
  // Concatenated pieces; with SPM's space prefix, the first token after an initial BOS loses one
  // leading space, so Decode(Encode(x)) == x.
  std::string Decode(const std::vector<int32_t>& ids) const;

  int32_t n_vocab() const { return static_cast<int32_t>(types_.size()); }
  int32_t bos_id() const { return bos_id_; }  // -1 when absent
  int32_t eos_id() const { return eos_id_; }
  int32_t eot_id() const { return eot_id_; }
  int32_t unk_id() const { return unk_id_; }
  // eos, eot, eom and tokens such as <|eot_id|>, <|im_end|>, <|endoftext|>.
  bool IsEndOfGeneration(int32_t id) const;
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  std::string_view model() const { return is_spm_ ? "llama" : "gpt2"; }
  std::string_view pre() const { return pre_; }  // "" for SentencePiece

  // The vocabulary as stored in the file.
  std::string_view token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  // Id of the token whose text is exactly `text` (the last one when duplicated), or -1.
  int32_t FindToken(std::string_view text) const;

 private:
  Tokenizer() = default;
  Status LoadVocab(const GgufFile& file);
  Status LoadMerges(const GgufFile& file);
  Status LoadSpecialIds(const GgufFile& file);
  void BuildSpecialTrie();
  void SetStripRules(const GgufFile& file);

  struct Fragment {
    size_t begin, end;  // raw text bytes when token < 0
    int32_t token;      // a special token matched in the text
  };
  void Partition(std::string_view text, bool parse_special, std::vector<Fragment>* out) const;
  void EncodeSpm(std::string_view text, bool space_prefix, std::vector<int32_t>* out) const;
  struct SpmScratch;
  void EncodeSpmSegment(std::string_view text, SpmScratch* scratch,
                        std::vector<int32_t>* out) const;
  struct BpeScratch;
  void EncodeBpe(std::string_view text, std::vector<int32_t>* out) const;
  void EncodeBpeWord(std::string_view word, BpeScratch* scratch, std::vector<int32_t>* out) const;
  bool SpmMergeable(int32_t id) const;

  bool is_spm_ = true;
  std::string pre_;
  PreTokenizer pre_kind_ = PreTokenizer::kGpt2;
  bool ignore_merges_ = false;  // Llama 3, Tekken: a word that is a whole token skips the merges
  bool add_space_prefix_ = true;
  bool spm_words_independent_ = false;  // no token has "▁" after another character
  bool add_bos_ = false;
  bool add_eos_ = false;
  int32_t bos_id_ = -1, eos_id_ = -1, unk_id_ = -1, eot_id_ = -1, eom_id_ = -1;

  std::string text_;               // all token texts back to back
  std::vector<uint32_t> offsets_;  // token i is text_[offsets_[i], offsets_[i + 1])
  std::vector<TokenType> types_;
  std::vector<float> scores_;  // SentencePiece only
  StringIdTable by_text_;
  MergeTable merges_;             // byte-level BPE only
  int32_t byte_token_[256] = {};  // SPM: <0xXX> fallback; BPE: the token of each byte's char
  std::vector<int32_t> eog_ids_;  // sorted
  std::vector<int32_t> rstrip_ids_;  // sorted: special tokens that drop the whitespace after them

  // Trie over the texts of control / user-defined / unknown tokens, for Partition.
  struct TrieNode {
    int32_t token = -1;  // token ending here
    std::vector<std::pair<uint8_t, int32_t>> children;
  };
  std::vector<TrieNode> trie_;
  bool has_user_defined_ = false;  // user-defined tokens match even without parse_special
  int32_t trie_root_[256] = {};    // root's children by byte (-1: none)
};

}  // namespace suanli
