#include "server/chat_output.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace suanli::server {

namespace {

constexpr std::string_view kThinkOpen = "<think>", kThinkClose = "</think>";
constexpr std::string_view kCallOpen = "<tool_call>", kCallClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t PartialTag(std::string_view s, std::string_view tag) {
  for (size_t k = std::min(s.size(), tag.size() - 1); k > 0; --k)
    if (s.substr(s.size() - k) == tag.substr(0, k)) return k;
  return 0;
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

}  // namespace

ToolFormat DetectToolFormat(const std::string& src) {
  if (src.find("<tool_call>") != std::string::npos) return ToolFormat::kHermes;
  const bool llama_headers = src.find("<|start_header_id|>") != std::string::npos;
  if (src.find("<|python_tag|>") != std::string::npos ||
      (llama_headers && src.find("parameters") != std::string::npos &&
       src.find("tools") != std::string::npos))
    return ToolFormat::kLlama3Json;
  return ToolFormat::kNone;
}

bool PromptOpensThinking(std::string_view prompt) {
  const size_t open = prompt.rfind(kThinkOpen);
  if (open == std::string_view::npos) return false;
  const size_t close = prompt.rfind(kThinkClose);
  return close == std::string_view::npos || close < open;
}

ChatOutputParser::ChatOutputParser(bool reasoning, bool in_thinking, ToolFormat tools,
                                   std::string id_seed)
    : reasoning_(reasoning),
      thinking_(reasoning && in_thinking),
      tools_(tools),
      id_seed_(std::move(id_seed)) {}

void ChatOutputParser::EmitText(std::string_view text, ChatDelta* out) {
  if (text.empty()) return;
  if (thinking_) {
    out->reasoning.append(text);
    return;
  }
  if (after_think_) {
    // The blank line a model writes after </think> is not part of the answer.
    size_t i = 0;
    while (i < text.size() && IsSpace(text[i])) ++i;
    text.remove_prefix(i);
    if (text.empty()) return;
    after_think_ = false;
  }
  out->content.append(text);
  started_ = true;
}

bool ChatOutputParser::TakeToolCalls(std::string_view body, ChatDelta* out, bool llama) {
  // Hermes: one JSON object. Llama 3: one or more objects separated by ';'.
  std::vector<std::string_view> parts;
  if (llama) {
    size_t start = 0;
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < body.size(); ++i) {
      const char c = body[i];
      if (in_str) {
        if (esc)
          esc = false;
        else if (c == '\\')
          esc = true;
        else if (c == '"')
          in_str = false;
      } else if (c == '"') {
        in_str = true;
      } else if (c == '{') {
        ++depth;
      } else if (c == '}') {
        --depth;
      } else if (c == ';' && depth == 0) {
        parts.push_back(body.substr(start, i - start));
        start = i + 1;
      }
    }
    parts.push_back(body.substr(start));
  } else {
    parts.push_back(body);
  }
  std::vector<ToolCall> calls;
  for (std::string_view p : parts) {
    while (!p.empty() && IsSpace(p.front())) p.remove_prefix(1);
    while (!p.empty() && IsSpace(p.back())) p.remove_suffix(1);
    if (p.empty()) continue;
    auto j = nlohmann::json::parse(p, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
    const char* key = j.contains("arguments") ? "arguments" : "parameters";
    nlohmann::json args = j.contains(key) ? j[key] : nlohmann::json::object();
    if (args.is_string()) {  // some models write the arguments as a JSON string
      auto parsed = nlohmann::json::parse(args.get<std::string>(), nullptr, false);
      if (parsed.is_object()) args = parsed;
    }
    if (!args.is_object()) return false;
    ToolCall c;
    c.name = j["name"].get<std::string>();
    c.arguments = args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    calls.push_back(std::move(c));
  }
  if (calls.empty()) return false;
  for (ToolCall& c : calls) {
    c.id = "call_" + id_seed_ + "_" + std::to_string(n_calls_++);
    out->tool_calls.push_back(std::move(c));
  }
  return true;
}

void ChatOutputParser::Drain(bool final, ChatDelta* out) {
  for (;;) {
    if (thinking_) {
      const size_t close = buf_.find(kThinkClose);
      if (close != std::string::npos) {
        EmitText(std::string_view(buf_).substr(0, close), out);
        buf_.erase(0, close + kThinkClose.size());
        thinking_ = false;
        after_think_ = true;
        continue;
      }
      const size_t hold = final ? 0 : PartialTag(buf_, kThinkClose);
      EmitText(std::string_view(buf_).substr(0, buf_.size() - hold), out);
      buf_.erase(0, buf_.size() - hold);
      return;
    }
    if (llama_json_) {
      if (!final) return;  // the whole reply is the call: decide at the end
      const std::string text = std::move(buf_);
      buf_.clear();
      std::string_view body = text;
      if (body.substr(0, kPythonTag.size()) == kPythonTag) body.remove_prefix(kPythonTag.size());
      llama_json_ = false;
      if (!TakeToolCalls(body, out, true)) EmitText(text, out);
      return;
    }
    // Where does the next thing that needs deciding start?
    size_t next = std::string::npos;
    std::string_view marker;
    auto consider = [&](std::string_view tag) {
      const size_t at = buf_.find(tag);
      if (at != std::string::npos && at < next) {
        next = at;
        marker = tag;
      }
    };
    if (reasoning_ && !started_) {
      // Whitespace before the reply's first word waits: it may precede <think> (SentencePiece
      // models write " <think>"), and then it belongs to neither part.
      size_t i = 0;
      while (i < buf_.size() && IsSpace(buf_[i])) ++i;
      if (!final && i == buf_.size()) return;
      if (std::string_view(buf_).substr(i, kThinkOpen.size()) == kThinkOpen) {
        buf_.erase(0, i + kThinkOpen.size());
        thinking_ = true;
        continue;
      }
      if (!final && kThinkOpen.substr(0, buf_.size() - i) == std::string_view(buf_).substr(i))
        return;  // may still become <think>
    }
    if (tools_ == ToolFormat::kHermes) consider(kCallOpen);
    if (tools_ == ToolFormat::kLlama3Json && !started_) {
      // A Llama 3 call is the whole reply: '{' or <|python_tag|> after any whitespace.
      size_t i = 0;
      while (i < buf_.size() && IsSpace(buf_[i])) ++i;
      const std::string_view rest = std::string_view(buf_).substr(i);
      if (rest.empty()) {
        if (!final) return;  // only whitespace so far
      } else if (rest[0] == '{' || rest.substr(0, kPythonTag.size()) == kPythonTag) {
        buf_.erase(0, i);
        llama_json_ = true;
        continue;
      } else if (!final && kPythonTag.substr(0, rest.size()) == rest) {
        return;  // may still become <|python_tag|>
      }
    }
    if (next == std::string::npos) {
      size_t hold = 0;
      if (!final) {
        if (reasoning_ && !started_) hold = std::max(hold, PartialTag(buf_, kThinkOpen));
        if (tools_ == ToolFormat::kHermes) hold = std::max(hold, PartialTag(buf_, kCallOpen));
      }
      EmitText(std::string_view(buf_).substr(0, buf_.size() - hold), out);
      buf_.erase(0, buf_.size() - hold);
      return;
    }
    EmitText(std::string_view(buf_).substr(0, next), out);
    buf_.erase(0, next);
    if (marker == kThinkOpen) {
      buf_.erase(0, kThinkOpen.size());
      thinking_ = true;
      continue;
    }
    // A Hermes call: wait for its end.
    const size_t close = buf_.find(kCallClose);
    if (close == std::string::npos) {
      if (!final) return;
      std::string text = buf_;  // never closed: maybe the JSON is complete anyway
      buf_.clear();
      if (!TakeToolCalls(std::string_view(text).substr(kCallOpen.size()), out, false))
        EmitText(text, out);
      return;
    }
    const std::string body = buf_.substr(kCallOpen.size(), close - kCallOpen.size());
    const std::string whole = buf_.substr(0, close + kCallClose.size());
    buf_.erase(0, close + kCallClose.size());
    if (!TakeToolCalls(body, out, false)) EmitText(whole, out);
    started_ = true;
  }
}

ChatDelta ChatOutputParser::Push(std::string_view text) {
  ChatDelta d;
  buf_.append(text);
  Drain(false, &d);
  return d;
}

ChatDelta ChatOutputParser::Finish() {
  ChatDelta d;
  Drain(true, &d);
  return d;
}

}  // namespace suanli::server
