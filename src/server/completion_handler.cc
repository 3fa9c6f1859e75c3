#include "server/completion_handler.h"

#include <chrono>
#include <cstdio>
#include <random>

#include "base/progress.h"
#include "model/footprint.h"
#include "server/connection.h"
#include "server/openai.h"

namespace suanli::server {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RandomHex(int n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s += kHex[rng() % 16];
  return s;
}

// One runtime request (a prompt) and how to read its events.
struct Job {
  runtime::GenerationRequest req;
  int64_t n_prompt = 0;
  bool in_thinking = false;  // the rendered prompt left the model inside <think>
  runtime::RequestHandle handle;
};

// A chat template's prompt, tokenized: the template writes the BOS text itself when the model
// wants one, so the tokenizer adds one only when the prompt does not start with it.
std::vector<int32_t> TokenizePrompt(const Tokenizer& tok, const std::string& text) {
  bool add = tok.add_bos();
  if (add && tok.bos_id() >= 0) {
    const std::string_view bos = tok.token_text(tok.bos_id());
    if (!bos.empty() && std::string_view(text).substr(0, bos.size()) == bos) add = false;
  }
  std::vector<int32_t> ids = tok.Encode(text, false, true);
  if (add) ids.insert(ids.begin(), tok.bos_id());
  return ids;
}

std::optional<ApiError> RenderChat(ApiContext& ctx, const ChatRequest& c, std::string* prompt) {
  ChatInputs in;
  in.messages = c.messages;
  in.tools = c.tools;
  in.add_generation_prompt = c.add_generation_prompt;
  in.extra = c.template_kwargs;
  ApplyResult r = ctx.chat->Apply(in);
  if (!r.ok()) {
    ApiError e = ApiError::BadRequest(
        r.raised_by_template()
            ? r.status().message()
            : "the chat template cannot render this conversation: " + r.status().message(),
        "messages");
    return e;
  }
  *prompt = *r;
  return std::nullopt;
}

// Fills the runtime request's generation fields; checks the context.
std::optional<ApiError> Prepare(ApiContext& ctx, const GenerationParams& g,
                                std::vector<int32_t> prompt, Job* job) {
  const runtime::Runtime& rt = *ctx.rt;
  const int64_t n_ctx = rt.n_ctx();
  job->n_prompt = static_cast<int64_t>(prompt.size());
  if (prompt.empty()) return ApiError::BadRequest("the prompt is empty", "prompt");
  for (int32_t t : prompt)
    if (t >= rt.tokenizer().n_vocab())
      return ApiError::BadRequest("token id " + std::to_string(t) + " is outside the vocabulary",
                                  "prompt");
  runtime::GenerationRequest& r = job->req;
  if (!g.script.empty()) {
    // Test-only: the reply is this text, token by token, whatever the model draws.
    r.forced = rt.tokenizer().Encode(g.script, false, true);
    r.emit_forced = true;
  }
  const int64_t max_tokens = !g.script.empty()          ? static_cast<int64_t>(r.forced.size())
                             : g.max_tokens.has_value() ? *g.max_tokens
                                                        : n_ctx - job->n_prompt;
  if (job->n_prompt + max_tokens > n_ctx) {
    ApiError e = ApiError::BadRequest(
        "This model's maximum context length is " + std::to_string(n_ctx) +
            " tokens. However, you requested " + std::to_string(job->n_prompt + max_tokens) +
            " tokens (" + std::to_string(job->n_prompt) + " in the prompt, " +
            std::to_string(max_tokens) + " for the completion). Reduce the prompt or max_tokens.",
        g.max_tokens ? "max_tokens" : "messages");
    e.code = "context_length_exceeded";
    return e;
  }
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling = g.sampling;
  if (!g.seed_given)
    r.sampling.seed = std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32);
  r.sampling.n_probs = g.logprobs >= 0 ? std::max(1, g.logprobs) : 0;
  r.n = g.n;
  r.ignore_eos = g.ignore_eos || !g.script.empty();
  r.stop = g.stop;
  return std::nullopt;
}

const char* FinishName(runtime::FinishReason r, bool tool_calls) {
  if (tool_calls) return "tool_calls";
  return r == runtime::FinishReason::kStop ? "stop" : "length";
}

// A choice being assembled from its events.
struct Choice {
  int index = 0;
  std::unique_ptr<ChatOutputParser> parser;  // chat only
  std::string text, reasoning;
  std::vector<ToolCall> calls;
  Json logprobs = Json::array();       // chat: content entries; completions: built at the end
  std::vector<std::string> lp_tokens;  // completions' logprobs
  std::vector<float> lp_values;
  Json lp_top = Json::array();
  bool role_sent = false;
  bool finished = false;
  runtime::FinishReason finish = runtime::FinishReason::kStop;
  Status error;
  double last_token = -1;
};

struct Streamer {
  Streamer(ApiContext& c, bool is_chat, const GenerationParams& g, std::string request_id,
           Clock::time_point start)
      : ctx(c),
        chat(is_chat),
        stream(g.stream),
        include_usage(g.include_usage),
        logprobs(g.logprobs),
        id(std::move(request_id)),
        model(c.model_id),
        created(UnixNow()),
        t0(start) {}
  ApiContext& ctx;
  bool chat;
  bool stream;
  bool include_usage;
  int logprobs;  // -1: none
  std::string id;
  std::string model;
  int64_t created;
  Clock::time_point t0;
  std::vector<Choice> choices;
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  double ttft = -1;
  std::function<bool(const std::string&)> write;  // false: the client went away

  Json Base() const {
    Json j = Json::object();
    j["id"] = id;
    j["object"] = chat ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    j["created"] = created;
    j["model"] = model;
    return j;
  }
  Json Usage() const {
    Json u = Json::object();
    u["prompt_tokens"] = prompt_tokens;
    u["completion_tokens"] = completion_tokens;
    u["total_tokens"] = prompt_tokens + completion_tokens;
    Json d = Json::object();
    d["cached_tokens"] = cached_tokens;
    u["prompt_tokens_details"] = d;
    return u;
  }
  bool Send(const Json& chunk) { return write("data: " + Dump(chunk) + "\n\n"); }

  Json ToolCallsJson(const std::vector<ToolCall>& calls, size_t first_index, bool delta) const {
    Json a = Json::array();
    for (size_t i = 0; i < calls.size(); ++i) {
      Json c = Json::object();
      if (delta) c["index"] = static_cast<int>(first_index + i);
      c["id"] = calls[i].id;
      c["type"] = "function";
      Json f = Json::object();
      f["name"] = calls[i].name;
      f["arguments"] = calls[i].arguments;
      c["function"] = f;
      a.push_back(c);
    }
    return a;
  }

  // A stream chunk for one choice.
  bool Chunk(Choice& c, const ChatDelta* d, const std::string* text, const Json* lp,
             const char* finish) {
    if (!stream) return true;
    Json choice = Json::object();
    choice["index"] = c.index;
    if (chat) {
      Json delta = Json::object();
      if (!c.role_sent) {
        delta["role"] = "assistant";
        delta["content"] = "";
        c.role_sent = true;
      }
      if (d) {
        if (!d->reasoning.empty()) delta["reasoning_content"] = d->reasoning;
        if (!d->content.empty()) delta["content"] = d->content;
        if (!d->tool_calls.empty())
          delta["tool_calls"] =
              ToolCallsJson(d->tool_calls, c.calls.size() - d->tool_calls.size(), true);
      }
      choice["delta"] = delta;
      choice["logprobs"] = lp ? *lp : Json(nullptr);
    } else {
      choice["text"] = text ? *text : "";
      choice["logprobs"] = lp ? *lp : Json(nullptr);
    }
    choice["finish_reason"] = finish ? Json(finish) : Json(nullptr);
    Json j = Base();
    j["choices"] = Json::array({choice});
    if (include_usage) j["usage"] = nullptr;
    return Send(j);
  }

  void Apply(Choice& c, const ChatDelta& d) {
    c.text += d.content;
    c.reasoning += d.reasoning;
    for (const ToolCall& t : d.tool_calls) c.calls.push_back(t);
  }

  // Consumes one job's events; false if the client went away.
  bool Run(Job& job, int index_base, const std::function<bool()>& alive) {
    const Tokenizer& tok = ctx.rt->tokenizer();
    double last_event = Since(t0), last_check = last_event;
    while (true) {
      auto e = job.handle.Next(std::chrono::milliseconds(100));
      // Is the client still there? Checked every 100 ms, busy or not.
      if (Since(t0) - last_check > 0.1) {
        if (!alive()) return false;
        last_check = Since(t0);
      }
      if (!e) {
        // Streams: a comment now and then keeps proxies open and finds a client that left.
        if (stream && Since(t0) - last_event > 2.0) {
          if (!write(": keep-alive\n\n")) return false;
          last_event = Since(t0);
        }
        continue;
      }
      last_event = Since(t0);
      if (e->kind == runtime::Event::Kind::kDone) {
        prompt_tokens += e->usage.prompt_tokens;
        cached_tokens += e->usage.cached_tokens;
        completion_tokens += e->usage.completion_tokens;
        return true;
      }
      if (e->kind == runtime::Event::Kind::kPromptLogits) continue;
      Choice& c = choices[static_cast<size_t>(index_base + e->choice)];
      if (e->kind == runtime::Event::Kind::kToken) {
        const double now = Since(t0);
        if (ttft < 0) {
          ttft = now;
          ctx.metrics.Observe("suanli_time_to_first_token_seconds", now);
        }
        if (c.last_token >= 0)
          ctx.metrics.Observe("suanli_inter_token_latency_seconds", now - c.last_token);
        c.last_token = now;
        Json lp_json;
        const Json* lp = nullptr;
        if (logprobs >= 0) {
          const std::string piece = tok.TokenToPiece(e->token);
          if (chat) {
            Json entry = LogprobToken(piece, e->sampled.logprob);
            Json top = Json::array();
            for (int k = 0; k < logprobs && k < static_cast<int>(e->sampled.top.size()); ++k)
              top.push_back(
                  LogprobToken(tok.TokenToPiece(e->sampled.top[static_cast<size_t>(k)].token),
                               e->sampled.top[static_cast<size_t>(k)].logprob));
            entry["top_logprobs"] = top;
            c.logprobs.push_back(entry);
            lp_json = Json::object();
            lp_json["content"] = Json::array({entry});
          } else {
            c.lp_tokens.push_back(piece);
            c.lp_values.push_back(e->sampled.logprob);
            Json top = Json::object();
            for (int k = 0; k < logprobs && k < static_cast<int>(e->sampled.top.size()); ++k)
              top[tok.TokenToPiece(e->sampled.top[static_cast<size_t>(k)].token)] =
                  e->sampled.top[static_cast<size_t>(k)].logprob;
            c.lp_top.push_back(top);
            lp_json = Json::object();
            lp_json["tokens"] = Json::array({piece});
            lp_json["token_logprobs"] = Json::array({e->sampled.logprob});
            lp_json["top_logprobs"] = Json::array({top});
            lp_json["text_offset"] = Json::array({static_cast<int64_t>(c.text.size())});
          }
          lp = &lp_json;
        }
        if (chat) {
          ChatDelta d = c.parser->Push(e->text);
          Apply(c, d);
          if ((!d.empty() || lp || !c.role_sent) && !Chunk(c, &d, nullptr, lp, nullptr))
            return false;
        } else {
          c.text += e->text;
          if ((!e->text.empty() || lp) && !Chunk(c, nullptr, &e->text, lp, nullptr)) return false;
        }
        continue;
      }
      // kFinish.
      c.finished = true;
      c.finish = e->finish;
      c.error = e->status;
      if (e->finish == runtime::FinishReason::kCancelled) return false;
      if (e->finish == runtime::FinishReason::kError) {
        if (stream) {
          if (!Send(ApiError::FromStatus(c.error).ToJson())) return false;
        }
        continue;
      }
      if (chat) {
        ChatDelta d = c.parser->Push(e->text);
        ChatDelta rest = c.parser->Finish();
        d.content += rest.content;
        d.reasoning += rest.reasoning;
        for (ToolCall& t : rest.tool_calls) d.tool_calls.push_back(std::move(t));
        Apply(c, d);
        if (!d.empty() && !Chunk(c, &d, nullptr, nullptr, nullptr)) return false;
        if (!Chunk(c, nullptr, nullptr, nullptr, FinishName(c.finish, !c.calls.empty())))
          return false;
      } else {
        c.text += e->text;
        if (!e->text.empty() && !Chunk(c, nullptr, &e->text, nullptr, nullptr)) return false;
        if (!Chunk(c, nullptr, nullptr, nullptr, FinishName(c.finish, false))) return false;
      }
    }
  }

  Json Final() const {
    Json j = Base();
    Json arr = Json::array();
    for (const Choice& c : choices) {
      Json choice = Json::object();
      choice["index"] = c.index;
      if (chat) {
        Json m = Json::object();
        m["role"] = "assistant";
        m["content"] = c.text.empty() && !c.calls.empty() ? Json(nullptr) : Json(c.text);
        if (!c.reasoning.empty()) m["reasoning_content"] = c.reasoning;
        if (!c.calls.empty()) m["tool_calls"] = ToolCallsJson(c.calls, 0, false);
        choice["message"] = m;
        if (logprobs >= 0) {
          Json lp = Json::object();
          lp["content"] = c.logprobs;
          choice["logprobs"] = lp;
        } else {
          choice["logprobs"] = nullptr;
        }
      } else {
        choice["text"] = c.text;
        if (logprobs >= 0) {
          Json lp = Json::object();
          lp["tokens"] = c.lp_tokens;
          lp["token_logprobs"] = c.lp_values;
          lp["top_logprobs"] = c.lp_top;
          Json offsets = Json::array();
          int64_t off = 0;
          for (const std::string& t : c.lp_tokens) {
            offsets.push_back(off);
            off += static_cast<int64_t>(t.size());
          }
          lp["text_offset"] = offsets;
          choice["logprobs"] = lp;
        } else {
          choice["logprobs"] = nullptr;
        }
      }
      choice["finish_reason"] = FinishName(c.finish, !c.calls.empty());
      arr.push_back(choice);
    }
    j["choices"] = arr;
    j["usage"] = Usage();
    return j;
  }
};

void LogRequest(ApiContext& ctx, const std::string& id, const char* endpoint, int status,
                const Streamer* s, double seconds, const std::string& note) {
  ctx.metrics.Add("suanli_requests_total", 1,
                  {{"endpoint", endpoint}, {"status", std::to_string(status)}});
  if (s) {
    ctx.metrics.Add("suanli_prompt_tokens_total", static_cast<double>(s->prompt_tokens));
    ctx.metrics.Add("suanli_prompt_tokens_cached_total", static_cast<double>(s->cached_tokens));
    ctx.metrics.Add("suanli_generated_tokens_total", static_cast<double>(s->completion_tokens));
  }
  ctx.metrics.Observe("suanli_request_duration_seconds", seconds);
  if (!ctx.log_requests) return;
  char line[512];
  if (s)
    std::snprintf(line, sizeof line,
                  "%s %s %d: %lld prompt tokens (%lld cached), %lld generated in %.2f s "
                  "(first token %.2f s)%s%s",
                  id.c_str(), endpoint, status, static_cast<long long>(s->prompt_tokens),
                  static_cast<long long>(s->cached_tokens),
                  static_cast<long long>(s->completion_tokens), seconds,
                  s->ttft < 0 ? 0.0 : s->ttft, note.empty() ? "" : ": ", note.c_str());
  else
    std::snprintf(line, sizeof line, "%s %s %d in %.2f s%s%s", id.c_str(), endpoint, status,
                  seconds, note.empty() ? "" : ": ", note.c_str());
  std::fprintf(stderr, "suanli serve: %s\n", line);
}

}  // namespace

void SendError(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.retry_after > 0) res.set_header("Retry-After", std::to_string(e.retry_after));
  res.set_content(Dump(e.ToJson()), "application/json");
}

void HandleCompletion(ApiContext& ctx, const httplib::Request& req, httplib::Response& res,
                      bool chat) {
  const auto t0 = Clock::now();
  const std::string id = (chat ? "chatcmpl-" : "cmpl-") + RandomHex(24);
  const char* endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  auto fail = [&](const ApiError& e) {
    SendError(res, e);
    LogRequest(ctx, id, endpoint, e.status, nullptr, Since(t0), e.message);
  };
  Json body = Json::parse(req.body, nullptr, false);
  if (body.is_discarded()) return fail(ApiError::BadRequest("the request body is not valid JSON"));
  ChatRequest chat_req;
  CompletionRequest comp_req;
  std::optional<ApiError> err = chat ? ParseChatRequest(body, ctx.allow_script, &chat_req)
                                     : ParseCompletionRequest(body, ctx.allow_script, &comp_req);
  if (err) return fail(*err);
  const GenerationParams& g = chat ? chat_req.gen : comp_req.gen;
  if (!g.model.empty() && g.model != ctx.model_id) {
    ApiError e;
    e.status = 404;
    e.message =
        "The model '" + g.model + "' does not exist; this server serves '" + ctx.model_id + "'";
    e.param = "model";
    e.code = "model_not_found";
    return fail(e);
  }
  const Tokenizer& tok = ctx.rt->tokenizer();
  std::vector<Job> jobs;
  if (chat) {
    std::string prompt;
    if (auto e = RenderChat(ctx, chat_req, &prompt)) return fail(*e);
    Job j;
    if (auto e = Prepare(ctx, g, TokenizePrompt(tok, prompt), &j)) return fail(*e);
    j.in_thinking = chat_req.reasoning && PromptOpensThinking(prompt);
    jobs.push_back(std::move(j));
  } else {
    for (const CompletionRequest::Prompt& p : comp_req.prompts) {
      Job j;
      std::vector<int32_t> ids = p.is_tokens ? p.tokens : tok.Encode(p.text, true, true);
      if (auto e = Prepare(ctx, g, std::move(ids), &j)) return fail(*e);
      jobs.push_back(std::move(j));
    }
  }
  for (Job& j : jobs) {
    j.req.tag = id;
    auto h = ctx.rt->Submit(j.req);
    if (!h.ok()) {
      for (Job& k : jobs)
        if (k.handle.valid()) k.handle.Cancel();
      ApiError e = ApiError::FromStatus(h.status());
      if (h.status().code() == StatusCode::kInvalidArgument && g.n > 1) e.param = "n";
      return fail(e);
    }
    j.handle = *h;
  }

  auto s = std::make_shared<Streamer>(ctx, chat, g, id, t0);
  const std::string call_seed = RandomHex(6);
  const bool reasoning = chat && chat_req.reasoning;
  for (size_t p = 0; p < jobs.size(); ++p)
    for (int c = 0; c < g.n; ++c) {
      Choice ch;
      ch.index = static_cast<int>(p) * g.n + c;
      if (chat)
        ch.parser = std::make_unique<ChatOutputParser>(
            reasoning, jobs[p].in_thinking,
            chat_req.tools.is_null() ? ToolFormat::kNone : ctx.tool_format,
            call_seed + std::to_string(ch.index));
      s->choices.push_back(std::move(ch));
    }
  auto jobs_ptr = std::make_shared<std::vector<Job>>(std::move(jobs));
  auto cancel_all = [jobs_ptr] {
    for (Job& j : *jobs_ptr) j.handle.Cancel();
  };
  // Whether a request that fails reports a status of its own (non-stream) or an error event.
  auto first_error = [s]() -> const Status* {
    for (const Choice& c : s->choices)
      if (!c.error.ok()) return &c.error;
    return nullptr;
  };

  if (!g.stream) {
    struct Active {  // shutdown waits for requests being answered
      std::atomic<int>& n;
      explicit Active(std::atomic<int>& a) : n(a) { n.fetch_add(1); }
      ~Active() { n.fetch_sub(1); }
    } active(ctx.active);
    ConnectionWatch watch(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
    s->write = [](const std::string&) { return true; };
    bool alive = true;
    for (size_t p = 0; p < jobs_ptr->size() && alive; ++p)
      alive = s->Run((*jobs_ptr)[p], static_cast<int>(p) * g.n, [&] { return watch.Alive(); });
    if (!alive) {
      cancel_all();
      for (Job& j : *jobs_ptr)  // let the cancellations finish so the KV is freed now
        while (j.handle.Next(std::chrono::seconds(5))) {
        }
      res.status = 499;
      LogRequest(ctx, id, endpoint, 499, s.get(), Since(t0), "client went away");
      return;
    }
    if (const Status* e = first_error()) {
      ApiError ae = ApiError::FromStatus(*e);
      SendError(res, ae);
      LogRequest(ctx, id, endpoint, ae.status, s.get(), Since(t0), e->message());
      return;
    }
    res.set_content(Dump(s->Final()), "application/json");
    LogRequest(ctx, id, endpoint, 200, s.get(), Since(t0), "");
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  ctx.active.fetch_add(1);
  auto watch = std::make_shared<ConnectionWatch>(req.local_addr, req.local_port, req.remote_addr,
                                                 req.remote_port);
  auto completed = std::make_shared<bool>(false);
  res.set_chunked_content_provider(
      "text/event-stream",
      [&ctx, s, jobs_ptr, cancel_all, first_error, id, endpoint, watch, completed, n = g.n](
          size_t, httplib::DataSink& sink) {
        s->write = [&sink](const std::string& data) {
          return sink.write(data.data(), data.size());
        };
        bool alive = true;
        for (size_t p = 0; p < jobs_ptr->size() && alive; ++p)
          alive = s->Run((*jobs_ptr)[p], static_cast<int>(p) * n,
                         [&] { return sink.is_writable() && watch->Alive(); });
        if (alive && s->include_usage) {
          Json j = s->Base();
          j["choices"] = Json::array();
          j["usage"] = s->Usage();
          alive = s->Send(j);
        }
        if (alive) alive = sink.write("data: [DONE]\n\n", 14);
        if (!alive) return false;  // the releaser cancels and logs
        *completed = true;
        const Status* e = first_error();
        LogRequest(ctx, id, endpoint, 200, s.get(), Since(s->t0), e ? e->message() : "");
        sink.done();
        return true;
      },
      // Runs once the response is over, however it ended (also when the client left before the
      // first chunk): a request that did not complete is cancelled and its KV freed now.
      [&ctx, s, jobs_ptr, cancel_all, id, endpoint, completed](bool) {
        if (!*completed) {
          cancel_all();
          for (Job& j : *jobs_ptr)
            while (j.handle.Next(std::chrono::seconds(5))) {
            }
          LogRequest(ctx, id, endpoint, 499, s.get(), Since(s->t0), "client went away");
        }
        ctx.active.fetch_sub(1);
      });
}

void HandleApplyTemplate(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = Json::parse(req.body, nullptr, false);
  if (body.is_discarded())
    return SendError(res, ApiError::BadRequest("the body is not valid JSON"));
  ChatRequest c;
  if (auto e = ParseChatRequest(body, ctx.allow_script, &c)) return SendError(res, *e);
  std::string prompt;
  if (auto e = RenderChat(ctx, c, &prompt)) return SendError(res, *e);
  Json j = Json::object();
  j["prompt"] = prompt;
  res.set_content(Dump(j), "application/json");
}

}  // namespace suanli::server
