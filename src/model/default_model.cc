#include "model/default_model.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "base/progress.h"
#include "model/synth.h"

// The vocabulary file is linked into the binary as read-only data (path set by CMake).
asm(".pushsection .rodata\n"
    ".balign 64\n"
    ".global suanli_embedded_vocab_begin\n"
    "suanli_embedded_vocab_begin:\n"
    ".incbin \"" SUANLI_EMBEDDED_VOCAB
    "\"\n"
    ".global suanli_embedded_vocab_end\n"
    "suanli_embedded_vocab_end:\n"
    ".popsection\n");
extern "C" const uint8_t suanli_embedded_vocab_begin[];
extern "C" const uint8_t suanli_embedded_vocab_end[];

namespace suanli {
namespace {}  // namespace

Status EnsureDirectory(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') continue;
    std::string part = path.substr(0, i);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
      return IoError("cannot create directory " + part + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

StatusOr<std::string> CacheDir() {
  std::string dir;
  if (const char* d = std::getenv("SUANLI_CACHE_DIR"); d && *d) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    dir = std::string(x) + "/suanli";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = std::string(h) + "/.cache/suanli";
  } else {
    dir = "/tmp/suanli-cache";
  }
  SL_RETURN_IF_ERROR(EnsureDirectory(dir));
  return dir;
}

StatusOr<std::unique_ptr<GgufFile>> EmbeddedVocab() {
  return GgufFile::Parse(
      suanli_embedded_vocab_begin,
      static_cast<size_t>(suanli_embedded_vocab_end - suanli_embedded_vocab_begin),
      "<embedded llama-spm vocabulary>");
}

StatusOr<std::string> EnsureDefaultModel() {
  SL_ASSIGN_OR_RETURN(std::string dir, CacheDir());
  // The name carries the recipe's version: change it whenever the recipe changes.
  const std::string path = dir + "/default-tiny-llama-q8_0-v2.gguf";
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return path;
  SL_ASSIGN_OR_RETURN(auto vocab, EmbeddedVocab());
  SynthSpec spec;
  spec.name = "suanli default (random weights)";
  SL_RETURN_IF_ERROR(ApplyShapePreset("tiny", &spec));
  SL_RETURN_IF_ERROR(ApplyTypePreset("q8_0", &spec));
  std::fprintf(stderr, "suanli: synthesizing the default model (random weights) into %s\n",
               path.c_str());
  std::optional<ProgressBar> bar;
  SL_RETURN_IF_ERROR(SynthesizeModel(spec, *vocab, path, [&](uint64_t done, uint64_t total) {
    if (!bar) bar.emplace("synthesizing", total);
    bar->Update(done);
  }));
  return path;
}

}  // namespace suanli
