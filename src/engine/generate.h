// The generation loop: feed the prompt, then sample, stream and feed back one token at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampler.h"
#include "engine/sequence.h"
#include "engine/tokenizer/tokenizer.h"

namespace suanli {

struct GenerateOptions {
  int64_t n_predict = 128;  // < 0: until end of generation or context end
  SamplerParams sampling;
  bool stop_at_eog = true;
};

enum class StopReason { kEndOfGeneration, kMaxTokens, kContextFull };
const char* StopReasonText(StopReason r);

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (not the prompt)
  int64_t n_prompt = 0;
  double prompt_seconds = 0;
  double generate_seconds = 0;  // from the first sampled token to the last
  int64_t decode_steps = 0;     // single-token forward passes in generate_seconds
  StopReason stop = StopReason::kMaxTokens;
};

// on_token(id, piece) is called as each token is produced (the piece is its text).
StatusOr<GenerateResult> Generate(Sequence& session, const Tokenizer& tok,
                                  const std::vector<int32_t>& prompt, const GenerateOptions& opts,
                                  const std::function<void(int32_t, std::string_view)>& on_token);

}  // namespace suanli
