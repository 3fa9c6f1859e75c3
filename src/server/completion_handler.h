// POST /v1/completions and /v1/chat/completions (and /apply-template): parse, render the chat
// template, submit to the runtime and answer as one JSON body or a Server-Sent Events stream
// (ending "data: [DONE]"). A client that disconnects cancels its request at the next step.
#pragma once

#include <httplib.h>

#include "server/api_context.h"
#include "server/openai.h"

namespace suanli::server {

void HandleCompletion(ApiContext& ctx, const httplib::Request& req, httplib::Response& res,
                      bool chat);
void HandleApplyTemplate(ApiContext& ctx, const httplib::Request& req, httplib::Response& res);

// Writes an OpenAI-shaped error (with Retry-After when the error is retryable).
void SendError(httplib::Response& res, const ApiError& e);

}  // namespace suanli::server
