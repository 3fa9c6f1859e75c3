// The scheduler over a fake executor whose "model" reads its KV back through the block tables: a
// sequence's next token is a hash of every token at positions 0..p in its blocks, so wrong block
// sharing, a missed position or a reordered step changes the output. Like a worker's BatchRunner,
// it keeps how far each block was written from its first row (a write sets it) and refuses a step
// whose earlier positions are not all there.
#include "runtime/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "model/default_model.h"
#include "model/footprint.h"

namespace suanli::runtime {
namespace {

const Tokenizer& Tok() {
  static std::unique_ptr<Tokenizer> tok = [] {
    auto vocab = EmbeddedVocab();
    EXPECT_TRUE(vocab.ok());
    auto t = Tokenizer::FromGguf(**vocab);
    EXPECT_TRUE(t.ok());
    return std::move(*t);
  }();
  return *tok;
}

class FakeExecutor : public Executor {
 public:
  FakeExecutor(int lanes, int64_t n_blocks, int64_t max_batch, int64_t max_seqs, int depth = 1) {
    for (int i = 0; i < lanes; ++i) {
      LaneInfo l;
      l.name = "fake " + std::to_string(i);
      l.n_blocks = n_blocks;
      l.max_batch = max_batch;
      l.max_seqs = max_seqs;
      l.depth = depth;
      info_.push_back(l);
      kv_.emplace_back(static_cast<size_t>(n_blocks * kKvBlockTokens), -1);
      filled_.emplace_back(static_cast<size_t>(n_blocks), 0);
    }
  }
  int lanes() const override { return static_cast<int>(info_.size()); }
  const LaneInfo& lane(int i) const override { return info_[static_cast<size_t>(i)]; }
  void Submit(int lane, StepBatch batch, std::function<void(StepOutput)> done) override {
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    StepOutput out;
    bool failed = false, hold = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++submitted_;
      const bool lane_fails = fail_lane_next.erase(lane) > 0;
      if (fail_batches.count(submitted_) || lane_fails) {  // the lane broke: nothing computed
        out.id = batch.id;
        out.status = Unavailable("injected: a worker vanished");
        failed = true;
      } else {
        out = Run(lane, batch);
        hold = submitted_ == hold_batch;
      }
      batches_.push_back({lane, batch});
    }
    if (hold) {  // answered only after the next failure, as a result racing a break would be
      held_ = {std::move(done), std::move(out)};
      return;
    }
    done(std::move(out));
    if (failed && held_.first) {
      auto h = std::move(held_);
      held_ = {};
      h.first(std::move(h.second));
    }
  }
  void Shutdown() override {}
  std::vector<DeviceState> Devices() const override { return {}; }
  // A rebuilt lane has lost all its KV.
  Status Recover(int lane, const Status& why) override {
    (void)why;
    ++entered;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard<std::mutex> lock(mu_);
    ++recoveries;
    if (!recover_result.ok()) return recover_result;
    if (unrecoverable.count(lane))
      return Unavailable("no device took over lane " + std::to_string(lane));
    std::fill(kv_[static_cast<size_t>(lane)].begin(), kv_[static_cast<size_t>(lane)].end(), -1);
    std::fill(filled_[static_cast<size_t>(lane)].begin(), filled_[static_cast<size_t>(lane)].end(),
              0);
    return Status::Ok();
  }
  bool CanRecover() const override { return can_recover; }

  // The next submission on `lane` fails as a broken lane.
  void FailNextOnLane(int lane) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_lane_next.insert(lane);
  }
  // The `after`-th submission from now fails as a broken lane.
  void FailSubmission(int after) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_batches.insert(submitted_ + after);
  }
  std::vector<std::pair<int, StepBatch>> batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }
  int32_t fail_token = -1;             // a step feeding this token fails
  std::chrono::microseconds delay{0};  // per batch, so requests overlap in time
  std::set<int> fail_batches;          // these submissions (1-based) fail as a broken lane
  int hold_batch = -1;                 // this submission's answer comes after the next failure
  std::atomic<bool> release{true};     // Recover waits for this
  std::atomic<int> entered{0};         // Recover calls begun
  bool can_recover = false;
  Status recover_result;
  std::set<int> unrecoverable;  // lanes whose Recover fails
  int recoveries = 0;

 private:
  StepOutput Run(int lane, const StepBatch& b) {
    StepOutput out;
    out.id = b.id;
    std::vector<int32_t>& kv = kv_[static_cast<size_t>(lane)];
    for (const SeqStep& s : b.steps) {
      SeqOutput o;
      o.seq = s.seq;
      const int64_t end = s.pos + static_cast<int64_t>(s.tokens.size());
      EXPECT_EQ(static_cast<int64_t>(s.blocks.size()), KvBlocksFor(end));
      auto at = [&](int64_t p) -> int32_t& {
        return kv[static_cast<size_t>(s.blocks[static_cast<size_t>(p / kKvBlockTokens)] *
                                          kKvBlockTokens +
                                      p % kKvBlockTokens)];
      };
      std::vector<int>& filled = filled_[static_cast<size_t>(lane)];
      auto block = [&](int64_t i) { return static_cast<size_t>(s.blocks[static_cast<size_t>(i)]); };
      bool ready = true;
      for (int64_t i = 0; i < s.pos / kKvBlockTokens; ++i)
        ready = ready && filled[block(i)] == kKvBlockTokens;
      if (s.pos % kKvBlockTokens > 0)
        ready = ready && filled[block(s.pos / kKvBlockTokens)] >= s.pos % kKvBlockTokens;
      if (!ready) {
        o.status = InvalidArgument("positions before " + std::to_string(s.pos) +
                                   " of the sequence were never computed");
        out.outputs.push_back(std::move(o));
        continue;
      }
      for (size_t i = 0; i < s.tokens.size(); ++i)
        at(s.pos + static_cast<int64_t>(i)) = s.tokens[i];
      for (int64_t i = s.pos / kKvBlockTokens; i < KvBlocksFor(end); ++i)
        filled[block(i)] = static_cast<int>(std::min(kKvBlockTokens, end - i * kKvBlockTokens));
      uint64_t h = 1469598103934665603ull;
      for (int64_t p = 0; p < end; ++p) {
        EXPECT_GE(at(p), 0) << "position " << p << " never written";
        h = (h ^ static_cast<uint64_t>(at(p) + 7)) * 1099511628211ull;
      }
      if (s.sample) o.sampled.token = static_cast<int32_t>(3 + h % 1000);
      if (s.logits != LogitsWant::kNone) {  // row r: [0] = its position, [1] = the hash
        const int64_t n = static_cast<int64_t>(s.tokens.size());
        const int64_t rows = s.logits == LogitsWant::kAll ? n : 1;
        const size_t vocab = static_cast<size_t>(Tok().n_vocab());
        o.logits.assign(static_cast<size_t>(rows) * vocab, 0.0f);
        for (int64_t r = 0; r < rows; ++r) {
          o.logits[static_cast<size_t>(r) * vocab] = static_cast<float>(end - rows + r);
          o.logits[static_cast<size_t>(r) * vocab + 1] = static_cast<float>(h % 100000);
        }
      }
      for (int32_t t : s.tokens)
        if (t == fail_token) o.status = Internal("injected failure");
      out.outputs.push_back(std::move(o));
    }
    return out;
  }

  std::vector<LaneInfo> info_;
  std::vector<std::vector<int32_t>> kv_;
  std::vector<std::vector<int>> filled_;  // [lane][block] rows written from the first
  std::set<int> fail_lane_next;
  int submitted_ = 0;
  std::pair<std::function<void(StepOutput)>, StepOutput> held_;
  std::mutex mu_;
  std::vector<std::pair<int, StepBatch>> batches_;
};

struct Result {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<FinishReason> reasons;
  std::vector<Status> status;
  Usage usage;
  std::string text;
};

Result Collect(RequestHandle h, int n = 1) {
  Result r;
  r.tokens.resize(static_cast<size_t>(n));
  r.reasons.resize(static_cast<size_t>(n));
  r.status.resize(static_cast<size_t>(n));
  while (auto e = h.Next(std::chrono::seconds(20))) {
    if (e->kind == Event::Kind::kToken) {
      r.tokens[static_cast<size_t>(e->choice)].push_back(e->token);
      r.text += e->text;
    } else if (e->kind == Event::Kind::kFinish) {
      r.reasons[static_cast<size_t>(e->choice)] = e->finish;
      r.status[static_cast<size_t>(e->choice)] = e->status;
      r.text += e->text;
    } else if (e->kind == Event::Kind::kDone) {
      r.usage = e->usage;
      return r;
    }
  }
  ADD_FAILURE() << "no kDone event";
  return r;
}

GenerationRequest Req(int64_t n_prompt, int64_t max_tokens, int32_t first = 100) {
  GenerationRequest r;
  for (int64_t i = 0; i < n_prompt; ++i) r.prompt.push_back(first + static_cast<int32_t>(i % 50));
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0;
  return r;
}

SchedulerOptions Opts(int64_t step_tokens = 64, bool prefix = true) {
  SchedulerOptions o;
  o.n_ctx = 256;
  o.step_tokens = step_tokens;
  o.prefix_cache = prefix;
  return o;
}

TEST(Scheduler, GeneratesMaxTokensAndFreesEverything) {
  FakeExecutor ex(1, 64, 64, 4);
  Scheduler s(ex, Tok(), Opts());
  auto h = s.Submit(Req(20, 5));
  ASSERT_TRUE(h.ok());
  Result r = Collect(*h);
  EXPECT_EQ(r.tokens[0].size(), 5u);
  EXPECT_EQ(r.reasons[0], FinishReason::kLength);
  EXPECT_EQ(r.usage.prompt_tokens, 20);
  EXPECT_EQ(r.usage.completion_tokens, 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  SchedulerStats st = s.Stats();
  EXPECT_EQ(st.running, 0);
  EXPECT_EQ(st.kv_blocks_used, 0);  // cached blocks are unused, not used
}

// Continuous batching: a long prompt arriving while others decode is prefilled a chunk per step,
// and every step still carries one token of each decoding sequence.
TEST(Scheduler, ChunkedPrefillDoesNotStallDecoding) {
  FakeExecutor ex(1, 256, 32, 8);
  ex.delay = std::chrono::microseconds(1000);
  Scheduler s(ex, Tok(), Opts(32));
  std::vector<RequestHandle> hs;
  for (int i = 0; i < 3; ++i) hs.push_back(*s.Submit(Req(4, 40, 100 + i)));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto big = s.Submit(Req(200, 2, 300));
  ASSERT_TRUE(big.ok());
  for (auto& h : hs) EXPECT_EQ(Collect(h).tokens[0].size(), 40u);
  Collect(*big);
  int64_t max_rows = 0;
  bool mixed = false;
  for (const auto& [lane, b] : ex.batches()) {
    int64_t rows = 0, decode = 0, prefill = 0;
    for (const SeqStep& st : b.steps) {
      rows += static_cast<int64_t>(st.tokens.size());
      (st.tokens.size() == 1 ? decode : prefill)++;
    }
    max_rows = std::max(max_rows, rows);
    mixed = mixed || (decode > 0 && prefill > 0);
  }
  EXPECT_LE(max_rows, 32);
  EXPECT_TRUE(mixed) << "no step mixed decode tokens with a prompt chunk";
}

// With keys_per_token set, the budget counts cost: a chunk deep in a prompt is shorter, by the
// formula, and the whole prompt is still computed once.
TEST(Scheduler, DeepChunksCostTheirKeys) {
  FakeExecutor ex(1, 256, 64 + 8, 8);
  SchedulerOptions o = Opts(64);
  o.n_ctx = 1024;
  o.keys_per_token = 100;  // a token at position 100 costs 2
  Scheduler s(ex, Tok(), o);
  Result r = Collect(*s.Submit(Req(600, 1)));
  EXPECT_EQ(r.usage.prompt_tokens, 600);
  int64_t pos = 0;
  for (const auto& [lane, b] : ex.batches()) {
    for (const SeqStep& st : b.steps) {
      if (st.pos >= 600) continue;  // the decode step
      EXPECT_EQ(st.pos, pos);
      const int64_t m = static_cast<int64_t>(st.tokens.size());
      double cost = 0;
      for (int64_t i = 0; i < m; ++i) cost += 1 + static_cast<double>(pos + i) / 100;
      EXPECT_LE(cost, 64.0) << "chunk at " << pos << " of " << m;
      // The longest chunk that fits (unless the prompt ended).
      if (pos + m < 600) {
        EXPECT_GT(cost + 1 + static_cast<double>(pos + m) / 100, 64.0) << pos;
      }
      pos += m;
    }
  }
  EXPECT_EQ(pos, 600);
  // At position 0 a chunk is 1 + i/100 each: 52 tokens fit 64; at 500, 10 tokens (about 6 each).
  EXPECT_GT(ex.batches().size(), 30u);
}

// The same requests with the prefix cache on and off produce the same tokens; with it on, a
// request sharing a 100-token prefix starts computing at the first uncached block.
TEST(Scheduler, PrefixCacheReusesBlocksAndChangesNothing) {
  std::vector<int32_t> a, b;
  for (bool prefix : {false, true}) {
    FakeExecutor ex(1, 64, 64, 4);
    Scheduler s(ex, Tok(), Opts(64, prefix));
    GenerationRequest r1 = Req(100, 8);
    GenerationRequest r2 = Req(100, 8);
    for (int i = 0; i < 7; ++i) r2.prompt.push_back(900 + i);  // a distinct suffix
    Result x = Collect(*s.Submit(r1));
    const size_t before = ex.batches().size();
    Result y = Collect(*s.Submit(r2));
    (prefix ? a : b) = y.tokens[0];
    const auto batches = ex.batches();
    int64_t first_pos = -1;
    for (size_t i = before; i < batches.size() && first_pos < 0; ++i)
      if (!batches[i].second.steps.empty()) first_pos = batches[i].second.steps[0].pos;
    if (prefix) {
      EXPECT_EQ(first_pos, 96);  // 6 whole blocks of the shared 100 tokens
      EXPECT_EQ(y.usage.cached_tokens, 96);
      EXPECT_GT(s.Stats().prefix_hit_blocks, 0u);
    } else {
      EXPECT_EQ(first_pos, 0);
      EXPECT_EQ(y.usage.cached_tokens, 0);
    }
    EXPECT_EQ(x.tokens[0].size(), 8u);
  }
  EXPECT_EQ(a, b);
}

TEST(Scheduler, ChoicesShareThePromptAndDrawIndependently) {
  FakeExecutor ex(1, 64, 64, 8);
  Scheduler s(ex, Tok(), Opts(64, false));  // sharing works without the prefix cache too
  GenerationRequest r = Req(50, 6);
  r.n = 3;
  Result res = Collect(*s.Submit(r), 3);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(res.tokens[static_cast<size_t>(c)].size(), 6u);
  // Only the first choice computed the shared 48 positions; the others started at 48.
  int64_t computed_from_zero = 0;
  std::map<uint64_t, int64_t> first_pos;
  for (const auto& [lane, b] : ex.batches())
    for (const SeqStep& st : b.steps)
      if (!first_pos.count(st.seq)) first_pos[st.seq] = st.pos;
  for (auto& [seq, pos] : first_pos) computed_from_zero += pos == 0;
  EXPECT_EQ(computed_from_zero, 1);
  EXPECT_EQ(first_pos.size(), 3u);
}

TEST(Scheduler, CancelEndsTheRequestAndFreesItsBlocks) {
  FakeExecutor ex(1, 64, 64, 4);
  ex.delay = std::chrono::microseconds(2000);  // 250 steps take longer than the cancel
  Scheduler s(ex, Tok(), Opts());
  auto h = s.Submit(Req(10, -1));  // until the context is full
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->Next(std::chrono::seconds(5)));
  h->Cancel();
  Result r = Collect(*h);
  EXPECT_EQ(r.reasons[0], FinishReason::kCancelled);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(s.Stats().running, 0);
  EXPECT_EQ(s.Stats().kv_blocks_used, 0);
}

TEST(Scheduler, ContextFullAndBadRequests) {
  FakeExecutor ex(1, 64, 64, 4);
  Scheduler s(ex, Tok(), Opts());
  Result r = Collect(*s.Submit(Req(250, -1)));
  EXPECT_EQ(r.reasons[0], FinishReason::kContextFull);
  EXPECT_EQ(r.tokens[0].size(), 7u);  // positions 250..255 fed, and the last draw
  EXPECT_EQ(s.Submit(Req(0, 1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Submit(Req(257, 1)).status().code(), StatusCode::kOutOfRange);
  GenerationRequest bad = Req(5, 1);
  bad.prompt[2] = 1 << 30;
  EXPECT_EQ(s.Submit(bad).status().code(), StatusCode::kInvalidArgument);
  GenerationRequest many = Req(5, 1);
  many.n = 5;  // more than 4 sequences at once
  EXPECT_EQ(s.Submit(many).status().code(), StatusCode::kInvalidArgument);
}

TEST(Scheduler, StopStringsAndFailures) {
  FakeExecutor ex(1, 64, 64, 4);
  Scheduler s(ex, Tok(), Opts());
  // Learn the text of an undisturbed run, then stop at a piece of it.
  Result full = Collect(*s.Submit(Req(8, 12)));
  ASSERT_GT(full.text.size(), 6u);
  GenerationRequest r = Req(8, 12);
  const std::string stop = full.text.substr(full.text.size() / 2, 3);
  r.stop = {stop};
  Result cut = Collect(*s.Submit(r));
  EXPECT_EQ(cut.reasons[0], FinishReason::kStop);
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  // A step that fails ends its request with the error; others go on.
  ex.fail_token = full.tokens[0][2];
  Result failed = Collect(*s.Submit(Req(8, 12)));
  EXPECT_EQ(failed.reasons[0], FinishReason::kError);
  EXPECT_FALSE(failed.status[0].ok());
  ex.fail_token = -1;
  EXPECT_EQ(Collect(*s.Submit(Req(9, 3))).tokens[0].size(), 3u);
}

TEST(Scheduler, QueueBoundAndShutdown) {
  FakeExecutor ex(1, 16, 64, 1);  // room for one request at a time
  ex.delay = std::chrono::microseconds(2000);
  SchedulerOptions o = Opts();
  o.max_queue = 2;
  Scheduler s(ex, Tok(), o);
  std::vector<RequestHandle> hs;
  int refused = 0;
  for (int i = 0; i < 8; ++i) {
    auto h = s.Submit(Req(100, -1));
    if (h.ok())
      hs.push_back(*h);
    else
      refused += h.status().code() == StatusCode::kResourceExhausted;
  }
  EXPECT_GT(refused, 0);
  s.Shutdown(0.05);
  for (auto& h : hs) {
    Result r = Collect(h);
    EXPECT_EQ(r.reasons[0], FinishReason::kError);
    EXPECT_EQ(r.status[0].code(), StatusCode::kUnavailable);
  }
  EXPECT_EQ(s.Submit(Req(5, 1)).status().code(), StatusCode::kUnavailable);
}

// A pipeline lane (depth 2): the decoding sequences are split between two batches in flight.
TEST(Scheduler, DeepLanesGetSeveralBatchesInFlight) {
  FakeExecutor ex(1, 128, 64, 8, /*depth=*/2);
  Scheduler s(ex, Tok(), Opts());
  std::vector<RequestHandle> hs;
  for (int i = 0; i < 6; ++i) hs.push_back(*s.Submit(Req(4, 10, 100 + i)));
  for (auto& h : hs) EXPECT_EQ(Collect(h).tokens[0].size(), 10u);
  size_t most = 0;  // decode batches (one token per step)
  for (const auto& [lane, b] : ex.batches()) {
    bool decode = !b.steps.empty();
    for (const SeqStep& st : b.steps) decode = decode && st.tokens.size() == 1;
    if (decode) most = std::max(most, b.steps.size());
  }
  EXPECT_EQ(most, 3u);
}

// A lane that breaks (a pool losing a worker) is rebuilt with empty KV and every sequence on it is
// replayed: the outputs are those of an undisturbed run (the fake's tokens hash every position
// in the blocks, so a position not replayed or replayed wrong would show), including choices
// sharing a prompt and a prompt found in the prefix cache.
TEST(Scheduler, RecoveryReplaysEverySequenceAndChangesNothing) {
  std::vector<std::vector<int32_t>> want, got;
  for (bool disturbed : {false, true}) {
    FakeExecutor ex(1, 64, 64, 8);
    ex.delay = std::chrono::microseconds(300);
    if (disturbed) {
      ex.fail_batches = {4, 5, 16};  // mid-prefill, right after, and mid-decode
      ex.can_recover = true;
    }
    Scheduler s(ex, Tok(), Opts(32));
    Collect(*s.Submit(Req(40, 4)));  // leaves 2 blocks in the prefix cache
    GenerationRequest a = Req(40, 20);
    a.prompt.push_back(777);
    GenerationRequest b = Req(70, 15, 300);
    b.n = 2;
    b.sampling.temperature = 0.9f;
    b.sampling.seed = 3;
    auto ha = s.Submit(a), hb = s.Submit(b);
    ASSERT_TRUE(ha.ok() && hb.ok());
    Result ra = Collect(*ha), rb = Collect(*hb, 2);
    auto& out = disturbed ? got : want;
    out = {ra.tokens[0], rb.tokens[0], rb.tokens[1]};
    for (const Result* r : {&ra, &rb})
      for (size_t c = 0; c < r->reasons.size(); ++c) {
        EXPECT_EQ(r->reasons[c], FinishReason::kLength) << r->status[c].message();
      }
    if (disturbed) {
      EXPECT_EQ(ex.recoveries, 3);
      EXPECT_EQ(s.Stats().recoveries, 3u);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(s.Stats().kv_blocks_used, 0);
  }
  EXPECT_EQ(got, want);
}

// A batch that succeeded on the lane before it broke, answered after the failure (the results
// thread racing the heartbeat), must not count: its blocks are not on the rebuilt lane, so a
// request arriving meanwhile must not find them in the prefix cache (the fake's model then reads
// positions nobody wrote), and the replay computes them again.
TEST(Scheduler, RecoveryIgnoresAnswersFromBeforeTheBreak) {
  FakeExecutor ex(1, 64, 64, 4, /*depth=*/2);
  ex.hold_batch = 2;  // prompt chunk 16..32, answered after chunk 32..48 fails
  ex.fail_batches = {3};
  ex.can_recover = true;
  ex.release = false;
  Scheduler s(ex, Tok(), Opts(16));
  GenerationRequest a = Req(60, 6);
  auto ha = s.Submit(a);
  ASSERT_TRUE(ha.ok());
  for (int i = 0; i < 2000 && ex.entered == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(ex.entered, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the late answer is handled
  GenerationRequest c = Req(60, 6);                            // the same prompt
  auto hc = s.Submit(c);
  ASSERT_TRUE(hc.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // c is admitted
  ex.release = true;
  Result ra = Collect(*ha), rc = Collect(*hc);
  EXPECT_EQ(ra.reasons[0], FinishReason::kLength) << ra.status[0].message();
  EXPECT_EQ(ra.tokens, rc.tokens);
  EXPECT_EQ(rc.usage.cached_tokens, 0);  // nothing valid was cached when c arrived
}

// Prompt logits a request already received are not sent again by the replay.
TEST(Scheduler, RecoveryDoesNotRepeatPromptLogits) {
  FakeExecutor ex(1, 64, 64, 4);
  ex.fail_batches = {3};
  ex.can_recover = true;
  Scheduler s(ex, Tok(), Opts(16));
  GenerationRequest r = Req(60, 3);
  r.logits = LogitsWant::kAll;
  auto h = s.Submit(r);
  ASSERT_TRUE(h.ok());
  std::vector<int> positions;
  const size_t vocab = static_cast<size_t>(Tok().n_vocab());
  int tokens = 0;
  while (auto e = h->Next(std::chrono::seconds(20))) {
    if (e->kind == Event::Kind::kPromptLogits)
      for (size_t i = 0; i < e->logits.size(); i += vocab)
        positions.push_back(static_cast<int>(e->logits[i]));
    if (e->kind == Event::Kind::kToken) ++tokens;
    if (e->kind == Event::Kind::kDone) break;
  }
  std::vector<int> want(59);  // every prompt position but the last (it starts generation)
  for (int i = 0; i < 59; ++i) want[static_cast<size_t>(i)] = i;
  EXPECT_EQ(positions, want);
  EXPECT_EQ(tokens, 3);
  EXPECT_EQ(ex.recoveries, 1);
}

// Sequences sharing prompt blocks (a prefix-cache hit) are replayed by one of them: the other
// waits for it, so the replay never writes a shared block twice. Without that, the second
// sequence's shorter chunk rewrote the first's block and the worker found the first's next step
// reading rows it no longer counted as written (the soak's "position 16 ... never computed").
TEST(Scheduler, RecoveryReplaysSharedBlocksOnce) {
  std::vector<std::vector<int32_t>> want, got;
  for (bool disturbed : {false, true}) {
    FakeExecutor ex(1, 64, 64, 4);
    ex.delay = std::chrono::microseconds(300);
    ex.can_recover = true;
    Scheduler s(ex, Tok(), Opts(24));
    auto ha = s.Submit(Req(40, 40));
    ASSERT_TRUE(ha.ok());
    for (int i = 0; i < 2000 && s.Stats().tokens_generated < 3; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    GenerationRequest b = Req(40, 30);  // the same first 40 tokens: two blocks from the cache
    b.prompt.push_back(901);
    auto hb = s.Submit(b);
    ASSERT_TRUE(hb.ok());
    for (int i = 0; i < 2000 && s.Stats().tokens_generated < 8; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (disturbed) ex.FailSubmission(2);  // both decoding
    Result ra = Collect(*ha), rb = Collect(*hb);
    EXPECT_EQ(ra.reasons[0], FinishReason::kLength) << ra.status[0].message();
    EXPECT_EQ(rb.reasons[0], FinishReason::kLength) << rb.status[0].message();
    EXPECT_GT(rb.usage.cached_tokens, 0);
    (disturbed ? got : want) = {ra.tokens[0], rb.tokens[0]};
    if (disturbed) {
      EXPECT_EQ(ex.recoveries, 1);
    }
  }
  EXPECT_EQ(got, want);
}

// A lane that cannot be rebuilt hands its sequences to another lane with room; they replay there
// and finish with the undisturbed output.
TEST(Scheduler, SequencesOfADeadLaneMoveToAnother) {
  std::vector<std::vector<int32_t>> want, got;
  for (bool disturbed : {false, true}) {
    FakeExecutor ex(2, 64, 64, 4);
    ex.delay = std::chrono::microseconds(300);
    ex.can_recover = true;
    ex.unrecoverable = {0};
    Scheduler s(ex, Tok(), Opts(32));
    auto ha = s.Submit(Req(40, 30)), hb = s.Submit(Req(35, 30, 200));
    ASSERT_TRUE(ha.ok() && hb.ok());
    for (int i = 0; i < 2000 && s.Stats().tokens_generated < 6; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (disturbed) ex.FailNextOnLane(0);
    Result ra = Collect(*ha), rb = Collect(*hb);
    EXPECT_EQ(ra.reasons[0], FinishReason::kLength) << ra.status[0].message();
    EXPECT_EQ(rb.reasons[0], FinishReason::kLength) << rb.status[0].message();
    (disturbed ? got : want) = {ra.tokens[0], rb.tokens[0]};
    if (disturbed) {
      EXPECT_EQ(s.Stats().lanes_dead, 1);
      // New requests go to the lane that runs.
      Result later = Collect(*s.Submit(Req(10, 3)));
      EXPECT_EQ(later.reasons[0], FinishReason::kLength) << later.status[0].message();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(s.Stats().kv_blocks_used, 0);
  }
  EXPECT_EQ(got, want);
}

// When the lane cannot be rebuilt, its requests end with the executor's retryable error, and so
// do later ones (no lane is left to run them).
TEST(Scheduler, FailedRecoveryEndsRequestsRetryably) {
  FakeExecutor ex(1, 64, 64, 4);
  ex.fail_batches = {3};
  ex.can_recover = true;
  ex.recover_result = Unavailable("no device took over");
  Scheduler s(ex, Tok(), Opts(16));
  Result r = Collect(*s.Submit(Req(60, 5)));
  EXPECT_EQ(r.reasons[0], FinishReason::kError);
  EXPECT_EQ(r.status[0].code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status[0].message().find("no device took over"), std::string::npos);
  Result later = Collect(*s.Submit(Req(10, 2)));
  EXPECT_EQ(later.status[0].code(), StatusCode::kUnavailable);
  // What /health reports: every lane is dead.
  const SchedulerStats st = s.Stats();
  EXPECT_EQ(st.lanes, 1);
  EXPECT_EQ(st.lanes_dead, 1);
  EXPECT_EQ(st.lanes_recovering, 0);
}

// An executor that cannot recover ends the lane's requests with the failure, as before.
TEST(Scheduler, BrokenLaneWithoutRecoveryFails) {
  FakeExecutor ex(1, 64, 64, 4);
  ex.fail_batches = {3};
  Scheduler s(ex, Tok(), Opts(16));
  Result r = Collect(*s.Submit(Req(60, 5)));
  EXPECT_EQ(r.reasons[0], FinishReason::kError);
  EXPECT_EQ(ex.recoveries, 0);
  EXPECT_EQ(Collect(*s.Submit(Req(10, 2))).tokens[0].size(), 2u);  // the lane still runs
}

}  // namespace
}  // namespace suanli::runtime
