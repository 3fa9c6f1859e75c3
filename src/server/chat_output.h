// ChatOutput: splits a model's generated text into what OpenAI's chat API returns — `content`,
// `reasoning_content` (text inside the thinking markers <think>...</think> of Qwen3 and
// DeepSeek-R1-style models) and `tool_calls` — as it streams.
//
// Tool calls are recognised in the two forms the templates of today's open models ask for:
//   * Hermes / Qwen: <tool_call>{"name": ..., "arguments": {...}}</tool_call>, any number of them;
//   * Llama 3.x JSON: the whole reply is {"name": ..., "parameters": {...}} (also "arguments"),
//     optionally after <|python_tag|>, several separated by ';'.
// Text that might still become a marker or a tool call is held back until it is decided, so a
// stream never shows half a tag; JSON that does not parse is returned as ordinary content.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace suanli::server {

enum class ToolFormat { kNone, kHermes, kLlama3Json };
// Which form a chat template asks the model to call tools in (from its source).
ToolFormat DetectToolFormat(const std::string& template_source);
// Whether a rendered prompt leaves the model inside an open <think> (DeepSeek-R1 templates end
// the generation prompt with "<think>\n"), so the reply starts as reasoning.
bool PromptOpensThinking(std::string_view prompt);

struct ToolCall {
  std::string id;  // call_... (assigned by the parser, unique within the reply)
  std::string name;
  std::string arguments;  // a JSON object, as a string (OpenAI's shape)
};

struct ChatDelta {
  std::string content;
  std::string reasoning;
  std::vector<ToolCall> tool_calls;
  bool empty() const { return content.empty() && reasoning.empty() && tool_calls.empty(); }
};

class ChatOutputParser {
 public:
  // reasoning: split out <think> text; in_thinking: the reply starts inside it; tools: the form
  // to recognise (kNone: tool calls are plain text). id_seed makes call ids unique per request.
  ChatOutputParser(bool reasoning, bool in_thinking, ToolFormat tools, std::string id_seed);

  // Appends generated text; returns what is now final.
  ChatDelta Push(std::string_view text);
  // At the end of generation: everything held back.
  ChatDelta Finish();
  bool saw_tool_call() const { return n_calls_ > 0; }

 private:
  void Drain(bool final, ChatDelta* out);
  bool TakeToolCalls(std::string_view body, ChatDelta* out, bool llama);
  void EmitText(std::string_view text, ChatDelta* out);

  bool reasoning_;
  bool thinking_;
  ToolFormat tools_;
  std::string id_seed_;
  std::string buf_;           // undecided text
  bool started_ = false;      // any visible content emitted yet (Llama 3 JSON must be the start)
  bool llama_json_ = false;   // the reply opened as a Llama 3 JSON tool call
  bool after_think_ = false;  // just left </think>: drop the whitespace that follows
  int n_calls_ = 0;
};

}  // namespace suanli::server
