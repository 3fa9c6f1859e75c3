// Request parsing: defaults, every parameter's type and range (a 400 naming the parameter),
// message normalization for chat templates, and status mapping.
#include "server/openai.h"

#include <gtest/gtest.h>

#include <cmath>

namespace suanli::server {
namespace {

Json J(const char* s) { return Json::parse(s); }

std::optional<ApiError> Chat(const char* body, ChatRequest* out = nullptr) {
  ChatRequest r;
  auto e = ParseChatRequest(J(body), false, &r);
  if (out) *out = r;
  return e;
}
std::optional<ApiError> Comp(const char* body, CompletionRequest* out = nullptr) {
  CompletionRequest r;
  auto e = ParseCompletionRequest(J(body), false, &r);
  if (out) *out = r;
  return e;
}

TEST(OpenAi, DefaultsAreLlamaCpps) {
  CompletionRequest r;
  ASSERT_FALSE(Comp(R"({"prompt": "hi"})", &r));
  EXPECT_FLOAT_EQ(r.gen.sampling.temperature, 0.8f);
  EXPECT_EQ(r.gen.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.gen.sampling.top_p, 0.95f);
  EXPECT_FALSE(r.gen.max_tokens);
  EXPECT_EQ(r.gen.n, 1);
  EXPECT_FALSE(r.gen.stream);
  EXPECT_EQ(r.gen.logprobs, -1);
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "hi");
}

TEST(OpenAi, WrongTypesAndRangesName400Param) {
  struct Case {
    const char* body;
    const char* param;
  } cases[] = {
      {R"({"prompt": "x", "temperature": "hot"})", "temperature"},
      {R"({"prompt": "x", "temperature": 3})", "temperature"},
      {R"({"prompt": "x", "top_p": -0.1})", "top_p"},
      {R"({"prompt": "x", "max_tokens": 1.5})", "max_tokens"},
      {R"({"prompt": "x", "max_tokens": -1})", "max_tokens"},
      {R"({"prompt": "x", "n": 0})", "n"},
      {R"({"prompt": "x", "stream": "yes"})", "stream"},
      {R"({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]})", "stop"},
      {R"({"prompt": "x", "stop": [1]})", "stop"},
      {R"({"prompt": "x", "seed": "1"})", "seed"},
      {R"({"prompt": "x", "logit_bias": {"abc": 1}})", "logit_bias"},
      {R"({"prompt": "x", "logit_bias": {"12": 101}})", "logit_bias"},
      {R"({"prompt": "x", "presence_penalty": 2.5})", "presence_penalty"},
      {R"({"prompt": "x", "response_format": {"type": "json_object"}})", "response_format"},
      {R"({"prompt": "x", "stream_options": {"include_usage": 1}})",
       "stream_options.include_usage"},
      {R"({"prompt": 5})", "prompt"},
      {R"({"prompt": [1, -2]})", "prompt"},
      {R"({})", "prompt"},
      {R"({"prompt": "x", "user": 7})", "user"},
      {R"({"prompt": "x", "suanli_test_script": "<tool_call>"})", "suanli_test_script"},
  };
  for (const Case& c : cases) {
    auto e = Comp(c.body);
    ASSERT_TRUE(e) << c.body;
    EXPECT_EQ(e->status, 400) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body;
    EXPECT_EQ(e->type, "invalid_request_error");
  }
}

TEST(OpenAi, ParametersAreRead) {
  CompletionRequest r;
  ASSERT_FALSE(Comp(R"({"prompt": [[1, 2], "text"], "max_completion_tokens": 7, "temperature": 0,
                        "stop": "END", "seed": -5, "n": 3, "logprobs": 2, "ignore_eos": true,
                        "logit_bias": {"42": -100, "7": 2.5}, "some_unknown_field": {"x": 1},
                        "stream": true, "stream_options": {"include_usage": true}})",
                    &r));
  EXPECT_EQ(*r.gen.max_tokens, 7);
  EXPECT_EQ(r.gen.stop, std::vector<std::string>{"END"});
  EXPECT_TRUE(r.gen.seed_given);
  EXPECT_EQ(static_cast<int64_t>(r.gen.sampling.seed), -5);
  EXPECT_EQ(r.gen.n, 3);
  EXPECT_EQ(r.gen.logprobs, 2);
  EXPECT_TRUE(r.gen.ignore_eos && r.gen.stream && r.gen.include_usage);
  ASSERT_EQ(r.gen.sampling.logit_bias.size(), 2u);
  EXPECT_TRUE(std::isinf(r.gen.sampling.logit_bias[0].second));  // -100 bans
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_TRUE(r.prompts[0].is_tokens);
  EXPECT_EQ(r.prompts[1].text, "text");
}

TEST(OpenAi, ChatMessagesAreNormalizedForTemplates) {
  ChatRequest r;
  ASSERT_FALSE(Chat(R"({"messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null, "tool_calls": [
          {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "42"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "chat_template_kwargs": {"enable_thinking": false}, "logprobs": true, "top_logprobs": 3})",
                    &r));
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "a\nb");
  EXPECT_EQ(r.messages[2]["content"], "");  // templates cannot test 'x' in None
  EXPECT_EQ(r.messages[2]["tool_calls"][0]["function"]["arguments"]["x"], 1);  // an object now
  EXPECT_EQ(r.messages[3]["tool_call_id"], "c1");
  EXPECT_TRUE(r.tools.is_array());
  EXPECT_EQ(r.template_kwargs["enable_thinking"], false);
  EXPECT_EQ(r.gen.logprobs, 3);
}

TEST(OpenAi, ChatErrors) {
  EXPECT_EQ(Chat(R"({"messages": []})")->param, "messages");
  EXPECT_EQ(Chat(R"({"messages": [{"role": "wizard", "content": "x"}]})")->param,
            "messages[0].role");
  EXPECT_EQ(Chat(R"({"messages": [{"role": "user"}]})")->param, "messages[0].content");
  EXPECT_EQ(Chat(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})")->param,
            "messages[0].content");
  EXPECT_EQ(
      Chat(R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "maybe"})")->param,
      "tool_choice");
  EXPECT_EQ(
      Chat(R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})")->param,
      "tool_choice");
  EXPECT_EQ(Chat(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})")->param,
            "top_logprobs");
  EXPECT_EQ(
      Chat(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "x"}]})")->param,
      "tools");
  ChatRequest r;
  ASSERT_FALSE(Chat(R"({"messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "function", "function": {"name": "a"}},
                {"type": "function", "function": {"name": "b"}}],
      "tool_choice": {"type": "function", "function": {"name": "b"}}})",
                    &r));
  ASSERT_EQ(r.tools.size(), 1u);  // only the named function is offered
  EXPECT_EQ(r.tools[0]["function"]["name"], "b");
  ASSERT_FALSE(Chat(R"({"messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "function", "function": {"name": "a"}}], "tool_choice": "none"})",
                    &r));
  EXPECT_TRUE(r.tools.is_null());
}

TEST(OpenAi, StatusesMapToHttp) {
  EXPECT_EQ(ApiError::FromStatus(InvalidArgument("x")).status, 400);
  EXPECT_EQ(ApiError::FromStatus(OutOfRange("x")).status, 400);
  EXPECT_EQ(ApiError::FromStatus(NotFound("x")).status, 404);
  const ApiError full = ApiError::FromStatus(ResourceExhausted("x"));
  EXPECT_EQ(full.status, 429);
  EXPECT_GT(full.retry_after, 0);
  for (Status s : {Unavailable("x"), DeadlineExceeded("x"), Aborted("x")}) {
    const ApiError e = ApiError::FromStatus(s);
    EXPECT_EQ(e.status, 503);
    EXPECT_GT(e.retry_after, 0);
  }
  EXPECT_EQ(ApiError::FromStatus(Internal("x")).status, 500);
  const Json j = ApiError::BadRequest("bad", "temperature").ToJson();
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"]["code"].is_null());
}

TEST(OpenAi, DumpReplacesInvalidUtf8) {
  Json j = Json::object();
  j["t"] = std::string(
      "a\xff"
      "b");
  EXPECT_EQ(Dump(j),
            "{\"t\":\"a\xEF\xBF\xBD"
            "b\"}");
  const Json t = LogprobToken("\xe2\x82", -0.5f);
  EXPECT_EQ(t["bytes"].size(), 2u);
}

}  // namespace
}  // namespace suanli::server
