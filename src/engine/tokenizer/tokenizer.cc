#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "engine/tokenizer/unicode.h"

namespace suanli {
namespace {

constexpr std::string_view kKeyModel = "tokenizer.ggml.model";
constexpr std::string_view kKeyPre = "tokenizer.ggml.pre";
constexpr std::string_view kKeyTokens = "tokenizer.ggml.tokens";
constexpr std::string_view kKeyTypes = "tokenizer.ggml.token_type";
constexpr std::string_view kKeyScores = "tokenizer.ggml.scores";
constexpr std::string_view kKeyMerges = "tokenizer.ggml.merges";
constexpr std::string_view kKeyAddBos = "tokenizer.ggml.add_bos_token";
constexpr std::string_view kKeyAddEos = "tokenizer.ggml.add_eos_token";
constexpr std::string_view kKeySpacePrefix = "tokenizer.ggml.add_space_prefix";
constexpr std::string_view kKeyName = "general.name";

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's space
constexpr size_t kMaxChunk = size_t{1} << 29;  // bytes encoded at once (x3 after escaping)

// Chat-turn ends, by priority: the first present is eot_id() when the metadata has no eot key.
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
    "<|endoftext|>", "<EOT>",      "_<EOT>",  "<end_of_utterance>",
};
// Other tokens that end generation (as llama.cpp's end-of-generation set).
constexpr std::string_view kOtherEogTexts[] = {"<|end_of_text|>", "<|eom_id|>", "<|return|>",
                                               "<|call|>"};

// Reader errors usually name the key already; add it when they do not.
Status AtKey(std::string_view key, const Status& s) {
  if (s.message().find(key) != std::string::npos) return s;
  return Status(s.code(), std::string(key) + ": " + s.message());
}

// Hostile files may hold arbitrary bytes in names; keep messages short and printable.
std::string Printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != 0x7F) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    }
  }
  if (s.size() > 64) out += "...";
  return out;
}

StatusOr<bool> OptionalBool(const GgufFile& file, std::string_view key, bool fallback) {
  if (file.Find(key) == nullptr) return fallback;
  StatusOr<bool> v = file.GetBool(key);
  if (!v.ok()) return AtKey(key, v.status());
  return *v;
}

unsigned char AsciiLower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// C's isspace in the "C" locale, which llama.cpp strips with.
bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Byte value of a byte token "<0xXX>" (or of a one-byte text), or -1.
int ByteTokenValue(std::string_view text) {
  if (text.size() == 1) return static_cast<uint8_t>(text[0]);
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  const int hi = HexDigit(text[3]), lo = HexDigit(text[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  StatusOr<std::string> model = file.GetString(kKeyModel);
  if (!model.ok()) return AtKey(kKeyModel, model.status());
  if (*model == "llama") {
    tok->is_spm_ = true;
  } else if (*model == "gpt2") {
    tok->is_spm_ = false;
  } else {
    return Unimplemented(std::string(kKeyModel) + " = '" + Printable(*model) +
                         "' is not supported (only 'llama' and 'gpt2')");
  }

  // Defaults follow llama.cpp: SentencePiece vocabularies add BOS, Llama 3 and Tekken add BOS
  // although their metadata has no add_bos_token key, the other byte-level ones add nothing.
  bool default_add_bos = tok->is_spm_;
  if (!tok->is_spm_) {
    std::string pre = "default";
    if (file.Find(kKeyPre) != nullptr) {
      StatusOr<std::string> p = file.GetString(kKeyPre);
      if (!p.ok()) return AtKey(kKeyPre, p.status());
      pre = *p;
    }
    const PreTokenizerInfo* info = FindPreTokenizer(pre);
    if (info == nullptr) {
      return Unimplemented(std::string(kKeyPre) + " = '" + Printable(pre) +
                           "': unknown pre-tokenizer (supported: " + SupportedPreTokenizers() +
                           ")");
    }
    tok->pre_kind_ = info->kind;
    tok->ignore_merges_ = info->ignore_merges;
    default_add_bos = info->add_bos;
    tok->pre_ = pre;
  }

  SL_RETURN_IF_ERROR(tok->LoadVocab(file));
  if (!tok->is_spm_) SL_RETURN_IF_ERROR(tok->LoadMerges(file));
  SL_RETURN_IF_ERROR(tok->LoadSpecialIds(file));

  SL_ASSIGN_OR_RETURN(const bool add_bos, OptionalBool(file, kKeyAddBos, default_add_bos));
  SL_ASSIGN_OR_RETURN(const bool add_eos, OptionalBool(file, kKeyAddEos, false));
  SL_ASSIGN_OR_RETURN(tok->add_space_prefix_, OptionalBool(file, kKeySpacePrefix, true));
  if (!tok->is_spm_) tok->add_space_prefix_ = false;  // byte-level BPE never adds one
  // Without the id there is nothing to add; the metadata may still ask for it.
  tok->add_bos_ = add_bos && tok->bos_id_ >= 0;
  tok->add_eos_ = add_eos && tok->eos_id_ >= 0;

  tok->BuildSpecialTrie();
  tok->SetStripRules(file);
  return tok;
}

// llama.cpp's rule for Phi-3 files (a general.name containing "phi-3" or "phi3", any case): the
// whitespace after a special token is dropped, except after <unk>, <s> and <|endoftext|>; "</s>"
// drops it too. The chat template's "<|user|>\n" thus encodes as the token alone.
void Tokenizer::SetStripRules(const GgufFile& file) {
  rstrip_ids_.clear();
  if (file.Find(kKeyName) == nullptr) return;
  StatusOr<std::string> name = file.GetString(kKeyName);
  if (!name.ok()) return;  // only a hint: a name of another type names no model
  std::string lower = *name;
  for (char& c : lower) c = static_cast<char>(AsciiLower(static_cast<unsigned char>(c)));
  if (lower.find("phi-3") == std::string::npos && lower.find("phi3") == std::string::npos) return;
  const int32_t keep[] = {FindToken("<unk>"), FindToken("<s>"), FindToken("<|endoftext|>")};
  for (int32_t id = 0; id < n_vocab(); ++id) {
    const TokenType t = types_[id];
    const bool special =
        t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown;
    if (!special && token_text(id) != "</s>") continue;
    if (std::find(std::begin(keep), std::end(keep), id) != std::end(keep)) continue;
    rstrip_ids_.push_back(id);  // ascending
  }
}

Status Tokenizer::LoadVocab(const GgufFile& file) {
  StatusOr<std::vector<std::string_view>> tokens = file.GetStringArray(kKeyTokens);
  if (!tokens.ok()) return AtKey(kKeyTokens, tokens.status());
  const size_t n = tokens->size();
  if (n == 0) return InvalidArgument(std::string(kKeyTokens) + " is empty");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2)) {
    return OutOfRange(std::string(kKeyTokens) + " has too many tokens: " + std::to_string(n));
  }
  size_t total = 0;
  for (std::string_view t : *tokens) total += t.size();
  if (total > std::numeric_limits<uint32_t>::max()) {
    return OutOfRange(std::string(kKeyTokens) + ": token texts exceed 4 GiB");
  }
  text_.reserve(total);
  offsets_.reserve(n + 1);
  offsets_.push_back(0);
  for (std::string_view t : *tokens) {
    text_.append(t);
    offsets_.push_back(static_cast<uint32_t>(text_.size()));
  }

  types_.assign(n, TokenType::kNormal);
  if (file.Find(kKeyTypes) != nullptr) {
    StatusOr<std::vector<int64_t>> types = file.GetIntArray(kKeyTypes);
    if (!types.ok()) return AtKey(kKeyTypes, types.status());
    if (types->size() != n) {
      return InvalidArgument(std::string(kKeyTypes) + " has " + std::to_string(types->size()) +
                             " entries but " + std::string(kKeyTokens) + " has " +
                             std::to_string(n));
    }
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = (*types)[i];
      if (t < 0 || t > static_cast<int64_t>(TokenType::kByte)) {
        return InvalidArgument(std::string(kKeyTypes) + "[" + std::to_string(i) +
                               "] = " + std::to_string(t) + " is not a token type (0..6)");
      }
      types_[i] = static_cast<TokenType>(t);
    }
  }

  if (is_spm_) {
    scores_.assign(n, 0.0f);
    if (file.Find(kKeyScores) != nullptr) {
      StatusOr<std::vector<float>> scores = file.GetFloatArray(kKeyScores);
      if (!scores.ok()) return AtKey(kKeyScores, scores.status());
      if (scores->size() != n) {
        return InvalidArgument(std::string(kKeyScores) + " has " + std::to_string(scores->size()) +
                               " entries but " + std::string(kKeyTokens) + " has " +
                               std::to_string(n));
      }
      for (size_t i = 0; i < n; ++i) {
        // NaN would break the merge queue's ordering.
        if (std::isnan((*scores)[i])) {
          return InvalidArgument(std::string(kKeyScores) + "[" + std::to_string(i) + "] is NaN");
        }
      }
      scores_ = std::move(*scores);
    }
  }

  if (is_spm_) {
    spm_words_independent_ = true;
    for (size_t i = 0; i < n && spm_words_independent_; ++i) {
      const int32_t id = static_cast<int32_t>(i);
      if (!SpmMergeable(id)) continue;
      const std::string_view t = token_text(id);
      for (size_t p = t.find(kSpaceMark, 1); p != std::string_view::npos;
           p = t.find(kSpaceMark, p + 1)) {
        if (p < kSpaceMark.size() ||
            t.substr(p - kSpaceMark.size(), kSpaceMark.size()) != kSpaceMark) {
          spm_words_independent_ = false;
          break;
        }
      }
    }
  }

  const auto text_of = [this](int32_t id) { return token_text(id); };
  by_text_.Reset(n);
  for (size_t i = 0; i < n; ++i) by_text_.Put(token_text(static_cast<int32_t>(i)), i, text_of);

  for (int b = 0; b < 256; ++b) {
    if (is_spm_) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      int32_t id = FindToken(hex);
      if (id < 0) id = FindToken(std::string(1, static_cast<char>(b)));
      byte_token_[b] = id;
    } else {
      std::string ch;
      AppendUtf8(&ch, ByteToUnicode(static_cast<uint8_t>(b)));
      byte_token_[b] = FindToken(ch);
    }
  }
  return Status::Ok();
}

Status Tokenizer::LoadMerges(const GgufFile& file) {
  StatusOr<std::vector<std::string_view>> merges = file.GetStringArray(kKeyMerges);
  if (!merges.ok()) return AtKey(kKeyMerges, merges.status());
  if (merges->size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return OutOfRange(std::string(kKeyMerges) + " has too many entries");
  }
  merges_.Reset(merges->size());
  std::string joined;
  for (size_t i = 0; i < merges->size(); ++i) {
    const std::string_view m = (*merges)[i];
    const auto where = [&] {
      return std::string(kKeyMerges) + "[" + std::to_string(i) + "] '" + Printable(m) + "'";
    };
    // The first part is never empty, so a space at position 0 belongs to it (as in llama.cpp).
    const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
    if (space == std::string_view::npos || space + 1 >= m.size()) {
      return InvalidArgument(where() + " is not two tokens separated by a space");
    }
    const std::string_view left = m.substr(0, space), right = m.substr(space + 1);
    joined.assign(left);
    joined.append(right);
    const int32_t l = FindToken(left), r = FindToken(right), merged = FindToken(joined);
    if (l < 0 || r < 0 || merged < 0) {
      const std::string_view missing = l < 0 ? left : r < 0 ? right : std::string_view(joined);
      return InvalidArgument(where() + " refers to '" + Printable(missing) + "', which is not in " +
                             std::string(kKeyTokens));
    }
    merges_.Insert(l, r, {static_cast<int32_t>(i), merged});
  }
  return Status::Ok();
}

Status Tokenizer::LoadSpecialIds(const GgufFile& file) {
  const int64_t n = n_vocab();
  const auto read_id = [&](std::string_view key, int32_t* out) -> Status {
    *out = -1;
    if (file.Find(key) == nullptr) return Status::Ok();
    StatusOr<int64_t> v = file.GetInt(key);
    if (!v.ok()) return AtKey(key, v.status());
    if (*v < 0 || *v >= n) {
      return OutOfRange(std::string(key) + " = " + std::to_string(*v) +
                        " is not a token id (the vocabulary has " + std::to_string(n) + " tokens)");
    }
    *out = static_cast<int32_t>(*v);
    return Status::Ok();
  };
  SL_RETURN_IF_ERROR(read_id("tokenizer.ggml.bos_token_id", &bos_id_));
  SL_RETURN_IF_ERROR(read_id("tokenizer.ggml.eos_token_id", &eos_id_));
  SL_RETURN_IF_ERROR(read_id("tokenizer.ggml.unknown_token_id", &unk_id_));
  SL_RETURN_IF_ERROR(read_id("tokenizer.ggml.eot_token_id", &eot_id_));
  SL_RETURN_IF_ERROR(read_id("tokenizer.ggml.eom_token_id", &eom_id_));

  for (int32_t id : {eos_id_, eot_id_, eom_id_}) {
    if (id >= 0) eog_ids_.push_back(id);
  }
  // Found by text, as llama.cpp does: metadata rarely lists them all.
  for (std::string_view text : kEotTexts) {
    const int32_t id = FindToken(text);
    if (id < 0) continue;
    if (eot_id_ < 0) eot_id_ = id;  // converters often omit eot_token_id
    eog_ids_.push_back(id);
  }
  for (std::string_view text : kOtherEogTexts) {
    if (const int32_t id = FindToken(text); id >= 0) eog_ids_.push_back(id);
  }
  std::sort(eog_ids_.begin(), eog_ids_.end());
  eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());
  return Status::Ok();
}

void Tokenizer::BuildSpecialTrie() {
  std::fill(std::begin(trie_root_), std::end(trie_root_), -1);
  trie_.clear();
  for (int32_t id = 0; id < n_vocab(); ++id) {
    const TokenType t = types_[id];
    if (t != TokenType::kControl && t != TokenType::kUserDefined && t != TokenType::kUnknown) {
      continue;
    }
    const std::string_view text = token_text(id);
    if (text.empty()) continue;
    if (t == TokenType::kUserDefined) has_user_defined_ = true;
    int32_t node = -1;
    for (char ch : text) {
      const uint8_t b = static_cast<uint8_t>(ch);
      int32_t next = -1;
      if (node < 0) {
        next = trie_root_[b];
      } else {
        for (const auto& [cb, child] : trie_[node].children) {
          if (cb == b) next = child;
        }
      }
      if (next < 0) {
        next = static_cast<int32_t>(trie_.size());
        trie_.emplace_back();
        if (node < 0) {
          trie_root_[b] = next;
        } else {
          trie_[node].children.emplace_back(b, next);
        }
      }
      node = next;
    }
    if (trie_[node].token < 0) trie_[node].token = id;  // duplicates: the lowest id
  }
}

std::string_view Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return {};
  return std::string_view(text_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
}

TokenType Tokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return TokenType::kUndefined;
  return types_[id];
}

int32_t Tokenizer::FindToken(std::string_view text) const {
  return by_text_.Find(text, [this](int32_t id) { return token_text(id); });
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

// Splits text at special tokens the way llama.cpp does: longer tokens claim their occurrences
// first (leftmost, non-overlapping); shorter ones then match only in the text left over.
void Tokenizer::Partition(std::string_view text, bool parse_special,
                          std::vector<Fragment>* out) const {
  struct Match {
    size_t pos, len;
    int32_t token;
  };
  std::vector<Match> matches;
  if (!trie_.empty() && (parse_special || has_user_defined_)) {
    for (size_t p = 0; p < text.size(); ++p) {
      int32_t node = trie_root_[static_cast<uint8_t>(text[p])];
      for (size_t k = p + 1; node >= 0; ++k) {
        const int32_t id = trie_[node].token;
        if (id >= 0 && (parse_special || types_[id] == TokenType::kUserDefined)) {
          matches.push_back({p, k - p, id});
        }
        if (k == text.size()) break;
        const uint8_t b = static_cast<uint8_t>(text[k]);
        int32_t next = -1;
        for (const auto& [cb, child] : trie_[node].children) {
          if (cb == b) next = child;
        }
        node = next;
      }
    }
  }
  if (matches.empty()) {
    if (!text.empty()) out->push_back({0, text.size(), -1});
    return;
  }
  std::sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) {
    if (a.len != b.len) return a.len > b.len;
    if (a.token != b.token) return a.token < b.token;
    return a.pos < b.pos;
  });
  std::map<size_t, const Match*> taken;  // accepted matches by position
  for (const Match& m : matches) {
    // Accepted matches do not overlap, so only the last one starting before our end can reach us.
    auto it = taken.lower_bound(m.pos + m.len);
    if (it != taken.begin()) {
      const Match* prev = std::prev(it)->second;
      if (prev->pos + prev->len > m.pos) continue;
    }
    taken.emplace(m.pos, &m);
  }
  size_t pos = 0;
  for (const auto& [begin, m] : taken) {
    if (begin > pos) out->push_back({pos, begin, -1});
    out->push_back({begin, begin + m->len, m->token});
    pos = begin + m->len;
  }
  if (pos < text.size()) out->push_back({pos, text.size(), -1});
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_) out.push_back(bos_id_);
  std::vector<Fragment> fragments;
  Partition(text, parse_special, &fragments);
  bool prev_special = true;  // SPM: text at the start or after a special token gets the prefix
  bool strip = false;        // the previous special token drops the whitespace after it
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      strip = std::binary_search(rstrip_ids_.begin(), rstrip_ids_.end(), f.token);
      continue;
    }
    std::string_view rest = text.substr(f.begin, f.end - f.begin);
    if (strip) {
      while (!rest.empty() && IsAsciiSpace(rest[0])) rest.remove_prefix(1);
      strip = false;
    }
    while (!rest.empty()) {
      // Symbol indices are int32: cut absurdly long text (at a character boundary); this can
      // only change the tokens at the cut.
      size_t cut = std::min(rest.size(), kMaxChunk);
      while (cut < rest.size() && cut > 0 && (static_cast<uint8_t>(rest[cut]) & 0xC0) == 0x80) {
        --cut;
      }
      if (cut == 0) cut = std::min(rest.size(), kMaxChunk);
      if (is_spm_) {
        EncodeSpm(rest.substr(0, cut), add_space_prefix_ && prev_special, &out);
      } else {
        EncodeBpe(rest.substr(0, cut), &out);
      }
      prev_special = false;
      rest.remove_prefix(cut);
    }
  }
  if (add_special && add_eos_) out.push_back(eos_id_);
  return out;
}

bool Tokenizer::SpmMergeable(int32_t id) const {
  // SentencePiece builds pieces only from normal and user-defined tokens; control, unknown, byte
  // and unused tokens never come out of plain text.
  const TokenType t = types_[id];
  return t == TokenType::kNormal || t == TokenType::kUserDefined || t == TokenType::kUndefined;
}

// Buffers reused across the segments of one Encode call.
struct Tokenizer::SpmScratch {
  struct Symbol {
    uint32_t start, len;  // len 0: merged into its left neighbour
    int32_t prev, next;
  };
  struct Bigram {
    float score;
    int32_t left, right;
    uint32_t len;  // bytes of the merged text when queued; a mismatch marks it stale
  };
  std::vector<Symbol> sym;
  std::vector<Bigram> heap;
};

void Tokenizer::EncodeSpm(std::string_view raw, bool space_prefix,
                          std::vector<int32_t>* out) const {
  std::string text;
  text.reserve(raw.size() + 3);
  if (space_prefix) text.append(kSpaceMark);
  for (char c : raw) {
    if (c == ' ') {
      text.append(kSpaceMark);
    } else {
      text.push_back(c);
    }
  }
  SpmScratch scratch;
  if (!spm_words_independent_) {
    EncodeSpmSegment(text, &scratch, out);
    return;
  }
  // No token has a "▁" right after another character, so no merge crosses the start of a "▁"
  // that follows a non-"▁": encoding such segments separately gives the same tokens, with small
  // cache-friendly queues.
  const std::string_view all(text);
  size_t begin = 0;
  for (size_t pos = all.find(kSpaceMark, 1); pos != std::string_view::npos;
       pos = all.find(kSpaceMark, pos + kSpaceMark.size())) {
    if (pos >= kSpaceMark.size() &&
        all.substr(pos - kSpaceMark.size(), kSpaceMark.size()) == kSpaceMark) {
      continue;
    }
    EncodeSpmSegment(all.substr(begin, pos - begin), &scratch, out);
    begin = pos;
  }
  EncodeSpmSegment(all.substr(begin), &scratch, out);
}

// llama.cpp's llm_tokenizer_spm: start from UTF-8 characters and repeatedly merge the adjacent pair
// whose concatenation is the highest-scoring token (leftmost on ties), via a priority queue.
void Tokenizer::EncodeSpmSegment(std::string_view text, SpmScratch* scratch,
                                 std::vector<int32_t>* out) const {
  if (text.empty()) return;
  static_assert(kMaxChunk * 3 < (size_t{1} << 31));
  using Bigram = SpmScratch::Bigram;
  std::vector<SpmScratch::Symbol>& sym = scratch->sym;
  sym.clear();
  for (size_t pos = 0; pos < text.size();) {
    // Invalid UTF-8 splits into single bytes, which then fall back to byte tokens.
    uint32_t cp;
    const size_t len = DecodeUtf8(text, pos, &cp);
    const int32_t index = static_cast<int32_t>(sym.size());
    sym.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(len), index - 1, index + 1});
    pos += len;
  }
  sym.back().next = -1;

  const auto lower = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::vector<Bigram>& heap = scratch->heap;
  heap.clear();
  const auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t len = sym[left].len + sym[right].len;
    const int32_t id = FindToken(text.substr(sym[left].start, len));
    if (id < 0 || !SpmMergeable(id)) return;
    heap.push_back({scores_[id], left, right, len});
    std::push_heap(heap.begin(), heap.end(), lower);
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), lower);
    const Bigram b = heap.back();
    heap.pop_back();
    auto& l = sym[b.left];
    auto& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = sym[i].next) {
    const std::string_view piece = text.substr(sym[i].start, sym[i].len);
    const int32_t id = FindToken(piece);
    if (id >= 0 && SpmMergeable(id)) {
      out->push_back(id);
      continue;
    }
    // A character no token covers: one byte token per byte.
    for (char c : piece) {
      const int32_t byte_id = byte_token_[static_cast<uint8_t>(c)];
      if (byte_id >= 0) {
        out->push_back(byte_id);
      } else if (unk_id_ >= 0) {
        out->push_back(unk_id_);
      }
    }
  }
}

// Buffers reused across the words of one Encode call.
struct Tokenizer::BpeScratch {
  struct Symbol {
    int32_t id;
    uint32_t len;  // bytes; 0: merged into its left neighbour
    int32_t prev, next;
  };
  struct Bigram {
    int32_t rank;
    int32_t left, right;
    int32_t left_id, right_id;  // ids when queued; a mismatch marks it stale
    int32_t merged;
  };
  std::vector<WordSpan> words;
  std::vector<Symbol> sym;
  std::vector<Bigram> heap;
  std::string spelled;
};

void Tokenizer::EncodeBpe(std::string_view text, std::vector<int32_t>* out) const {
  BpeScratch scratch;
  PreTokenize(pre_kind_, text, &scratch.words);
  for (const WordSpan& w : scratch.words) {
    EncodeBpeWord(text.substr(w.begin, w.end - w.begin), &scratch, out);
  }
}

// llama.cpp's llm_tokenizer_bpe on one word: start from one symbol per byte (GPT-2's alphabet has
// a token per byte) and apply the lowest-ranked merge among adjacent pairs, leftmost on ties.
// Symbols carry token ids, so a merge lookup is one hash probe on the id pair.
void Tokenizer::EncodeBpeWord(std::string_view word, BpeScratch* scratch,
                              std::vector<int32_t>* out) const {
  const auto emit = [&](int32_t id) {
    if (id >= 0) {
      out->push_back(id);
    } else if (unk_id_ >= 0) {
      out->push_back(unk_id_);  // only a vocabulary lacking some byte's token gets here
    }
  };
  if (word.size() == 1) {
    emit(byte_token_[static_cast<uint8_t>(word[0])]);
    return;
  }
  if (ignore_merges_) {
    std::string& spelled = scratch->spelled;
    spelled.clear();
    for (char c : word) AppendUtf8(&spelled, ByteToUnicode(static_cast<uint8_t>(c)));
    const int32_t id = FindToken(spelled);
    if (id >= 0 && types_[id] != TokenType::kControl && types_[id] != TokenType::kUnknown) {
      out->push_back(id);
      return;
    }
  }
  using Bigram = BpeScratch::Bigram;
  std::vector<BpeScratch::Symbol>& sym = scratch->sym;
  sym.resize(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const int32_t index = static_cast<int32_t>(i);
    sym[i] = {byte_token_[static_cast<uint8_t>(word[i])], 1, index - 1, index + 1};
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  const auto lower = [](const Bigram& a, const Bigram& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::vector<Bigram>& heap = scratch->heap;
  heap.clear();
  const auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const MergeTable::Merge* m = merges_.Find(sym[left].id, sym[right].id);
    if (m == nullptr) return;
    heap.push_back({m->rank, left, right, sym[left].id, sym[right].id, m->merged});
    std::push_heap(heap.begin(), heap.end(), lower);
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), lower);
    const Bigram b = heap.back();
    heap.pop_back();
    auto& l = sym[b.left];
    auto& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.id != b.left_id || r.id != b.right_id) continue;
    l.id = b.merged;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = sym[i].next) emit(sym[i].id);
}

std::string Tokenizer::TokenToPiece(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return {};
  const std::string_view text = token_text(id);
  std::string out;
  switch (types_[id]) {
    case TokenType::kControl:
    case TokenType::kUnknown:
    case TokenType::kUnused:
      return {};
    case TokenType::kByte: {
      const int b = ByteTokenValue(text);
      if (b >= 0) out.push_back(static_cast<char>(b));
      return out;
    }
    case TokenType::kUserDefined:
      return std::string(text);
    case TokenType::kNormal:
    case TokenType::kUndefined:
      break;
  }
  if (is_spm_) {
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
        out.push_back(' ');
        i += kSpaceMark.size();
      } else {
        out.push_back(text[i++]);
      }
    }
    return out;
  }
  // Byte-level BPE: each character of the token spells one byte.
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    const size_t len = DecodeUtf8(text, i, &cp);
    const int b = UnicodeToByte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      out.append(text.substr(i, len));  // not from GPT-2's alphabet: keep it as written
    }
    i += len;
  }
  return out;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string out;
  bool strip_space = is_spm_ && add_space_prefix_;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string piece = TokenToPiece(ids[i]);
    if (i == 0 && ids[i] == bos_id_) {
      out += piece;  // the space prefix follows BOS, so the next token strips it
      continue;
    }
    if (strip_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    strip_space = false;
    out += piece;
  }
  return out;
}

}  // namespace suanli
