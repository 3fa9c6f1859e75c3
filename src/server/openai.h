// The OpenAI API's request and response shapes: parsing /v1/completions and /v1/chat/completions
// bodies into checked, typed requests (a wrong type or range is an ApiError naming the parameter;
// unknown fields are ignored), and building responses, stream chunks and error bodies.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "suanli/status.h"

namespace suanli::server {

using Json = nlohmann::ordered_json;

// An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;    // empty: null
  std::string code;     // empty: null
  int retry_after = 0;  // > 0: a Retry-After header (seconds)

  Json ToJson() const;
  static ApiError BadRequest(std::string message, std::string param = "");
  // A runtime Status as the status code the server answers: retryable codes are 503 with
  // Retry-After (a full queue: 429), bad input 400, a missing thing 404, others 500.
  static ApiError FromStatus(const Status& s);
};

// Parameters /v1/completions and /v1/chat/completions share.
struct GenerationParams {
  std::string model;                  // as given ("" when absent)
  std::optional<int64_t> max_tokens;  // max_tokens or max_completion_tokens
  SamplerParams sampling;             // server defaults where absent (llama.cpp's)
  bool seed_given = false;
  std::vector<std::string> stop;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  int logprobs = -1;  // < 0: none; else the number of alternatives per token (top_logprobs)
  bool ignore_eos = false;
  std::string script;  // test-only: the text to "generate" (needs SUANLI_TEST_SCRIPT=1)
};

struct CompletionRequest {
  GenerationParams gen;
  // Each prompt is text or token ids; several prompts give n choices each.
  struct Prompt {
    std::string text;
    std::vector<int32_t> tokens;
    bool is_tokens = false;
  };
  std::vector<Prompt> prompts;
};

struct ChatRequest {
  GenerationParams gen;
  Json messages;  // normalized: content strings; tool call arguments as objects (for templates)
  Json tools;     // null when none (or tool_choice "none")
  std::string tool_choice = "auto";  // auto | none | required | the name of a function
  Json template_kwargs = Json::object();
  bool add_generation_prompt = true;  // /apply-template may turn it off
  bool reasoning = true;              // split out <think> text (reasoning_format != "none")
};

// Parsing. allow_script: the test-only switch is accepted (else a request using it is a 400).
std::optional<ApiError> ParseCompletionRequest(const Json& body, bool allow_script,
                                               CompletionRequest* out);
std::optional<ApiError> ParseChatRequest(const Json& body, bool allow_script, ChatRequest* out);

// A token's text as OpenAI's logprobs give it: the string (invalid UTF-8 replaced) and its bytes.
Json LogprobToken(const std::string& piece, float logprob);

// Serializes without throwing: invalid UTF-8 becomes U+FFFD.
std::string Dump(const Json& j);

}  // namespace suanli::server
