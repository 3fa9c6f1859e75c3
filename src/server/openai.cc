#include "server/openai.h"

#include <cmath>
#include <limits>

namespace suanli::server {

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Json ApiError::ToJson() const {
  Json e = Json::object();
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? Json(nullptr) : Json(param);
  e["code"] = code.empty() ? Json(nullptr) : Json(code);
  Json j = Json::object();
  j["error"] = e;
  return j;
}

ApiError ApiError::BadRequest(std::string message, std::string param) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

ApiError ApiError::FromStatus(const Status& s) {
  ApiError e;
  e.message = s.message();
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kFailedPrecondition:
      e.status = 400;
      break;
    case StatusCode::kNotFound:
      e.status = 404;
      e.type = "not_found_error";
      break;
    case StatusCode::kUnauthenticated:
      e.status = 401;
      e.type = "authentication_error";
      break;
    case StatusCode::kPermissionDenied:
      e.status = 403;
      e.type = "permission_error";
      break;
    case StatusCode::kResourceExhausted:
      e.status = 429;
      e.type = "rate_limit_error";
      e.code = "rate_limit_exceeded";
      e.retry_after = 1;
      break;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kAborted:
      e.status = 503;
      e.type = "server_error";
      e.code = "service_unavailable";
      e.retry_after = 2;
      break;
    case StatusCode::kCancelled:
      e.status = 499;  // the client went away (nginx's convention; nobody reads it)
      e.type = "server_error";
      break;
    default:
      e.status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

namespace {

// Reads typed fields of a request object; the first problem wins.
class Fields {
 public:
  explicit Fields(const Json& obj) : obj_(obj) {}
  std::optional<ApiError> error;

  const Json* Get(const char* key) const {
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }
  void Fail(const std::string& msg, const char* key) {
    if (!error) error = ApiError::BadRequest(msg, key);
  }
  bool Bool(const char* key, bool* out) {
    const Json* v = Get(key);
    if (!v) return false;
    if (!v->is_boolean()) {
      Fail(std::string("'") + key + "' must be a boolean", key);
      return false;
    }
    *out = v->get<bool>();
    return true;
  }
  template <typename T>
  bool Number(const char* key, double lo, double hi, T* out) {
    const Json* v = Get(key);
    if (!v) return false;
    if (!v->is_number()) {
      Fail(std::string("'") + key + "' must be a number", key);
      return false;
    }
    const double d = v->get<double>();
    if (!(d >= lo && d <= hi)) {
      Fail(std::string("'") + key + "' is " + v->dump() + "; it must be between " + Fmt(lo) +
               " and " + Fmt(hi),
           key);
      return false;
    }
    *out = static_cast<T>(d);
    return true;
  }
  template <typename T>
  bool Integer(const char* key, int64_t lo, int64_t hi, T* out) {
    const Json* v = Get(key);
    if (!v) return false;
    if (!v->is_number_integer() &&
        !(v->is_number_float() && std::floor(v->get<double>()) == v->get<double>())) {
      Fail(std::string("'") + key + "' must be an integer", key);
      return false;
    }
    const double d = v->get<double>();
    if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi))) {
      Fail(std::string("'") + key + "' is " + v->dump() + "; it must be between " +
               std::to_string(lo) + " and " + std::to_string(hi),
           key);
      return false;
    }
    *out = static_cast<T>(v->is_number_integer() ? v->get<int64_t>() : static_cast<int64_t>(d));
    return true;
  }
  bool String(const char* key, std::string* out) {
    const Json* v = Get(key);
    if (!v) return false;
    if (!v->is_string()) {
      Fail(std::string("'") + key + "' must be a string", key);
      return false;
    }
    *out = v->get<std::string>();
    return true;
  }

 private:
  static std::string Fmt(double d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", d);
    return buf;
  }
  const Json& obj_;
};

constexpr int kMaxStops = 4;
constexpr int kMaxChoices = 128;

void ParseGeneration(Fields& f, bool chat, bool allow_script, GenerationParams* g) {
  f.String("model", &g->model);
  int64_t m = 0;
  if (f.Integer("max_tokens", 0, int64_t{1} << 30, &m)) g->max_tokens = m;
  if (f.Integer("max_completion_tokens", 0, int64_t{1} << 30, &m)) g->max_tokens = m;
  SamplerParams& s = g->sampling;
  // Defaults as llama.cpp's server has them.
  s.temperature = 0.8f;
  s.top_k = 40;
  s.top_p = 0.95f;
  s.min_p = 0.05f;
  s.repeat_penalty = 1.0f;
  s.repeat_last_n = 64;
  f.Number("temperature", 0, 2, &s.temperature);
  f.Number("top_p", 0, 1, &s.top_p);
  f.Integer("top_k", 0, int64_t{1} << 30, &s.top_k);
  f.Number("min_p", 0, 1, &s.min_p);
  f.Number("presence_penalty", -2, 2, &s.presence_penalty);
  f.Number("frequency_penalty", -2, 2, &s.frequency_penalty);
  f.Number("repeat_penalty", 0, 10, &s.repeat_penalty);
  f.Integer("repeat_last_n", 0, 1 << 16, &s.repeat_last_n);
  int64_t seed = 0;
  if (f.Integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                &seed)) {
    s.seed = static_cast<uint64_t>(seed);
    g->seed_given = true;
  }
  if (const Json* st = f.Get("stop")) {
    if (st->is_string()) {
      g->stop.push_back(st->get<std::string>());
    } else if (st->is_array() && st->size() <= kMaxStops) {
      for (const Json& x : *st) {
        if (!x.is_string()) {
          f.Fail("'stop' must be a string or an array of up to 4 strings", "stop");
          break;
        }
        g->stop.push_back(x.get<std::string>());
      }
    } else {
      f.Fail("'stop' must be a string or an array of up to 4 strings", "stop");
    }
  }
  f.Integer("n", 1, kMaxChoices, &g->n);
  f.Bool("stream", &g->stream);
  if (const Json* so = f.Get("stream_options")) {
    if (!so->is_object()) {
      f.Fail("'stream_options' must be an object", "stream_options");
    } else {
      Fields sf(*so);
      sf.Bool("include_usage", &g->include_usage);
      if (sf.error && !f.error) {
        f.error = sf.error;
        f.error->param = "stream_options.include_usage";
      }
    }
  }
  if (const Json* lb = f.Get("logit_bias")) {
    auto add = [&](const std::string& key, const Json& v) {
      char* end = nullptr;
      const long long id = std::strtoll(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id > (int64_t{1} << 30) || !v.is_number()) {
        f.Fail("'logit_bias' maps token ids to numbers between -100 and 100", "logit_bias");
        return;
      }
      double b = v.get<double>();
      if (!(b >= -100 && b <= 100)) {
        f.Fail("'logit_bias' maps token ids to numbers between -100 and 100", "logit_bias");
        return;
      }
      // -100 bans the token, as OpenAI documents.
      s.logit_bias.emplace_back(
          static_cast<int32_t>(id),
          b <= -100 ? -std::numeric_limits<float>::infinity() : static_cast<float>(b));
    };
    if (lb->is_object() && lb->size() <= 1024) {
      for (auto it = lb->begin(); it != lb->end(); ++it) add(it.key(), it.value());
    } else {
      f.Fail("'logit_bias' must be an object of at most 1024 token ids", "logit_bias");
    }
  }
  if (chat) {
    bool lp = false;
    f.Bool("logprobs", &lp);
    int top = 0;
    if (f.Integer("top_logprobs", 0, kMaxProbs, &top) && !lp)
      f.Fail("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    if (lp) g->logprobs = top;
  } else {
    int lp = -1;
    if (const Json* v = f.Get("logprobs"); v && v->is_boolean()) {
      g->logprobs = v->get<bool>() ? 0 : -1;
    } else if (f.Integer("logprobs", 0, kMaxProbs, &lp)) {
      g->logprobs = lp;
    }
  }
  std::string user;
  f.String("user", &user);
  f.Bool("ignore_eos", &g->ignore_eos);
  if (const Json* rf = f.Get("response_format")) {
    std::string type;
    if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string())
      f.Fail("'response_format' must be an object with a 'type'", "response_format");
    else if ((type = (*rf)["type"].get<std::string>()) != "text")
      f.Fail("response_format '" + type +
                 "' is not supported by this server (no constrained decoding); use 'text'",
             "response_format");
  }
  if (f.Get("suanli_test_script")) {
    if (!allow_script)
      f.Fail("'suanli_test_script' is a test-only switch; the server was not started for tests",
             "suanli_test_script");
    else
      f.String("suanli_test_script", &g->script);
  }
}

// One message's content as the template sees it: a string, or null.
std::optional<ApiError> NormalizeContent(const Json& content, size_t i, Json* out) {
  const std::string param = "messages[" + std::to_string(i) + "].content";
  if (content.is_null() || content.is_string()) {
    *out = content;
    return std::nullopt;
  }
  if (!content.is_array())
    return ApiError::BadRequest("message content must be a string or an array of parts", param);
  std::string text;
  for (const Json& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      return ApiError::BadRequest("each content part must be an object with a 'type'", param);
    const std::string type = part["type"].get<std::string>();
    if (type != "text")
      return ApiError::BadRequest(
          "content parts of type '" + type + "' are not supported (text-only models)", param);
    if (!part.contains("text") || !part["text"].is_string())
      return ApiError::BadRequest("a text part needs a string 'text'", param);
    // Parts join with a newline, as llama.cpp's server joins them.
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  *out = text;
  return std::nullopt;
}

std::optional<ApiError> NormalizeMessages(const Json& messages, Json* out) {
  if (!messages.is_array() || messages.empty())
    return ApiError::BadRequest("'messages' must be a non-empty array", "messages");
  *out = Json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return ApiError::BadRequest("each message must be an object", at);
    if (!m.contains("role") || !m["role"].is_string())
      return ApiError::BadRequest("a message needs a string 'role'", at + ".role");
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";  // OpenAI's newer name for it
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      return ApiError::BadRequest("unknown role '" + role + "'", at + ".role");
    Json n = Json::object();
    n["role"] = role;
    Json content = nullptr;
    if (m.contains("content"))
      if (auto e = NormalizeContent(m["content"], i, &content)) return e;
    if (content.is_null() && role != "assistant")
      return ApiError::BadRequest("a " + role + " message needs content", at + ".content");
    // A null content (an assistant message with only tool calls) renders as "": templates test
    // `'</think>' in content` and the like, which fail on None.
    n["content"] = content.is_null() ? Json("") : content;
    for (const char* key : {"name", "tool_call_id", "reasoning_content"})
      if (m.contains(key) && !m[key].is_null()) {
        if (!m[key].is_string())
          return ApiError::BadRequest(std::string("'") + key + "' must be a string",
                                      at + "." + key);
        n[key] = m[key];
      }
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      const Json& calls = m["tool_calls"];
      if (!calls.is_array())
        return ApiError::BadRequest("'tool_calls' must be an array", at + ".tool_calls");
      Json list = Json::array();
      for (const Json& c : calls) {
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object() ||
            !c["function"].contains("name") || !c["function"]["name"].is_string())
          return ApiError::BadRequest("each tool call needs a function with a name",
                                      at + ".tool_calls");
        Json fn = Json::object();
        fn["name"] = c["function"]["name"];
        // Templates expect the arguments as an object (as Hugging Face passes them).
        Json args = c["function"].contains("arguments") ? c["function"]["arguments"] : Json();
        if (args.is_string()) {
          Json parsed = Json::parse(args.get<std::string>(), nullptr, false);
          if (!parsed.is_discarded()) args = parsed;
        }
        if (args.is_null()) args = Json::object();
        fn["arguments"] = args;
        Json call = Json::object();
        if (c.contains("id") && c["id"].is_string()) call["id"] = c["id"];
        call["type"] = "function";
        call["function"] = fn;
        list.push_back(call);
      }
      n["tool_calls"] = list;
    }
    out->push_back(n);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseCompletionRequest(const Json& body, bool allow_script,
                                               CompletionRequest* out) {
  if (!body.is_object()) return ApiError::BadRequest("the request body must be a JSON object");
  Fields f(body);
  ParseGeneration(f, false, allow_script, &out->gen);
  if (f.error) return f.error;
  const Json* p = f.Get("prompt");
  if (!p) return ApiError::BadRequest("'prompt' is required", "prompt");
  auto token_list = [](const Json& a, std::vector<int32_t>* t) {
    for (const Json& x : a) {
      if (!x.is_number_integer()) return false;
      const int64_t v = x.get<int64_t>();
      if (v < 0 || v > INT32_MAX) return false;
      t->push_back(static_cast<int32_t>(v));
    }
    return true;
  };
  const std::string bad =
      "'prompt' must be a string, an array of strings, an array of token ids "
      "or an array of such arrays";
  if (p->is_string()) {
    out->prompts.push_back({p->get<std::string>(), {}, false});
  } else if (p->is_array() && !p->empty() && (*p)[0].is_number()) {
    CompletionRequest::Prompt q;
    q.is_tokens = true;
    if (!token_list(*p, &q.tokens)) return ApiError::BadRequest(bad, "prompt");
    out->prompts.push_back(std::move(q));
  } else if (p->is_array() && !p->empty() && p->size() <= 64) {
    for (const Json& x : *p) {
      CompletionRequest::Prompt q;
      if (x.is_string()) {
        q.text = x.get<std::string>();
      } else if (x.is_array() && !x.empty()) {
        q.is_tokens = true;
        if (!token_list(x, &q.tokens)) return ApiError::BadRequest(bad, "prompt");
      } else {
        return ApiError::BadRequest(bad, "prompt");
      }
      out->prompts.push_back(std::move(q));
    }
  } else {
    return ApiError::BadRequest(bad, "prompt");
  }
  for (const char* unsupported : {"suffix"})
    if (f.Get(unsupported))
      return ApiError::BadRequest(std::string("'") + unsupported + "' is not supported",
                                  unsupported);
  bool echo = false;
  if (f.Bool("echo", &echo) && echo) return ApiError::BadRequest("'echo' is not supported", "echo");
  return f.error;
}

std::optional<ApiError> ParseChatRequest(const Json& body, bool allow_script, ChatRequest* out) {
  if (!body.is_object()) return ApiError::BadRequest("the request body must be a JSON object");
  Fields f(body);
  ParseGeneration(f, true, allow_script, &out->gen);
  if (f.error) return f.error;
  const Json* m = f.Get("messages");
  if (!m) return ApiError::BadRequest("'messages' is required", "messages");
  if (auto e = NormalizeMessages(*m, &out->messages)) return e;
  out->tools = nullptr;
  if (const Json* t = f.Get("tools")) {
    if (!t->is_array()) return ApiError::BadRequest("'tools' must be an array", "tools");
    for (const Json& tool : *t)
      if (!tool.is_object() || tool.value("type", "") != "function" || !tool.contains("function") ||
          !tool["function"].is_object() || !tool["function"].contains("name") ||
          !tool["function"]["name"].is_string())
        return ApiError::BadRequest(
            "each tool must be {\"type\": \"function\", \"function\": "
            "{\"name\": ...}}",
            "tools");
    if (!t->empty()) out->tools = *t;
  }
  if (const Json* tc = f.Get("tool_choice")) {
    if (tc->is_string()) {
      out->tool_choice = tc->get<std::string>();
      if (out->tool_choice != "auto" && out->tool_choice != "none" &&
          out->tool_choice != "required")
        return ApiError::BadRequest("'tool_choice' must be auto, none, required or a function",
                                    "tool_choice");
    } else if (tc->is_object() && tc->contains("function") && (*tc)["function"].is_object() &&
               (*tc)["function"].contains("name") && (*tc)["function"]["name"].is_string()) {
      out->tool_choice = "function:" + (*tc)["function"]["name"].get<std::string>();
    } else {
      return ApiError::BadRequest("'tool_choice' must be auto, none, required or a function",
                                  "tool_choice");
    }
  }
  if (out->tool_choice == "none") {
    out->tools = nullptr;
  } else if (out->tool_choice.rfind("function:", 0) == 0) {
    // Only the named function is offered.
    const std::string name = out->tool_choice.substr(9);
    Json kept = Json::array();
    if (out->tools.is_array())
      for (const Json& t : out->tools)
        if (t["function"]["name"] == name) kept.push_back(t);
    if (kept.empty())
      return ApiError::BadRequest("tool_choice names '" + name + "', which is not in 'tools'",
                                  "tool_choice");
    out->tools = kept;
  } else if (out->tool_choice == "required" && out->tools.is_null()) {
    return ApiError::BadRequest("tool_choice 'required' needs 'tools'", "tool_choice");
  }
  if (const Json* kw = f.Get("chat_template_kwargs")) {
    if (!kw->is_object())
      return ApiError::BadRequest("'chat_template_kwargs' must be an object",
                                  "chat_template_kwargs");
    out->template_kwargs = *kw;
  }
  f.Bool("add_generation_prompt", &out->add_generation_prompt);
  std::string rf;
  if (f.String("reasoning_format", &rf)) out->reasoning = rf != "none";
  return f.error;
}

Json LogprobToken(const std::string& piece, float logprob) {
  Json t = Json::object();
  t["token"] = piece;
  t["logprob"] = std::isfinite(logprob) ? logprob : -9999.0f;
  Json bytes = Json::array();
  for (unsigned char c : piece) bytes.push_back(static_cast<int>(c));
  t["bytes"] = bytes;
  return t;
}

}  // namespace suanli::server
