// The quick start's default model: a small random-weight llama synthesized on first use with the
// tokenizer vocabulary compiled into the binary, cached on disk.
#pragma once

#include <memory>
#include <string>

#include "gguf/gguf.h"
#include "suanli/status.h"

namespace suanli {

// $SUANLI_CACHE_DIR, else $XDG_CACHE_HOME/suanli, else ~/.cache/suanli (created if missing).
StatusOr<std::string> CacheDir();
// mkdir -p.
Status EnsureDirectory(const std::string& path);
// The embedded SentencePiece vocabulary (Llama 2, 32000 tokens) parsed in place.
StatusOr<std::unique_ptr<GgufFile>> EmbeddedVocab();
// Path of the default model, synthesizing it into the cache if absent.
StatusOr<std::string> EnsureDefaultModel();

}  // namespace suanli
