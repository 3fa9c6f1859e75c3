// What the API handlers share: the runtime, the chat template, metrics and the event log.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "runtime/runtime.h"
#include "server/chat_output.h"
#include "server/event_log.h"
#include "server/metrics.h"
#include "server/template/chat_template.h"

namespace suanli::server {

struct ApiContext {
  runtime::Runtime* rt = nullptr;
  std::unique_ptr<ChatTemplate> chat;
  ToolFormat tool_format = ToolFormat::kNone;
  bool template_thinks = false;  // the template knows <think> markers
  std::string model_id;
  bool allow_script = false;
  bool log_requests = true;
  Metrics metrics;
  EventLog events;
  std::atomic<uint64_t> next_request{1};
  std::atomic<int> active{0};  // requests being answered (shutdown waits for them)
};

}  // namespace suanli::server
