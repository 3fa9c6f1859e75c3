// libFuzzer target for the tokenizers. Any input must encode and decode without a crash, an
// out-of-bounds access (ASan) or undefined behaviour (UBSan), every id must be in the vocabulary,
// and Decode(Encode(x)) == x where that is guaranteed (byte-level BPE always; SentencePiece when x
// has no literal "▁", which decodes as a space). Inputs starting with "GGUF" are parsed as a file
// and turned into a tokenizer instead, to fuzz the metadata checks. Every pre-tokenizer also splits
// the text on its own: the words must tile it exactly.
//
// Vocabularies: $SUANLI_FUZZ_VOCAB (one GGUF file), else llama-spm and gpt-2 from the test data
// ($SUANLI_TESTDATA, SUANLI_FUZZ_TESTDATA_DEFAULT set by CMake, or ../shared/testdata). Without
// any, only the GGUF mode runs.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "gguf/gguf.h"

namespace {

using suanli::GgufFile;
using suanli::Tokenizer;

struct Vocab {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tok;
};

std::vector<Vocab> LoadVocabs() {
  std::vector<std::string> paths;
  if (const char* v = std::getenv("SUANLI_FUZZ_VOCAB"); v && *v) {
    paths.push_back(v);
  } else {
    std::string dir = "../shared/testdata";
#ifdef SUANLI_FUZZ_TESTDATA_DEFAULT
    dir = SUANLI_FUZZ_TESTDATA_DEFAULT;
#endif
    if (const char* td = std::getenv("SUANLI_TESTDATA"); td && *td) dir = td;
    paths.push_back(dir + "/vocab/ggml-vocab-llama-spm.gguf");
    paths.push_back(dir + "/vocab/ggml-vocab-gpt-2.gguf");
  }
  std::vector<Vocab> vocabs;
  for (const std::string& p : paths) {
    auto file = GgufFile::Open(p);
    if (!file.ok()) {
      std::fprintf(stderr, "tokenizer_fuzz: skipping %s: %s\n", p.c_str(),
                   file.status().ToString().c_str());
      continue;
    }
    auto tok = Tokenizer::FromGguf(**file);
    SL_CHECK_MSG(tok.ok(), tok.status().ToString().c_str());
    vocabs.push_back({std::move(file).value(), std::move(tok).value()});
  }
  if (vocabs.empty()) std::fprintf(stderr, "tokenizer_fuzz: no vocabulary; GGUF mode only\n");
  return vocabs;
}

void CheckIds(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  for (int32_t id : ids) SL_CHECK(id >= 0 && id < tok.n_vocab());
}

void FuzzPreTokenizers(std::string_view text) {
  using suanli::PreTokenizer;
  std::vector<suanli::WordSpan> words;
  for (PreTokenizer k :
       {PreTokenizer::kGpt2, PreTokenizer::kLlama3, PreTokenizer::kQwen2, PreTokenizer::kQwen35,
        PreTokenizer::kStarcoder, PreTokenizer::kTekken, PreTokenizer::kDefault}) {
    words.clear();
    suanli::PreTokenize(k, text, &words);
    size_t pos = 0;
    for (const suanli::WordSpan& w : words) {
      SL_CHECK(w.begin == pos && w.end > w.begin);
      pos = w.end;
    }
    SL_CHECK(pos == text.size());
  }
}

void FuzzMetadata(const uint8_t* data, size_t size) {
  auto file = GgufFile::Parse(data, size, "fuzz.gguf");
  if (!file.ok()) return;
  auto tok = Tokenizer::FromGguf(**file);
  if (!tok.ok()) {
    SL_CHECK(!tok.status().message().empty());
    return;
  }
  file->reset();  // the tokenizer must not point into the file
  for (bool special : {false, true}) {
    const std::vector<int32_t> ids =
        (*tok)->Encode("Hello, world! <s> \xff\xfe 123", true, special);
    CheckIds(**tok, ids);
    (void)(*tok)->Decode(ids);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Vocab> vocabs = LoadVocabs();
  if (size >= 4 && std::string_view(reinterpret_cast<const char*>(data), 4) == "GGUF") {
    FuzzMetadata(data, size);
    return 0;
  }
  if (size == 0) return 0;
  FuzzPreTokenizers(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  if (vocabs.empty()) return 0;
  // First byte: flags and vocabulary choice; the rest is the text.
  const uint8_t flags = data[0];
  const bool add_special = flags & 1, parse_special = flags & 2;
  const Tokenizer& tok = *vocabs[(flags >> 2) % vocabs.size()].tok;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::vector<int32_t> ids = tok.Encode(text, add_special, parse_special);
  CheckIds(tok, ids);
  const std::string decoded = tok.Decode(ids);
  for (int32_t id : ids) (void)tok.TokenToPiece(id);
  if (!parse_special) {
    const bool round_trips =
        tok.model() == "gpt2" || text.find("\xE2\x96\x81") == std::string_view::npos;
    if (round_trips) SL_CHECK(decoded == text);
  }
  return 0;
}
