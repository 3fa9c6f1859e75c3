// The cluster tests' model: the tiny synthesized Q8_0 shape (4 layers, about 20 MiB).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "model/default_model.h"
#include "model/synth.h"

namespace suanli::cluster {

inline void SynthTinyModel(const std::string& path) {
  auto vocab = EmbeddedVocab();
  ASSERT_TRUE(vocab.ok());
  SynthSpec spec;
  ASSERT_TRUE(ApplyShapePreset("tiny", &spec).ok());
  ASSERT_TRUE(ApplyTypePreset("q8_0", &spec).ok());
  ASSERT_TRUE(SynthesizeModel(spec, **vocab, path).ok());
}

}  // namespace suanli::cluster
