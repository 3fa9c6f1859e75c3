// libFuzzer target for what a client controls in the server: the input is a request body (JSON,
// or not) parsed as a chat and as a completion request; its first bytes also become the headers
// the gate checks, and the body's text, cut at a point the input chooses, feeds the chat-output
// parser (reasoning and tool calls) the way a stream would. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/chat_output.h"
#include "server/http_gate.h"
#include "server/openai.h"

using namespace suanli::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  Json body = Json::parse(in, nullptr, false);
  if (!body.is_discarded()) {
    ChatRequest chat;
    if (!ParseChatRequest(body, true, &chat)) (void)Dump(chat.messages);
    CompletionRequest comp;
    (void)ParseCompletionRequest(body, true, &comp);
  }
  GateConfig c;
  c.bound_host = "127.0.0.1";
  c.api_key = "key";
  c.max_body_bytes = 1000;
  GateRequest r;
  const size_t q = size / 4;
  r.method = size % 2 ? "GET" : "POST";
  r.host = in.substr(0, q);
  r.origin = in.substr(q, q);
  r.authorization = in.substr(2 * q, q);
  r.content_length = in.substr(3 * q);
  r.path = "/v1/chat/completions";
  (void)CheckGate(c, r);
  for (ToolFormat f : {ToolFormat::kHermes, ToolFormat::kLlama3Json}) {
    ChatOutputParser p(true, size % 3 == 0, f, "fz");
    const size_t step = 1 + (size ? data[0] % 17 : 0);
    for (size_t i = 0; i < in.size(); i += step) (void)p.Push(in.substr(i, step));
    (void)p.Finish();
  }
  return 0;
}
