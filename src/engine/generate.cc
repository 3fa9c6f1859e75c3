#include "engine/generate.h"

#include "base/timer.h"

namespace suanli {

const char* StopReasonText(StopReason r) {
  switch (r) {
    case StopReason::kEndOfGeneration:
      return "end of generation";
    case StopReason::kMaxTokens:
      return "max tokens";
    case StopReason::kContextFull:
      return "context full";
  }
  return "?";
}

StatusOr<GenerateResult> Generate(Sequence& session, const Tokenizer& tok,
                                  const std::vector<int32_t>& prompt, const GenerateOptions& opts,
                                  const std::function<void(int32_t, std::string_view)>& on_token) {
  GenerateResult res;
  res.n_prompt = static_cast<int64_t>(prompt.size());
  if (prompt.empty()) return InvalidArgument("the prompt is empty (no tokens to start from)");
  if (session.n_past() + res.n_prompt > session.n_ctx())
    return OutOfRange("the prompt has " + std::to_string(res.n_prompt) +
                      " tokens but the context holds " + std::to_string(session.n_ctx()) +
                      " (raise it with -c/--ctx-size or shorten the prompt)");
  double t0 = NowSeconds();
  SL_ASSIGN_OR_RETURN(int32_t next, session.FeedAndSample(prompt, opts.sampling));
  double t1 = NowSeconds();
  res.prompt_seconds = t1 - t0;
  for (int64_t i = 0; opts.n_predict < 0 || i < opts.n_predict; ++i) {
    if (opts.stop_at_eog && tok.IsEndOfGeneration(next)) {
      res.stop = StopReason::kEndOfGeneration;
      break;
    }
    res.tokens.push_back(next);
    if (on_token) on_token(next, tok.TokenToPiece(next));
    if (opts.n_predict >= 0 && i + 1 == opts.n_predict) break;  // no need to feed the last one
    if (session.n_past() >= session.n_ctx()) {
      res.stop = StopReason::kContextFull;
      break;
    }
    const int32_t one[1] = {next};
    SL_ASSIGN_OR_RETURN(next, session.FeedAndSample(one, opts.sampling));
    ++res.decode_steps;
  }
  res.generate_seconds = NowSeconds() - t1;
  return res;
}

}  // namespace suanli
