// A generation request to the runtime, the events it produces, and the handle its owner reads
// them from (the server's HTTP thread, the CLI's main thread).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/batch.h"
#include "engine/sampler.h"
#include "suanli/status.h"

namespace suanli::runtime {

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids (at least one)
  int64_t max_tokens = -1;      // < 0: until the context is full; 0: only process the prompt
  SamplerParams sampling;       // choice i draws with seed + i
  int n = 1;                    // choices sharing the prompt (and its KV)
  bool ignore_eos = false;
  std::vector<std::string> stop;  // stop strings (never part of the output)
  // Logits back with the events (eval): kAll gives every prompt row and then one row per step.
  LogitsWant logits = LogitsWant::kNone;
  // Feed these instead of the drawn tokens, one per step (teacher forcing); the events still
  // report what was drawn.
  std::vector<int32_t> forced;
  // The events report the forced tokens instead of the drawn ones (a scripted reply, for tests).
  bool emit_forced = false;
  std::string tag;  // names the request in logs ("req-12")
};

enum class FinishReason {
  kStop,         // an end-of-generation token or a stop string
  kLength,       // max_tokens
  kContextFull,  // the context holds no more tokens
  kCancelled,
  kError,
};
const char* FinishReasonName(FinishReason r);  // "stop", "length", "length", "cancelled", "error"

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // prompt positions reused from the prefix cache (or shared)
  int64_t completion_tokens = 0;
};

struct Event {
  enum class Kind {
    kPromptLogits,  // logits rows of prompt tokens (LogitsWant::kAll), in order
    kToken,         // a generated token: its text delta (possibly empty) and sample
    kFinish,        // a choice ended (reason, remaining text, error)
    kDone,          // every choice ended: usage; the last event
  };
  Kind kind = Kind::kToken;
  int choice = 0;
  int32_t token = -1;
  std::string text;
  SampleResult sampled;
  std::vector<float> logits;
  FinishReason finish = FinishReason::kStop;
  std::string stop_matched;
  Status status;       // kFinish with kError / kCancelled
  Usage usage;         // kDone
  double seconds = 0;  // since submission
};

// Shared between the scheduler and the handle.
struct RequestState {
  uint64_t id = 0;
  GenerationRequest req;
  std::chrono::steady_clock::time_point submitted;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> events;
  bool done = false;

  std::mutex cancel_mu;
  bool cancelled = false;
  std::function<void()> wake;  // tells the scheduler to look at cancellations

  void Push(Event e);
};

class RequestHandle {
 public:
  RequestHandle() = default;
  explicit RequestHandle(std::shared_ptr<RequestState> s) : s_(std::move(s)) {}
  // The next event, waiting up to `timeout`; nullopt on timeout or after kDone was read.
  std::optional<Event> Next(std::chrono::milliseconds timeout = std::chrono::hours(24));
  // Ends the request at the scheduler's next step (its choices finish with kCancelled).
  void Cancel();
  uint64_t id() const { return s_ ? s_->id : 0; }
  bool valid() const { return s_ != nullptr; }

 private:
  std::shared_ptr<RequestState> s_;
  bool finished_ = false;
};

}  // namespace suanli::runtime
