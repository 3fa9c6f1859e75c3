#include "runtime/scheduler.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "model/footprint.h"

namespace suanli::runtime {

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
    case FinishReason::kContextFull:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "?";
}

void RequestState::Push(Event e) {
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - submitted).count();
  {
    std::lock_guard<std::mutex> lock(mu);
    if (e.kind == Event::Kind::kDone) done = true;
    events.push_back(std::move(e));
  }
  cv.notify_all();
}

std::optional<Event> RequestHandle::Next(std::chrono::milliseconds timeout) {
  if (!s_ || finished_) return std::nullopt;
  std::unique_lock<std::mutex> lock(s_->mu);
  if (!s_->cv.wait_for(lock, timeout, [&] { return !s_->events.empty(); })) return std::nullopt;
  Event e = std::move(s_->events.front());
  s_->events.pop_front();
  if (e.kind == Event::Kind::kDone) finished_ = true;
  return e;
}

void RequestHandle::Cancel() {
  if (!s_) return;
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(s_->cancel_mu);
    s_->cancelled = true;
    wake = s_->wake;
  }
  if (wake) wake();
}

// ---- scheduler state ---------------------------------------------------------------------------

struct Scheduler::Lane {
  LaneInfo info;
  KvBlocks blocks;
  bool recovering = false;  // paused while the executor rebuilds it
  bool dead = false;        // could not be rebuilt: takes no more requests
  Status dead_why;
  std::chrono::steady_clock::time_point failed_at, recovered_at;
  bool await_first_token = false;  // measure recovered_at → the next token
  int inflight = 0;
  int64_t running = 0;  // sequences admitted here
  std::vector<uint64_t> ended;
  // In flight, with the lane's epoch when sent: a recovery starts a new epoch, and an answer
  // from before it (a success racing the failure) must not count for the replayed sequences.
  uint64_t epoch = 0;
  std::map<uint64_t, std::pair<uint64_t, std::vector<Sent>>> batches;
  // A lane with sliding-window rings shares no prefixes: the window before a shared prefix's end
  // is in no sequence's ring (engine/batch_runner.h).
  Lane(const LaneInfo& i, bool prefix) : info(i), blocks(i.n_blocks, prefix && !i.kv.ring()) {}
};

struct Scheduler::ReqInfo {
  std::shared_ptr<RequestState> st;
  std::vector<uint64_t> seqs;
  int open = 0;
  Usage usage;
  int lane = 0;
};

struct Scheduler::Seq {
  uint64_t id = 0;
  ReqInfo* req = nullptr;
  int choice = 0;
  int lane = 0;
  std::vector<int32_t> tokens;  // the context: prompt, then every token fed after it
  int64_t n_prompt = 0;
  int64_t n_sent = 0;        // positions sent to the executor
  int64_t n_done = 0;        // positions computed
  int64_t n_registered = 0;  // leading blocks known to the prefix cache
  std::vector<int32_t> blocks;
  int64_t reserved = 0;   // blocks promised but not yet taken
  int inflight = 0;       // steps in flight
  bool awaiting = false;  // a sample step in flight
  bool sampler_sent = false;
  bool finished = false;
  uint64_t parent = 0;  // n > 1: share this sequence's prompt blocks once they are computed
  int64_t share = 0;    // positions to share
  // A replay: the shared blocks are already this sequence's (parent recomputes them; this one
  // skips them once they are there instead of writing them a second time).
  bool holds_share = false;
  int64_t generated = 0;
  int64_t replay_end = 0;  // positions computed before a lane recovery (their rows were sent)
  TextStream text;
};

Scheduler::Scheduler(Executor& executor, const Tokenizer& tokenizer, SchedulerOptions opts)
    : ex_(executor), tok_(tokenizer), opts_(opts) {
  for (int i = 0; i < ex_.lanes(); ++i) {
    lanes_.push_back(std::make_unique<Lane>(ex_.lane(i), opts_.prefix_cache));
    total_seqs_ += ex_.lane(i).max_seqs;
  }
  PublishStats();
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() { Shutdown(0); }

int64_t Scheduler::BlocksNeeded(const GenerationRequest& r) const {
  // Generating m tokens feeds m - 1 of them back; the context caps it.
  const int64_t n_prompt = static_cast<int64_t>(r.prompt.size());
  const int64_t fed =
      r.max_tokens < 0 ? opts_.n_ctx
                       : std::min(opts_.n_ctx, n_prompt + std::max<int64_t>(0, r.max_tokens - 1));
  return KvBlocksFor(std::max(fed, n_prompt)) * r.n;
}

StatusOr<RequestHandle> Scheduler::Submit(GenerationRequest r) {
  const int64_t n_prompt = static_cast<int64_t>(r.prompt.size());
  if (n_prompt == 0) return InvalidArgument("the prompt is empty (no tokens to start from)");
  SL_RETURN_IF_ERROR(CheckTokenIds(r.prompt, tok_.n_vocab()));
  SL_RETURN_IF_ERROR(CheckTokenIds(r.forced, tok_.n_vocab(), "forced token id"));
  if (n_prompt > opts_.n_ctx)
    return OutOfRange("the prompt has " + std::to_string(n_prompt) +
                      " tokens but the context holds " + std::to_string(opts_.n_ctx));
  if (r.n < 1) return InvalidArgument("n must be at least 1");
  int64_t most_seqs = 0, most_blocks = 0;
  for (const auto& l : lanes_) {
    most_seqs = std::max(most_seqs, l->info.max_seqs);
    most_blocks = std::max(most_blocks, l->info.n_blocks);
  }
  if (r.n > most_seqs)
    return InvalidArgument("n = " + std::to_string(r.n) + " choices, but at most " +
                           std::to_string(most_seqs) + " sequences run at once");
  if (BlocksNeeded(r) > most_blocks)
    return InvalidArgument("the request needs " + std::to_string(BlocksNeeded(r) * kKvBlockTokens) +
                           " KV positions but the cache holds " +
                           std::to_string(most_blocks * kKvBlockTokens));
  auto st = std::make_shared<RequestState>();
  st->id = next_request_++;
  st->req = std::move(r);
  st->submitted = std::chrono::steady_clock::now();
  st->wake = [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      poke_ = true;
    }
    cv_.notify_all();
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_ || stop_) return Unavailable("the server is shutting down");
    // Requests not yet admitted may fill the free sequence slots, and then the queue.
    const int64_t free_slots = std::max<int64_t>(0, total_seqs_ - published_.running);
    if (static_cast<int64_t>(published_.waiting + inbox_reqs_.size()) >=
        static_cast<int64_t>(opts_.max_queue) + free_slots)
      return ResourceExhausted("the queue is full (" + std::to_string(opts_.max_queue) +
                               " requests waiting)");
    inbox_reqs_.push_back(st);
  }
  cv_.notify_all();
  return RequestHandle(st);
}

SchedulerStats Scheduler::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return published_;
}

void Scheduler::Shutdown(double grace_seconds) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) return;
    if (!draining_) {
      draining_ = true;
      drain_deadline_ = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000));
    }
  }
  cv_.notify_all();
  thread_.join();
  for (std::thread& t : recoveries_) t.join();
  recoveries_.clear();
}

void Scheduler::PublishStats() {
  SchedulerStats s = counters_;
  s.waiting = static_cast<int64_t>(waiting_.size());
  s.running = static_cast<int64_t>(seqs_.size());
  for (const auto& l : lanes_) {
    ++s.lanes;
    s.lanes_recovering += l->recovering ? 1 : 0;
    s.lanes_dead += l->dead ? 1 : 0;
    s.kv_blocks_used += l->blocks.used();
    s.kv_blocks_total += l->blocks.n_blocks();
    s.kv_blocks_cached += l->blocks.cached_unused();
    s.prefix_lookup_blocks += l->blocks.stats().lookup_blocks;
    s.prefix_hit_blocks += l->blocks.stats().hit_blocks;
  }
  std::lock_guard<std::mutex> lock(mu_);
  published_ = s;
}

// ---- the loop ----------------------------------------------------------------------------------

void Scheduler::Loop() {
  for (;;) {
    std::deque<std::shared_ptr<RequestState>> reqs;
    std::deque<std::pair<int, StepOutput>> outs;
    std::deque<std::pair<int, Status>> recovered;
    bool draining, past_deadline;
    {
      std::unique_lock<std::mutex> lock(mu_);
      reqs.swap(inbox_reqs_);
      outs.swap(inbox_outputs_);
      recovered.swap(inbox_recovered_);
      poke_ = false;
      draining = draining_;
      past_deadline = draining_ && std::chrono::steady_clock::now() >= drain_deadline_;
    }
    for (auto& r : reqs) waiting_.push_back(std::move(r));
    for (auto& [lane, out] : outs) HandleOutput(lane, out);
    // After the outputs: a broken pipeline answered all its batches before its lane came back.
    for (auto& [lane, result] : recovered) FinishRecovery(lane, result);
    CheckCancellations();
    Reap();
    if (draining) {
      while (!waiting_.empty()) {
        EndWaiting(waiting_.front(), Unavailable("the server is shutting down"));
        waiting_.pop_front();
      }
      if (past_deadline) {
        std::vector<Seq*> live;
        for (auto& [id, s] : seqs_)
          if (!s->finished) live.push_back(s.get());
        for (Seq* s : live)
          Finish(*s, FinishReason::kError,
                 Unavailable("the server shut down before this request finished"));
        Reap();
      }
      bool inflight = false;
      for (const auto& l : lanes_) inflight = inflight || l->inflight > 0 || l->recovering;
      if (seqs_.empty() && !inflight) {
        PublishStats();
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        return;
      }
    } else {
      Admit();
    }
    for (size_t i = 0; i < lanes_.size(); ++i) Launch(static_cast<int>(i));
    PublishStats();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(draining ? 10 : 200), [&] {
      return !inbox_reqs_.empty() || !inbox_outputs_.empty() || !inbox_recovered_.empty() ||
             poke_ || (draining_ && !draining);
    });
  }
}

void Scheduler::EndWaiting(const std::shared_ptr<RequestState>& st, Status why) {
  for (int c = 0; c < st->req.n; ++c) {
    Event f;
    f.kind = Event::Kind::kFinish;
    f.choice = c;
    f.finish =
        why.code() == StatusCode::kCancelled ? FinishReason::kCancelled : FinishReason::kError;
    f.status = why;
    st->Push(std::move(f));
  }
  Event d;
  d.kind = Event::Kind::kDone;
  d.usage.prompt_tokens = static_cast<int64_t>(st->req.prompt.size());
  st->Push(std::move(d));
  ++counters_.requests_done;
  std::lock_guard<std::mutex> lock(st->cancel_mu);
  st->wake = nullptr;
}

void Scheduler::CheckCancellations() {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    bool c;
    {
      std::lock_guard<std::mutex> lock((*it)->cancel_mu);
      c = (*it)->cancelled;
    }
    if (c) {
      EndWaiting(*it, Cancelled("cancelled"));
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<uint64_t> cancelled;
  for (auto& [id, r] : reqs_) {
    std::lock_guard<std::mutex> lock(r->st->cancel_mu);
    if (r->st->cancelled) cancelled.push_back(id);
  }
  for (uint64_t id : cancelled) {
    auto it = reqs_.find(id);
    if (it == reqs_.end()) continue;
    const std::vector<uint64_t> ids = it->second->seqs;
    for (uint64_t sid : ids) {
      auto s = seqs_.find(sid);
      if (s != seqs_.end() && !s->second->finished)
        Finish(*s->second, FinishReason::kCancelled, Cancelled("cancelled"));
    }
  }
}

// ---- admission ---------------------------------------------------------------------------------

void Scheduler::Admit() {
  const Lane* alive = nullptr;
  for (const auto& l : lanes_)
    if (!l->dead) alive = l.get();
  if (alive == nullptr) {  // nothing can run them
    for (auto& st : waiting_) EndWaiting(st, lanes_.front()->dead_why);
    waiting_.clear();
    return;
  }
  while (!waiting_.empty()) {
    if (!TryAdmit(waiting_.front())) break;  // first come, first served
    waiting_.pop_front();
  }
}

bool Scheduler::TryAdmit(const std::shared_ptr<RequestState>& st) {
  const GenerationRequest& r = st->req;
  const int64_t n_prompt = static_cast<int64_t>(r.prompt.size());
  // Positions that may come from the cache: whole blocks, leaving at least the last prompt
  // token to compute (its logits start the generation).
  const int64_t shareable_blocks = (n_prompt - 1) / kKvBlockTokens;
  // The lane with room whose cache holds the longest prefix; then the most free blocks.
  int best = -1;
  int64_t best_hit = -1, best_free = -1;
  for (size_t i = 0; i < lanes_.size(); ++i) {
    const Lane& l = *lanes_[i];
    if (l.dead || l.running + r.n > l.info.max_seqs) continue;
    const int64_t h = l.blocks.Match(r.prompt, shareable_blocks);
    if (BlocksNeeded(r) - h > l.blocks.available()) continue;
    if (h > best_hit || (h == best_hit && l.blocks.available() > best_free)) {
      best = static_cast<int>(i);
      best_hit = h;
      best_free = l.blocks.available();
    }
  }
  if (best < 0) return false;
  const std::vector<int32_t> hit =
      lanes_[static_cast<size_t>(best)]->blocks.Lookup(r.prompt, shareable_blocks);
  Lane& lane = *lanes_[static_cast<size_t>(best)];
  const int64_t per_seq = BlocksNeeded(r) / r.n;
  const int64_t reserve = BlocksNeeded(r) - static_cast<int64_t>(hit.size());
  if (!lane.blocks.Reserve(reserve)) {
    // The cached blocks just retained were part of what looked available.
    for (int32_t b : hit) lane.blocks.Release(b);
    return false;
  }
  auto info = std::make_unique<ReqInfo>();
  info->st = st;
  info->lane = best;
  info->open = r.n;
  info->usage.prompt_tokens = n_prompt;
  info->usage.cached_tokens = static_cast<int64_t>(hit.size()) * kKvBlockTokens;
  uint64_t parent = 0;
  for (int c = 0; c < r.n; ++c) {
    auto s = std::make_unique<Seq>();
    s->id = next_seq_++;
    s->req = info.get();
    s->choice = c;
    s->lane = best;
    s->tokens = r.prompt;
    s->n_prompt = n_prompt;
    s->text = TextStream(r.stop);
    if (c == 0) {
      s->blocks = hit;
      s->n_sent = s->n_done = static_cast<int64_t>(hit.size()) * kKvBlockTokens;
      s->n_registered = static_cast<int64_t>(hit.size());
      s->reserved = per_seq - static_cast<int64_t>(hit.size());
      parent = s->id;
    } else {
      s->reserved = per_seq;
      if (!lane.info.kv.ring()) {
        s->parent = parent;
        s->share = shareable_blocks * kKvBlockTokens;
      }
    }
    info->seqs.push_back(s->id);
    ++lane.running;
    seqs_.emplace(s->id, std::move(s));
  }
  reqs_.emplace(st->id, std::move(info));
  return true;
}

// ---- launching batches -------------------------------------------------------------------------

bool Scheduler::Eligible(Seq& s) {
  if (s.finished || s.awaiting || s.n_sent >= static_cast<int64_t>(s.tokens.size())) return false;
  if (s.parent != 0) {
    auto p = seqs_.find(s.parent);
    Seq* par = p == seqs_.end() ? nullptr : p->second.get();
    if (par && !par->finished && par->n_done < s.share) return false;  // not computed yet
    if (par && !par->finished && s.share > 0 && s.holds_share) {
      s.n_sent = s.n_done = s.share;
      s.n_registered = s.share / kKvBlockTokens;
    } else if (par && !par->finished && s.share > 0) {
      // Take the parent's computed prompt blocks.
      Lane& lane = *lanes_[static_cast<size_t>(s.lane)];
      const int64_t nb = s.share / kKvBlockTokens;
      for (int64_t i = 0; i < nb; ++i) {
        const int32_t b = par->blocks[static_cast<size_t>(i)];
        lane.blocks.Retain(b);
        s.blocks.push_back(b);
      }
      lane.blocks.Unreserve(nb);
      s.reserved -= nb;
      s.n_sent = s.n_done = s.share;
      s.n_registered = nb;
    }
    s.parent = 0;
    s.holds_share = false;
  }
  return true;
}

double AttentionKeysPerToken(const HParams& hp) {
  constexpr double kAttentionSlowdown = 10;
  const double per_key = 2.0 * static_cast<double>(hp.q_dim());  // q·k and p·v, every head
  if (per_key <= 0) return 0;
  return static_cast<double>(hp.n_params_per_layer()) / per_key / kAttentionSlowdown;
}

void Scheduler::Launch(int li) {
  Lane& lane = *lanes_[static_cast<size_t>(li)];
  if (lane.recovering || lane.dead) return;
  while (lane.inflight < lane.info.depth) {
    const int64_t budget = std::min(opts_.step_tokens, lane.info.max_batch);
    // Decoding sequences first (a token each), then prompt chunks.
    std::vector<Seq*> decode, prefill;
    for (auto& [id, s] : seqs_) {
      if (s->lane != li || !Eligible(*s)) continue;
      (s->n_sent >= s->n_prompt ? decode : prefill).push_back(s.get());
    }
    // With several batches in flight (a pipeline), split the decoding sequences between them so
    // every stage has work.
    const int64_t free_slots = std::max(1, lane.info.depth - lane.inflight);
    const int64_t max_decode = (static_cast<int64_t>(decode.size()) + free_slots - 1) / free_slots;
    StepBatch batch;
    batch.id = next_batch_++;
    std::vector<Sent> sent;
    int64_t rows = 0, logit_rows = 0;
    // Rows of logits a step of m tokens of `s` returns.
    auto logits_of = [&](const Seq& s, int64_t m) -> int64_t {
      const LogitsWant w = s.req->st->req.logits;
      return w == LogitsWant::kAll ? m : w == LogitsWant::kLast ? 1 : 0;
    };
    auto add = [&](Seq& s, int64_t m) {
      const GenerationRequest& r = s.req->st->req;
      SeqStep step;
      step.seq = s.id;
      step.pos = s.n_sent;
      step.tokens.assign(s.tokens.begin() + s.n_sent, s.tokens.begin() + s.n_sent + m);
      const int64_t end = s.n_sent + m;
      while (static_cast<int64_t>(s.blocks.size()) < KvBlocksFor(end)) {
        SL_CHECK(s.reserved > 0);
        s.blocks.push_back(lane.blocks.Allocate());
        --s.reserved;
      }
      step.blocks.assign(s.blocks.begin(), s.blocks.begin() + KvBlocksFor(end));
      const bool reaches_end = end == static_cast<int64_t>(s.tokens.size());
      step.sample = reaches_end && r.max_tokens != 0;
      if (r.logits == LogitsWant::kAll)
        step.logits = LogitsWant::kAll;
      else if (r.logits == LogitsWant::kLast && step.sample)
        step.logits = LogitsWant::kLast;
      if (!s.sampler_sent) {
        SamplerParams p = r.sampling;
        p.seed += static_cast<uint64_t>(s.choice);
        step.sampler = p;
        const int64_t from = std::max<int64_t>(0, s.n_sent - std::max(0, p.repeat_last_n));
        step.history.assign(s.tokens.begin() + from, s.tokens.begin() + s.n_sent);
        s.sampler_sent = true;
      }
      sent.push_back({s.id, s.n_sent, end, step.sample, s.n_sent < s.n_prompt});
      s.n_sent = end;
      s.awaiting = step.sample;
      ++s.inflight;
      rows += m;
      logit_rows += logits_of(s, m);
      batch.steps.push_back(std::move(step));
    };
    const int64_t max_logits = lane.info.max_logits_rows;
    // Every decoding sequence's token goes in (the budget bounds prompt chunks, not decoding).
    for (Seq* s : decode) {
      if (static_cast<int64_t>(batch.steps.size()) >= std::min(max_decode, lane.info.max_seqs) ||
          rows >= lane.info.max_batch)
        break;
      if (logit_rows + logits_of(*s, 1) > max_logits) continue;
      add(*s, 1);
    }
    // Prompt chunks fill the budget; when decoding alone fills it, prompts still get a small
    // chunk per step so they are never starved.
    const int64_t prompt_room = std::max(budget - rows, std::min<int64_t>(budget, 32));
    // The budget counts cost (keys_per_token), not tokens: the longest chunk from position `pos`
    // whose cost fits `room`, at least one token.
    const double kpt = opts_.keys_per_token;
    auto tokens_for = [&](int64_t pos, double room) -> int64_t {
      if (kpt <= 0) return static_cast<int64_t>(room);
      // Σ_{i<m} (1 + (pos + i) / kpt) <= room, solved for m (a quadratic), then checked.
      const double a = 0.5 / kpt, b = 1 + (pos - 0.5) / kpt;
      int64_t m = static_cast<int64_t>((-b + std::sqrt(b * b + 4 * a * room)) / (2 * a));
      auto cost = [&](int64_t k) { return k + (k * pos + 0.5 * k * (k - 1)) / kpt; };
      while (m > 0 && cost(m) > room) --m;
      return std::max<int64_t>(m, 1);
    };
    double prompt_cost = 0;
    for (Seq* s : prefill) {
      if (static_cast<int64_t>(batch.steps.size()) >= lane.info.max_seqs ||
          prompt_cost >= static_cast<double>(prompt_room) || rows >= lane.info.max_batch)
        break;
      const int64_t left = static_cast<int64_t>(s->tokens.size()) - s->n_sent;
      int64_t m = std::min(
          {left, tokens_for(s->n_sent, prompt_room - prompt_cost), lane.info.max_batch - rows});
      if (s->req->st->req.logits == LogitsWant::kAll) m = std::min(m, max_logits - logit_rows);
      if (m <= 0 || logit_rows + logits_of(*s, m) > max_logits) continue;
      const int64_t pos = s->n_sent;
      add(*s, m);
      prompt_cost += kpt > 0 ? m + (m * pos + 0.5 * m * (m - 1)) / kpt : m;
    }
    if (batch.steps.empty() && lane.ended.empty()) return;
    batch.ended.swap(lane.ended);
    counters_.batches++;
    counters_.steps += batch.steps.size();
    lane.batches.emplace(batch.id, std::make_pair(lane.epoch, std::move(sent)));
    ++lane.inflight;
    ex_.Submit(li, std::move(batch), [this, li](StepOutput out) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        inbox_outputs_.emplace_back(li, std::move(out));
      }
      cv_.notify_all();
    });
  }
}

// ---- results -----------------------------------------------------------------------------------

void Scheduler::RegisterFull(Seq& s) {
  Lane& lane = *lanes_[static_cast<size_t>(s.lane)];
  const int64_t full =
      std::min<int64_t>(s.n_done / kKvBlockTokens, static_cast<int64_t>(s.blocks.size()));
  for (int64_t i = s.n_registered; i < full; ++i)
    lane.blocks.Register(s.blocks[static_cast<size_t>(i)],
                         i > 0 ? s.blocks[static_cast<size_t>(i - 1)] : -1,
                         std::span<const int32_t>(s.tokens).subspan(
                             static_cast<size_t>(i * kKvBlockTokens), kKvBlockTokens));
  s.n_registered = std::max(s.n_registered, full);
}

void Scheduler::HandleOutput(int li, const StepOutput& out) {
  Lane& lane = *lanes_[static_cast<size_t>(li)];
  auto bit = lane.batches.find(out.id);
  if (bit == lane.batches.end()) return;  // not ours (cannot happen with a sane executor)
  const bool stale = bit->second.first != lane.epoch;
  const std::vector<Sent> sent = std::move(bit->second.second);
  lane.batches.erase(bit);
  --lane.inflight;
  for (size_t i = 0; i < sent.size(); ++i) {
    auto it = seqs_.find(sent[i].seq);
    if (it == seqs_.end()) continue;
    Seq& s = *it->second;
    --s.inflight;
    if (stale) continue;  // computed on the lane before it broke: the replay redoes it
    const SeqOutput* o =
        i < out.outputs.size() && out.outputs[i].seq == s.id ? &out.outputs[i] : nullptr;
    Status st = !out.status.ok() ? out.status
                : o == nullptr   ? Internal("the executor answered a different batch")
                                 : o->status;
    if (!s.finished) {
      if (!st.ok()) {
        // A broken pipeline: the lane is rebuilt and this sequence replayed (see the header).
        const bool batch_failed = !out.status.ok();
        if (!(batch_failed && (lane.recovering || StartRecovery(li, out.status))))
          Finish(s, FinishReason::kError, st);
      } else {
        const int64_t begin = s.n_done;
        s.n_done = sent[i].end;
        counters_.prompt_tokens_computed +=
            static_cast<uint64_t>(std::max<int64_t>(0, std::min(s.n_done, s.n_prompt) - begin));
        RegisterFull(s);
        if (sent[i].prompt_rows && !o->logits.empty()) {
          // Rows of prompt positions (eval); the row of the last prompt token travels with the
          // first sampled token below when there is one.
          const size_t vocab = static_cast<size_t>(tok_.n_vocab());
          const int64_t n_rows = static_cast<int64_t>(o->logits.size() / vocab);
          // All but the row that starts generation, and (after a recovery) neither rows the
          // request already has nor rows of generated positions.
          const int64_t prompt_rows =
              std::min(sent[i].sample ? n_rows - 1 : n_rows, s.n_prompt - sent[i].begin);
          const int64_t skip = std::clamp<int64_t>(s.replay_end - sent[i].begin, 0,
                                                   std::max<int64_t>(0, prompt_rows));
          if (prompt_rows > skip) {
            Event e;
            e.kind = Event::Kind::kPromptLogits;
            e.choice = s.choice;
            e.logits.assign(o->logits.begin() + static_cast<std::ptrdiff_t>(skip * vocab),
                            o->logits.begin() + static_cast<std::ptrdiff_t>(prompt_rows * vocab));
            s.req->st->Push(std::move(e));
          }
        }
        if (sent[i].sample) {
          s.awaiting = false;
          OnSampled(s, *o);
        } else if (s.req->st->req.max_tokens == 0 && s.n_done == s.n_prompt) {
          Finish(s, FinishReason::kLength);
        }
      }
    }
  }
}

bool Scheduler::StartRecovery(int li, const Status& why) {
  Lane& lane = *lanes_[static_cast<size_t>(li)];
  if (!ex_.CanRecover() || !IsRetryable(why.code())) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) return false;
  }
  lane.recovering = true;
  ++lane.epoch;
  lane.failed_at = std::chrono::steady_clock::now();
  // The lane's KV is gone: every sequence starts again from position 0 with its own tokens.
  for (auto& [id, s] : seqs_) {
    if (s->lane != li || s->finished) continue;
    s->replay_end = std::max(s->replay_end, s->n_done);
    s->n_sent = s->n_done = 0;
    s->n_registered = 0;
    s->sampler_sent = false;
    s->awaiting = false;
  }
  // Sequences sharing leading blocks (prefix-cache hits, n > 1 choices) replay them once: each
  // waits for the earliest sequence it shares the most with. Two writers would each set the
  // block's written rows to where their own chunk ended, so the longer one's next step would read
  // rows the worker no longer counts as written (and, without batch invariance, change them).
  std::vector<Seq*> live;
  for (auto& [id, s] : seqs_)
    if (s->lane == li && !s->finished) live.push_back(s.get());  // by id: the oldest first
  for (size_t j = 0; j < live.size(); ++j) {
    Seq& s = *live[j];
    if (s.parent != 0) continue;  // a choice still waiting for its parent's blocks
    size_t best = 0, best_run = 0;
    for (size_t k = 0; k < j; ++k) {
      const std::vector<int32_t>& a = live[k]->blocks;
      size_t run = 0;
      while (run < a.size() && run < s.blocks.size() && a[run] == s.blocks[run]) ++run;
      if (run > best_run) best = k, best_run = run;
    }
    if (best_run == 0) continue;
    s.parent = live[best]->id;
    s.share = static_cast<int64_t>(best_run) * kKvBlockTokens;
    s.holds_share = true;
  }
  lane.blocks.Forget();
  lane.ended.clear();  // the new executor lane never saw them
  recoveries_.emplace_back([this, li, why] {
    Status result = ex_.Recover(li, why);
    {
      std::lock_guard<std::mutex> lock(mu_);
      inbox_recovered_.emplace_back(li, std::move(result));
    }
    cv_.notify_all();
  });
  return true;
}

void Scheduler::FinishRecovery(int li, const Status& result) {
  Lane& lane = *lanes_[static_cast<size_t>(li)];
  lane.recovering = false;
  if (result.ok()) {
    ex_.RefreshLane(li);
    const int64_t n_blocks = lane.info.n_blocks;
    lane.info = ex_.lane(li);
    lane.info.n_blocks = n_blocks;  // the scheduler's block ids stay valid
    lane.recovered_at = std::chrono::steady_clock::now();
    lane.await_first_token = true;
    ++counters_.recoveries;
    counters_.last_recovery_seconds =
        std::chrono::duration<double>(lane.recovered_at - lane.failed_at).count();
    return;
  }
  lane.dead = true;
  lane.dead_why = result;
  std::vector<Seq*> live;
  for (auto& [id, s] : seqs_)
    if (s->lane == li && !s->finished) live.push_back(s.get());
  // Another pipeline that still runs takes what it has room for (replayed from position 0 like
  // any recovery); the rest end with the failure.
  for (Seq* s : live)
    if (!MoveToAnotherLane(*s)) Finish(*s, FinishReason::kError, result);
}

bool Scheduler::MoveToAnotherLane(Seq& s) {
  if (s.inflight > 0) return false;  // cannot happen: the broken lane answered every batch
  Lane& from = *lanes_[static_cast<size_t>(s.lane)];
  const int64_t need = static_cast<int64_t>(s.blocks.size()) + s.reserved;  // its whole promise
  int best = -1;
  for (size_t i = 0; i < lanes_.size(); ++i) {
    const Lane& l = *lanes_[i];
    if (static_cast<int>(i) == s.lane || l.dead || l.running + 1 > l.info.max_seqs ||
        l.blocks.available() < need)
      continue;
    if (best < 0 || l.blocks.available() > lanes_[static_cast<size_t>(best)]->blocks.available())
      best = static_cast<int>(i);
  }
  if (best < 0) return false;
  Lane& to = *lanes_[static_cast<size_t>(best)];
  if (!to.blocks.Reserve(need)) return false;
  for (int32_t b : s.blocks) from.blocks.Release(b);
  from.blocks.Unreserve(s.reserved);
  --from.running;
  s.blocks.clear();
  s.reserved = need;
  s.lane = best;
  ++to.running;
  // Its KV is on the lost pipeline: from position 0 on the new one, with its own blocks.
  s.replay_end = std::max(s.replay_end, s.n_done);
  s.n_sent = s.n_done = s.n_registered = 0;
  s.sampler_sent = s.awaiting = false;
  s.parent = 0;
  s.share = 0;
  s.holds_share = false;
  return true;
}

void Scheduler::OnSampled(Seq& s, const SeqOutput& o) {
  const GenerationRequest& r = s.req->st->req;
  Lane& lane = *lanes_[static_cast<size_t>(s.lane)];
  if (lane.await_first_token) {
    lane.await_first_token = false;
    counters_.last_recovery_next_token_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - lane.recovered_at).count();
  }
  const size_t g = static_cast<size_t>(s.generated);  // this token's index in the reply
  const int32_t t = r.emit_forced && g < r.forced.size() ? r.forced[g] : o.sampled.token;
  if (t < 0 || t >= tok_.n_vocab())
    return Finish(
        s, FinishReason::kError,
        Internal("the executor drew token " + std::to_string(t) + ", outside the vocabulary"));
  if (!r.ignore_eos && tok_.IsEndOfGeneration(t)) return Finish(s, FinishReason::kStop);
  ++s.generated;
  ++counters_.tokens_generated;
  ++s.req->usage.completion_tokens;
  Event e;
  e.kind = Event::Kind::kToken;
  e.choice = s.choice;
  e.token = t;
  e.sampled = o.sampled;
  e.text = s.text.Push(tok_.TokenToPiece(t));
  if (!o.logits.empty()) {
    const size_t vocab = static_cast<size_t>(tok_.n_vocab());
    e.logits.assign(o.logits.end() - static_cast<std::ptrdiff_t>(vocab), o.logits.end());
  }
  s.req->st->Push(std::move(e));
  if (s.text.stopped()) return Finish(s, FinishReason::kStop);
  if (r.max_tokens >= 0 && s.generated >= r.max_tokens) return Finish(s, FinishReason::kLength);
  if (static_cast<int64_t>(s.tokens.size()) >= opts_.n_ctx)
    return Finish(s, FinishReason::kContextFull);
  s.tokens.push_back(g < r.forced.size() ? r.forced[g] : t);
}

void Scheduler::Finish(Seq& s, FinishReason reason, Status status) {
  if (s.finished) return;
  s.finished = true;
  ReqInfo& req = *s.req;
  Event f;
  f.kind = Event::Kind::kFinish;
  f.choice = s.choice;
  f.finish = reason;
  f.status = std::move(status);
  if (reason == FinishReason::kStop && s.text.stopped())
    f.stop_matched = s.text.matched();
  else
    f.text = s.text.Flush();
  req.st->Push(std::move(f));
  if (--req.open == 0) {
    Event d;
    d.kind = Event::Kind::kDone;
    d.usage = req.usage;
    req.st->Push(std::move(d));
    ++counters_.requests_done;
  }
}

void Scheduler::Reap() {
  std::vector<uint64_t> gone;
  for (auto& [id, s] : seqs_)
    if (s->finished && s->inflight == 0) gone.push_back(id);
  for (uint64_t id : gone) Retire(id);
}

void Scheduler::Retire(uint64_t seq_id) {
  auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) return;
  Seq& s = *it->second;
  Lane& lane = *lanes_[static_cast<size_t>(s.lane)];
  for (int32_t b : s.blocks) lane.blocks.Release(b);
  lane.blocks.Unreserve(s.reserved);
  --lane.running;
  if (s.sampler_sent) lane.ended.push_back(s.id);
  ReqInfo* req = s.req;
  seqs_.erase(it);
  // The request goes once all its sequences are gone.
  bool any = false;
  for (uint64_t id : req->seqs) any = any || seqs_.count(id);
  if (!any) {
    {
      std::lock_guard<std::mutex> lock(req->st->cancel_mu);
      req->st->wake = nullptr;
    }
    reqs_.erase(req->st->id);
  }
}

}  // namespace suanli::runtime
