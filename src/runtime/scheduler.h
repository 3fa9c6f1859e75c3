// Scheduler: continuous batching over an Executor's lanes.
//
// Requests wait in a bounded queue until a lane can hold them (its sequence slots, and KV blocks
// for the whole prompt plus max_tokens — reserved at admission, so nothing running ever stalls
// for memory). Every step, each lane gets one batch holding one token of every decoding sequence
// that is not waiting for a result, then chunks of prompts in admission order up to the step's
// token budget — so a 2,000-token prompt is prefilled a chunk per step while the other streams
// keep producing a token per step. Sequences join and leave between steps. A prompt's full
// blocks that another sequence (finished or running) already computed are reused from the prefix
// cache instead of being computed again; n > 1 choices share their prompt's blocks.
//
// When a lane's batch fails with a retryable code and the executor can recover (a pool that lost
// a worker), the lane pauses while the executor rebuilds it; its sequences keep their tokens and
// blocks and are replayed from position 0 once it runs again (the prefix cache of that lane is
// forgotten: its KV is gone). The sampler draws from (seed, position) and sees the same tokens, so
// greedy and seeded outputs continue as if nothing happened; rows a request already received
// (prompt logits) are not sent twice. If the lane cannot be rebuilt, its sequences end with the
// executor's retryable error, unless another lane has room for them: they move there and replay.
//
// One thread owns all state; requests, executor results and cancellations reach it through an
// inbox. Events go to each request's handle (runtime/request.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "model/hparams.h"
#include "runtime/executor.h"
#include "runtime/kv_blocks.h"
#include "runtime/request.h"
#include "runtime/text_stream.h"

namespace suanli::runtime {

struct SchedulerOptions {
  int64_t n_ctx = 4096;  // positions one sequence may use
  // Tokens per batch: every decoding sequence's next token, then prompt chunks up to this many
  // tokens in all (decoding tokens are never held back by it).
  int64_t step_tokens = 512;
  // A prompt token at position p costs 1 + p / keys_per_token of the budget: its attention reads
  // p keys, and this many keys cost about what one token's matrix products do
  // (AttentionKeysPerToken). So a chunk deep in a long prompt is shorter, and a step's time, not
  // its token count, stays bounded for the streams decoding beside it. 0: count tokens only.
  double keys_per_token = 0;
  size_t max_queue = 64;  // requests waiting for room; more are refused (retryable)
  bool prefix_cache = true;
};

struct SchedulerStats {
  int64_t waiting = 0;
  int64_t running = 0;  // sequences
  int64_t kv_blocks_used = 0, kv_blocks_total = 0, kv_blocks_cached = 0;
  uint64_t prefix_lookup_blocks = 0, prefix_hit_blocks = 0;
  uint64_t batches = 0, steps = 0, prompt_tokens_computed = 0, tokens_generated = 0;
  uint64_t requests_done = 0;
  int64_t lanes = 0, lanes_recovering = 0, lanes_dead = 0;  // dead: could not be rebuilt
  uint64_t recoveries = 0;                                  // lanes rebuilt after a lost device
  double last_recovery_seconds = 0;                         // failure seen → lane running again
  double last_recovery_next_token_s = 0;  // lane running again → next token of a replayed stream
};

// Keys of attention that cost about one token's matrix products in a forward pass of `hp`:
// the weights' multiply-adds per token over attention's per key (scores and values, every query
// head), divided by how much slower attention's f32 multiply-adds run than the quantized products.
// The 10x is an estimate from bench/serve on Zen 4 (with a token budget, a 128-token chunk near
// position 2,000 stalled the other streams about 2.5x as long as a chunk at the start).
double AttentionKeysPerToken(const HParams& hp);

class Scheduler {
 public:
  Scheduler(Executor& executor, const Tokenizer& tokenizer, SchedulerOptions opts);
  ~Scheduler();

  // Errors: a bad request (empty prompt, ids outside the vocabulary, longer than the context, or
  // needing more KV than a lane has: kInvalidArgument / kOutOfRange), a full queue
  // (kResourceExhausted, retryable), shutting down (kUnavailable).
  StatusOr<RequestHandle> Submit(GenerationRequest r);
  SchedulerStats Stats() const;
  // Refuses new requests, lets running ones finish for up to grace_seconds, then ends the rest
  // with kUnavailable; returns when the scheduler thread has stopped.
  void Shutdown(double grace_seconds);

 private:
  struct Seq;
  struct Lane;
  struct ReqInfo;
  struct Sent {
    uint64_t seq;
    int64_t begin;  // the step's first position
    int64_t end;    // position after the step
    bool sample;
    bool prompt_rows;  // logits rows of prompt positions (kPromptLogits)
  };

  void Loop();
  void HandleOutput(int lane, const StepOutput& out);
  // Pauses lane `li` and rebuilds it on a thread (false: this failure cannot be recovered).
  bool StartRecovery(int li, const Status& why);
  void FinishRecovery(int li, const Status& result);
  // A sequence of a lane that could not be rebuilt goes to another lane with room.
  bool MoveToAnotherLane(Seq& s);
  void CheckCancellations();
  void Admit();
  bool TryAdmit(const std::shared_ptr<RequestState>& st);
  void Launch(int lane);
  void OnSampled(Seq& s, const SeqOutput& o);
  void Finish(Seq& s, FinishReason reason, Status status = Status::Ok());
  void Retire(uint64_t seq_id);
  void Reap();  // retires finished sequences with no step in flight
  void RegisterFull(Seq& s);
  bool Eligible(Seq& s);
  void EndWaiting(const std::shared_ptr<RequestState>& st, Status why);
  void PublishStats();
  int64_t BlocksNeeded(const GenerationRequest& r) const;

  Executor& ex_;
  const Tokenizer& tok_;
  SchedulerOptions opts_;

  std::vector<std::unique_ptr<Lane>> lanes_;
  std::map<uint64_t, std::unique_ptr<Seq>> seqs_;
  std::map<uint64_t, std::unique_ptr<ReqInfo>> reqs_;
  std::deque<std::shared_ptr<RequestState>> waiting_;
  uint64_t next_seq_ = 1, next_batch_ = 1;
  int64_t total_seqs_ = 0;  // sequence slots over all lanes
  SchedulerStats counters_;

  mutable std::mutex mu_;  // inbox, stats, stopping
  std::condition_variable cv_;
  std::deque<std::shared_ptr<RequestState>> inbox_reqs_;
  std::deque<std::pair<int, StepOutput>> inbox_outputs_;
  std::deque<std::pair<int, Status>> inbox_recovered_;
  std::vector<std::thread> recoveries_;
  bool poke_ = false;
  bool draining_ = false;
  bool stop_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  SchedulerStats published_;
  std::atomic<uint64_t> next_request_{1};
  std::thread thread_;
};

}  // namespace suanli::runtime
