// ChatTemplate (see chat_template.h).
#include "server/template/chat_template.h"

#include <cstdlib>

namespace suanli {
namespace {

constexpr const char* kChatML =
    "{%- for message in messages -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}\n"
    "{%- if message['content'] is string -%}\n"
    "{{- message['content'] -}}\n"
    "{%- elif message['content'] is iterable -%}\n"
    "{%- for part in message['content'] -%}\n"
    "{%- if part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- endif -%}\n"
    "{{- '<|im_end|>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n";

}  // namespace

StatusOr<ChatTemplate> ChatTemplate::Load(std::string source, std::string bos_token,
                                          std::string eos_token) {
  auto t = jinja::Template::Parse(source);
  if (!t.ok()) return t.status().WithContext("chat template");
  return ChatTemplate(std::move(t).value(), std::move(source), std::move(bos_token),
                      std::move(eos_token), false);
}

ChatTemplate ChatTemplate::DefaultChatML(std::string bos_token, std::string eos_token) {
  auto t = jinja::Template::Parse(kChatML);
  if (!t.ok()) std::abort();  // the built-in template always parses
  return ChatTemplate(std::move(t).value(), kChatML, std::move(bos_token), std::move(eos_token),
                      true);
}

ApplyResult ChatTemplate::Apply(const ChatInputs& in, const jinja::RenderOptions& opts) const {
  if (!in.messages.is_array())
    return ApplyResult(InvalidArgument("messages must be an array"), false);
  if (!in.extra.is_object() && !in.extra.is_null()) {
    return ApplyResult(InvalidArgument("chat_template_kwargs must be an object"), false);
  }
  nlohmann::ordered_json globals = nlohmann::ordered_json::object();
  if (in.extra.is_object()) {
    for (auto it = in.extra.begin(); it != in.extra.end(); ++it) {
      const std::string& k = it.key();
      if (k == "messages" || k == "tools" || k == "add_generation_prompt") {
        return ApplyResult(InvalidArgument("chat_template_kwargs may not set '" + k + "'"), false);
      }
      globals[k] = it.value();
    }
  }
  globals["messages"] = in.messages;
  if (!in.tools.is_null()) globals["tools"] = in.tools;
  globals["add_generation_prompt"] = in.add_generation_prompt;
  // Hugging Face passes the special tokens first and the kwargs after, so kwargs win.
  if (!globals.contains("bos_token")) globals["bos_token"] = bos_;
  if (!globals.contains("eos_token")) globals["eos_token"] = eos_;
  jinja::RenderFailure failure;
  auto out = template_->Render(globals, opts, &failure);
  if (out.ok()) return ApplyResult(std::move(out).value());
  if (failure.kind == jinja::ErrorKind::kRaised) {
    return ApplyResult(InvalidArgument(failure.message), true);
  }
  return ApplyResult(Status(StatusCode::kInvalidArgument, out.status().message()), false);
}

}  // namespace suanli
