#include "engine/batch_runner.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "base/timer.h"
#include "model/footprint.h"

namespace suanli {

BatchRunner::BatchRunner(const Model& model, const BatchRunnerConfig& cfg, ThreadPool& pool)
    : model_(model),
      cfg_(cfg),
      dim_(model.hparams().dim),
      fwd_(model.hparams(), model.weights(), pool, cfg.max_batch, cfg.n_ctx),
      cache_(model.hparams(),
             KvLayoutFor(model.hparams(), cfg.n_blocks, cfg.n_ctx, cfg.max_seqs, cfg.max_batch,
                         cfg.kv_ring),
             cfg.first_layer, cfg.last_layer),
      filled_(static_cast<size_t>(cfg.n_blocks), 0),
      x_(static_cast<size_t>(cfg.max_batch * model.hparams().dim)) {
  if (cfg_.with_output) last_rows_.resize(static_cast<size_t>(cfg.max_seqs * dim_));
  const KvLayout& kv = cache_.layout();
  for (int64_t slot = 0; slot < (kv.ring() ? kv.ring_seqs : 0); ++slot) {
    free_slots_.push_back(static_cast<int>(kv.ring_seqs - 1 - slot));
    std::vector<int32_t> t(static_cast<size_t>(kv.ring_blocks));
    for (int64_t i = 0; i < kv.ring_blocks; ++i)
      t[static_cast<size_t>(i)] = static_cast<int32_t>(slot * kv.ring_blocks + i);
    ring_tables_.push_back(std::move(t));
    ring_pos_.emplace_back(static_cast<size_t>(kv.ring_blocks * kKvBlockTokens), -1);
  }
}

Status BatchRunner::CheckRing(const SeqStep& s, int slot) const {
  const HParams& hp = model_.hparams();
  const int64_t rows = cache_.layout().ring_blocks * kKvBlockTokens;
  const int64_t n = static_cast<int64_t>(s.tokens.size());
  const int64_t lo = std::max<int64_t>(0, s.pos - hp.n_swa + 1);
  if (s.pos + n - lo > rows)
    return InvalidArgument("a step of " + std::to_string(n) + " tokens at position " +
                           std::to_string(s.pos) + " overruns the sliding-window ring of " +
                           std::to_string(rows) + " positions");
  for (int64_t q = lo; q < s.pos; ++q)
    if (slot < 0 || ring_pos_[static_cast<size_t>(slot)][static_cast<size_t>(q % rows)] != q)
      return InvalidArgument("position " + std::to_string(q) +
                             " is not in the sequence's sliding-window ring (a sequence with "
                             "rings starts at position 0)");
  return Status::Ok();
}

void BatchRunner::FreeRing(uint64_t seq) {
  auto it = ring_slot_.find(seq);
  if (it == ring_slot_.end()) return;
  // Nothing the next owner could mistake for its own positions.
  std::vector<int64_t>& pos = ring_pos_[static_cast<size_t>(it->second)];
  std::fill(pos.begin(), pos.end(), -1);
  free_slots_.push_back(it->second);
  ring_slot_.erase(it);
}

Status BatchRunner::Check(const SeqStep& s) const {
  const int64_t n = static_cast<int64_t>(s.tokens.size());
  if (n < 1) return InvalidArgument("a step without tokens");
  if (n > cfg_.max_batch)
    return InvalidArgument(std::to_string(n) + " tokens in one step; at most " +
                           std::to_string(cfg_.max_batch));
  if (s.pos < 0) return InvalidArgument("negative position " + std::to_string(s.pos));
  SL_RETURN_IF_ERROR(CheckFitsContext(s.pos, n, cfg_.n_ctx));
  const int64_t n_vocab = model_.hparams().n_vocab;
  for (int32_t t : s.tokens)
    if (t < 0 || t >= n_vocab)
      return InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                             std::to_string(n_vocab) + ")");
  for (int32_t t : s.history)
    if (t < 0 || t >= n_vocab)
      return InvalidArgument("history token id " + std::to_string(t) +
                             " is outside the vocabulary");
  if (static_cast<int64_t>(s.blocks.size()) != KvBlocksFor(s.pos + n))
    return InvalidArgument("a block table of " + std::to_string(s.blocks.size()) +
                           " blocks for positions up to " + std::to_string(s.pos + n) + " (needs " +
                           std::to_string(KvBlocksFor(s.pos + n)) + ")");
  for (int32_t b : s.blocks)
    if (b < 0 || b >= cfg_.n_blocks)
      return InvalidArgument("KV block " + std::to_string(b) + " does not exist (the pool has " +
                             std::to_string(cfg_.n_blocks) + ")");
  // Every position before pos must hold data: whole blocks before pos's block, and the first
  // pos % B rows of that one.
  const int64_t full = s.pos / kKvBlockTokens, rem = s.pos % kKvBlockTokens;
  for (int64_t i = 0; i < full; ++i)
    if (filled_[static_cast<size_t>(s.blocks[static_cast<size_t>(i)])] < kKvBlockTokens)
      return InvalidArgument("position " + std::to_string(i * kKvBlockTokens) +
                             " of the sequence was never computed (block " +
                             std::to_string(s.blocks[static_cast<size_t>(i)]) + ")");
  if (rem > 0 && filled_[static_cast<size_t>(s.blocks[static_cast<size_t>(full)])] < rem)
    return InvalidArgument("positions before " + std::to_string(s.pos) +
                           " of the sequence were never computed");
  return Status::Ok();
}

void BatchRunner::Run(const StepBatch& batch, std::span<const Status> upstream,
                      std::span<const float> x_in, StepOutput* out) {
  const double t0 = NowSeconds();
  const HParams& hp = model_.hparams();
  const size_t ns = batch.steps.size();
  out->id = batch.id;
  out->status = Status::Ok();
  out->outputs.assign(ns, SeqOutput{});
  rows_out_ = 0;
  // Sequences that ended go first (whatever else the batch holds): a new sequence in this batch
  // may need their room.
  for (uint64_t id : batch.ended) samplers_.erase(id), FreeRing(id);
  auto fail_all = [&](Status s) {
    out->status = s.WithContext(cfg_.label);
    for (size_t i = 0; i < ns; ++i) out->outputs[i].status = out->status;
  };
  if (!upstream.empty() && upstream.size() != ns)
    return fail_all(InvalidArgument("upstream errors for " + std::to_string(upstream.size()) +
                                    " of " + std::to_string(ns) + " steps"));
  if (static_cast<int64_t>(ns) > cfg_.max_seqs)
    return fail_all(InvalidArgument(std::to_string(ns) + " steps in one batch; at most " +
                                    std::to_string(cfg_.max_seqs)));
  // Rows the previous stage sent: one block per step that arrived OK.
  int64_t in_rows = 0;
  for (size_t i = 0; i < ns; ++i)
    if (upstream.empty() || upstream[i].ok())
      in_rows += static_cast<int64_t>(batch.steps[i].tokens.size());
  if (!cfg_.with_embedding && static_cast<int64_t>(x_in.size()) != in_rows * dim_)
    return fail_all(InvalidArgument("activations of " + std::to_string(x_in.size() / dim_) +
                                    " rows for " + std::to_string(in_rows) + " tokens"));

  std::vector<Forward::Slice> slices;
  std::vector<bool> ran(ns, false);
  std::set<uint64_t> seen;
  int64_t row = 0, in_row = 0;
  for (size_t i = 0; i < ns; ++i) {
    const SeqStep& s = batch.steps[i];
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    SeqOutput& o = out->outputs[i];
    o.seq = s.seq;
    const bool arrived = upstream.empty() || upstream[i].ok();
    const int64_t my_in = in_row;
    if (arrived) in_row += n;
    if (!arrived) {
      o.status = upstream[i];
      continue;
    }
    Status st = Check(s);
    if (st.ok() && !seen.insert(s.seq).second)
      st = InvalidArgument("the same sequence twice in one batch");
    if (st.ok() && row + n > cfg_.max_batch)
      st = ResourceExhausted("the batch is over " + std::to_string(cfg_.max_batch) + " rows");
    if (st.ok() && cfg_.with_output && s.sample && !s.sampler && !samplers_.count(s.seq))
      st = FailedPrecondition("a sample step before the sequence's sampler was set up");
    if (st.ok() && cfg_.with_output && s.sampler && !samplers_.count(s.seq) &&
        static_cast<int64_t>(samplers_.size()) >= cfg_.max_seqs)
      st = ResourceExhausted("more than " + std::to_string(cfg_.max_seqs) + " sequences in flight");
    const bool ring = cache_.layout().ring();
    int slot = -1;
    if (ring && st.ok()) {
      auto it = ring_slot_.find(s.seq);
      slot = it == ring_slot_.end() ? -1 : it->second;
      st = CheckRing(s, slot);
      if (st.ok() && slot < 0 && free_slots_.empty())
        st = ResourceExhausted("more than " + std::to_string(cache_.layout().ring_seqs) +
                               " sequences hold sliding-window rings");
    }
    if (!st.ok()) {
      o.status = st.WithContext(cfg_.label);
      continue;
    }
    if (ring && slot < 0) {
      slot = free_slots_.back();
      free_slots_.pop_back();
      ring_slot_[s.seq] = slot;
    }
    float* x = x_.data() + row * dim_;
    if (cfg_.with_embedding)
      fwd_.Embed(s.tokens.data(), n, x);
    else
      std::memcpy(x, x_in.data() + my_in * dim_, static_cast<size_t>(n * dim_) * sizeof(float));
    const std::vector<int32_t>* rt = ring ? &ring_tables_[static_cast<size_t>(slot)] : nullptr;
    slices.push_back({s.blocks.data(), s.pos, n, rt ? rt->data() : nullptr,
                      rt ? static_cast<int64_t>(rt->size()) : 0});
    ran[i] = true;
    row += n;
  }
  if (!slices.empty()) {
    fwd_.RunLayersBatch(x_.data(), slices, cache_, cfg_.first_layer, cfg_.last_layer);
    stats_.steps += slices.size();
    stats_.rows += static_cast<uint64_t>(row);
    ++stats_.batches;
    // The rows just written now hold data: the blocks are filled up to each step's end.
    for (size_t i = 0; i < ns; ++i) {
      if (!ran[i]) continue;
      const SeqStep& s = batch.steps[i];
      const int64_t end = s.pos + static_cast<int64_t>(s.tokens.size());
      for (int64_t b = s.pos / kKvBlockTokens; b < KvBlocksFor(end); ++b) {
        const int64_t upto = std::min(kKvBlockTokens, end - b * kKvBlockTokens);
        filled_[static_cast<size_t>(s.blocks[static_cast<size_t>(b)])] = static_cast<uint8_t>(upto);
      }
      if (cache_.layout().ring()) {
        std::vector<int64_t>& pos = ring_pos_[static_cast<size_t>(ring_slot_.at(s.seq))];
        for (int64_t p = s.pos; p < end; ++p) pos[static_cast<size_t>(p) % pos.size()] = p;
      }
    }
  }
  rows_out_ = row;

  if (cfg_.with_output) {
    // The last rows of every step that samples or wants its last logits, in one product.
    const int64_t n_vocab = hp.n_vocab;
    int64_t m = 0;
    row = 0;
    std::vector<int64_t> last_index(ns, -1);
    for (size_t i = 0; i < ns; ++i) {
      if (!ran[i]) continue;
      const SeqStep& s = batch.steps[i];
      const int64_t n = static_cast<int64_t>(s.tokens.size());
      if (s.sample || s.logits == LogitsWant::kLast) {
        std::copy_n(x_.data() + (row + n - 1) * dim_, dim_, last_rows_.data() + m * dim_);
        last_index[i] = m++;
      }
      row += n;
    }
    if (m > 0) {
      logits_.resize(static_cast<size_t>(m * n_vocab));
      fwd_.Logits(last_rows_.data(), m, m, logits_.data());
    }
    row = 0;
    for (size_t i = 0; i < ns; ++i) {
      if (!ran[i]) continue;
      const SeqStep& s = batch.steps[i];
      SeqOutput& o = out->outputs[i];
      const int64_t n = static_cast<int64_t>(s.tokens.size());
      float* last = last_index[i] >= 0 ? logits_.data() + last_index[i] * n_vocab : nullptr;
      if (s.logits == LogitsWant::kAll) {
        o.logits.resize(static_cast<size_t>(n * n_vocab));
        fwd_.Logits(x_.data() + row * dim_, n, n, o.logits.data());
      } else if (s.logits == LogitsWant::kLast) {
        o.logits.assign(last, last + n_vocab);
      }
      if (s.sampler) {
        auto [it, fresh] = samplers_.insert_or_assign(s.seq, Sampler(*s.sampler));
        for (int32_t t : s.history) it->second.Accept(t);
      }
      if (auto it = samplers_.find(s.seq); it != samplers_.end()) {
        for (int32_t t : s.tokens) it->second.Accept(t);
        // The sampler may modify its row (bias, penalties): it is this step's own row, and
        // any logits the step returns were copied above.
        if (s.sample) o.sampled = it->second.Sample(last, n_vocab, s.pos + n);
      }
      row += n;
    }
  }
  out->compute_seconds = NowSeconds() - t0;
}

}  // namespace suanli
