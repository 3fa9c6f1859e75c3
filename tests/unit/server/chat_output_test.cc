// Splitting generated text into content, reasoning and tool calls — fed whole and byte by byte
// (a stream may cut anywhere), with the same result.
#include "server/chat_output.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace suanli::server {
namespace {

ChatDelta Feed(ChatOutputParser& p, const std::string& text, size_t piece) {
  ChatDelta all;
  auto add = [&](const ChatDelta& d) {
    all.content += d.content;
    all.reasoning += d.reasoning;
    for (const ToolCall& t : d.tool_calls) all.tool_calls.push_back(t);
  };
  for (size_t i = 0; i < text.size(); i += piece) add(p.Push(text.substr(i, piece)));
  add(p.Finish());
  return all;
}

// Runs with every piece size; all must agree.
ChatDelta Parse(const std::string& text, bool reasoning, bool in_thinking, ToolFormat tools) {
  ChatDelta first;
  for (size_t piece : {text.size() + 1, size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
    ChatOutputParser p(reasoning, in_thinking, tools, "t");
    ChatDelta d = Feed(p, text, piece);
    if (piece == text.size() + 1) {
      first = d;
      continue;
    }
    EXPECT_EQ(d.content, first.content) << "piece " << piece;
    EXPECT_EQ(d.reasoning, first.reasoning) << "piece " << piece;
    EXPECT_EQ(d.tool_calls.size(), first.tool_calls.size()) << "piece " << piece;
  }
  return first;
}

TEST(ChatOutput, PlainText) {
  ChatDelta d = Parse("Hello, world. <not a tag>", true, false, ToolFormat::kHermes);
  EXPECT_EQ(d.content, "Hello, world. <not a tag>");
  EXPECT_TRUE(d.reasoning.empty());
  EXPECT_TRUE(d.tool_calls.empty());
}

TEST(ChatOutput, ThinkingIsReasoning) {
  ChatDelta d =
      Parse("<think>\nLet me see.\n</think>\n\nThe answer is 4.", true, false, ToolFormat::kNone);
  EXPECT_EQ(d.reasoning, "\nLet me see.\n");
  EXPECT_EQ(d.content, "The answer is 4.");
  // DeepSeek-R1: the prompt opened <think>, the reply only closes it.
  ChatDelta r = Parse("still thinking</think>Done.", true, true, ToolFormat::kNone);
  EXPECT_EQ(r.reasoning, "still thinking");
  EXPECT_EQ(r.content, "Done.");
  // Whitespace before <think> (SentencePiece writes " <think>") belongs to neither part.
  ChatDelta sp = Parse(" \n<think>r</think> a", true, false, ToolFormat::kNone);
  EXPECT_EQ(sp.reasoning, "r");
  EXPECT_EQ(sp.content, "a");
  EXPECT_EQ(Parse("  plain", true, false, ToolFormat::kNone).content, "  plain");
  // Without the split everything is content.
  ChatDelta off = Parse("<think>x</think>y", false, false, ToolFormat::kNone);
  EXPECT_EQ(off.content, "<think>x</think>y");
  // Never closed: all reasoning.
  EXPECT_EQ(Parse("<think>abc", true, false, ToolFormat::kNone).reasoning, "abc");
  EXPECT_TRUE(PromptOpensThinking("<|Assistant|><think>\n"));
  EXPECT_FALSE(PromptOpensThinking("<think>a</think> answer"));
}

TEST(ChatOutput, HermesToolCalls) {
  ChatDelta d = Parse(
      "Let me check.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>\n<tool_call>{\"name\": \"t2\", \"arguments\": {}}</tool_call>",
      true, false, ToolFormat::kHermes);
  EXPECT_EQ(d.content, "Let me check.\n");
  ASSERT_EQ(d.tool_calls.size(), 2u);
  EXPECT_EQ(d.tool_calls[0].name, "get_weather");
  EXPECT_EQ(nlohmann::json::parse(d.tool_calls[0].arguments)["city"], "Paris");
  EXPECT_EQ(d.tool_calls[1].name, "t2");
  EXPECT_EQ(d.tool_calls[1].arguments, "{}");
  EXPECT_NE(d.tool_calls[0].id, d.tool_calls[1].id);
  // Broken JSON stays text; tools off leaves the tags as text.
  ChatDelta bad = Parse("<tool_call>{not json}</tool_call>", true, false, ToolFormat::kHermes);
  EXPECT_EQ(bad.content, "<tool_call>{not json}</tool_call>");
  EXPECT_TRUE(bad.tool_calls.empty());
  ChatDelta off = Parse("<tool_call>{\"name\": \"f\"}</tool_call>", true, false, ToolFormat::kNone);
  EXPECT_TRUE(off.tool_calls.empty());
  // Reasoning, then a call (Qwen3).
  ChatDelta both = Parse(
      "<think>need weather</think>\n<tool_call>{\"name\":\"w\",\"arguments\":"
      "{\"q\":1}}</tool_call>",
      true, false, ToolFormat::kHermes);
  EXPECT_EQ(both.reasoning, "need weather");
  ASSERT_EQ(both.tool_calls.size(), 1u);
  EXPECT_TRUE(both.content.empty());
}

TEST(ChatOutput, Llama3JsonToolCalls) {
  ChatDelta d = Parse("{\"name\": \"search\", \"parameters\": {\"q\": \"suanli\"}}", true, false,
                      ToolFormat::kLlama3Json);
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].name, "search");
  EXPECT_EQ(nlohmann::json::parse(d.tool_calls[0].arguments)["q"], "suanli");
  EXPECT_TRUE(d.content.empty());
  ChatDelta tag = Parse(
      "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", "
      "\"parameters\": {\"x\": \";\"}}",
      true, false, ToolFormat::kLlama3Json);
  ASSERT_EQ(tag.tool_calls.size(), 2u);
  EXPECT_EQ(tag.tool_calls[1].name, "b");
  // Ordinary prose is content; JSON that is not a call is content too.
  EXPECT_EQ(Parse("Sure: it is 4.", true, false, ToolFormat::kLlama3Json).content,
            "Sure: it is 4.");
  ChatDelta notcall = Parse("{\"answer\": 4}", true, false, ToolFormat::kLlama3Json);
  EXPECT_TRUE(notcall.tool_calls.empty());
  EXPECT_EQ(notcall.content, "{\"answer\": 4}");
}

TEST(ChatOutput, DetectsTheTemplatesToolFormat) {
  EXPECT_EQ(DetectToolFormat("{% if tools %}<tool_call>{{ x }}</tool_call>{% endif %}"),
            ToolFormat::kHermes);
  EXPECT_EQ(DetectToolFormat("<|start_header_id|>ipython<|end_header_id|> {% for t in tools %}"
                             "\"parameters\"{% endfor %}"),
            ToolFormat::kLlama3Json);
  EXPECT_EQ(DetectToolFormat("{{ messages }}"), ToolFormat::kNone);
}

}  // namespace
}  // namespace suanli::server
