// ChatTemplate: what the server calls to turn an OpenAI-style chat into a prompt.
//
// Apply renders the model's template with the variables Hugging Face passes: `messages`,
// `tools` (only when the request has tools, as the shared test data renders them),
// `add_generation_prompt`, `bos_token`, `eos_token`, plus chat_template_kwargs (`extra`, e.g.
// enable_thinking) as further top-level variables.
//
// Errors: when the template calls raise_exception(msg), Apply fails with kInvalidArgument whose
// message is exactly msg, and ApplyResult::raised_by_template() is true; any other render failure
// is kInvalidArgument "line N: <cause>" (sandbox limits included) with raised_by_template() false.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "server/template/jinja.h"
#include "suanli/status.h"

namespace suanli {

struct ChatInputs {
  nlohmann::ordered_json messages;  // array of OpenAI-style messages
  nlohmann::ordered_json tools;     // null when none
  bool add_generation_prompt = true;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // chat_template_kwargs
};

// A StatusOr<std::string> that also says whether a failure came from the template's own
// raise_exception (the request broke a rule of the model's chat format: e.g. a system message a
// model does not support) rather than from the template or input being unrenderable.
class ApplyResult : public StatusOr<std::string> {
 public:
  ApplyResult(std::string prompt) : StatusOr<std::string>(std::move(prompt)) {}  // NOLINT
  ApplyResult(Status status, bool raised_by_template)
      : StatusOr<std::string>(std::move(status)), raised_by_template_(raised_by_template) {}
  bool raised_by_template() const { return raised_by_template_; }

 private:
  bool raised_by_template_ = false;
};

class ChatTemplate {
 public:
  // source: the template text; bos/eos: the model's token strings.
  static StatusOr<ChatTemplate> Load(std::string source, std::string bos_token,
                                     std::string eos_token);
  // The fallback for models without a template: ChatML (<|im_start|>role\ncontent<|im_end|>\n
  // ..., generation prompt "<|im_start|>assistant\n"). Content given as a list of parts renders
  // its text parts.
  static ChatTemplate DefaultChatML(std::string bos_token, std::string eos_token);

  ApplyResult Apply(const ChatInputs& in, const jinja::RenderOptions& opts = {}) const;

  const std::string& source() const { return source_; }
  bool is_default() const { return is_default_; }

 private:
  ChatTemplate(std::shared_ptr<const jinja::Template> t, std::string source, std::string bos,
               std::string eos, bool is_default)
      : template_(std::move(t)),
        source_(std::move(source)),
        bos_(std::move(bos)),
        eos_(std::move(eos)),
        is_default_(is_default) {}

  std::shared_ptr<const jinja::Template> template_;
  std::string source_;
  std::string bos_;
  std::string eos_;
  bool is_default_ = false;
};

}  // namespace suanli
