// libFuzzer target for the Jinja chat-template interpreter. The input is a template source,
// optionally followed by "\n\x01\n" and a JSON context; without a (valid) context a small chat
// with messages, tools and tool calls is used. Parse and render must never crash, leak, hang or
// trip ASan/UBSan, whatever the template does; limits are set low so every input stays fast.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "server/template/chat_template.h"
#include "server/template/jinja.h"

namespace {

const nlohmann::ordered_json& DefaultContext() {
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi <|im_end|> {{ x }} ü"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "abc123XYZ", "type": "function",
         "function": {"name": "f", "arguments": {"a": 1, "b": [true, null, 2.5]}}}]},
      {"role": "tool", "tool_call_id": "abc123XYZ", "content": "{\"ok\": 1}"},
      {"role": "user", "content": [{"type": "text", "text": "part"}]}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
      "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
    "add_generation_prompt": true,
    "bos_token": "<s>", "eos_token": "</s>", "n": 3, "s": "text"
  })");
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view source = input;
  nlohmann::ordered_json ctx = DefaultContext();
  size_t sep = input.find("\n\x01\n");
  if (sep != std::string_view::npos) {
    source = input.substr(0, sep);
    auto parsed = nlohmann::ordered_json::parse(input.substr(sep + 3), nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) ctx = std::move(parsed);
  }
  auto tmpl = suanli::jinja::Template::Parse(source);
  if (!tmpl.ok()) return 0;
  suanli::jinja::RenderOptions opts;
  opts.limits.max_steps = 200000;
  opts.limits.max_output_bytes = 1 << 16;
  opts.limits.max_depth = 32;
  opts.now = [] { return suanli::jinja::CivilTime{}; };
  auto out = (*tmpl)->Render(ctx, opts);
  if (out.ok() && out->size() > opts.limits.max_output_bytes) __builtin_trap();
  // The chat-template glue over the same source.
  auto chat = suanli::ChatTemplate::Load(std::string(source), "<s>", "</s>");
  if (chat.ok() && ctx.contains("messages") && ctx["messages"].is_array()) {
    suanli::ChatInputs in;
    in.messages = ctx["messages"];
    if (ctx.contains("tools")) in.tools = ctx["tools"];
    (void)chat->Apply(in, opts);
  }
  return 0;
}
