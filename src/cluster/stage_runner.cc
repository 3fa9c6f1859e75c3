#include "cluster/stage_runner.h"

#include <algorithm>
#include <set>

#include "cluster/activation_codec.h"

namespace suanli::cluster {

std::optional<placement::ActFormat> ActFromProto(v1::ActFormat f) {
  switch (f) {
    case v1::ACT_F32:
      return placement::ActFormat::kF32;
    case v1::ACT_F16:
      return placement::ActFormat::kF16;
    case v1::ACT_Q8_0:
      return placement::ActFormat::kQ8_0;
    default:
      return std::nullopt;
  }
}

v1::ActFormat ActToProto(placement::ActFormat f) {
  switch (f) {
    case placement::ActFormat::kF32:
      return v1::ACT_F32;
    case placement::ActFormat::kF16:
      return v1::ACT_F16;
    case placement::ActFormat::kQ8_0:
      return v1::ACT_Q8_0;
  }
  return v1::ACT_F16;
}

SamplerParams SamplerFromProto(const v1::SamplerParams& p) {
  SamplerParams s;
  s.temperature = p.temperature();
  s.top_k = p.top_k();
  s.top_p = p.top_p();
  s.min_p = p.min_p();
  s.repeat_penalty = p.repeat_penalty();
  s.repeat_last_n = std::clamp(p.repeat_last_n(), 0, 1 << 20);
  s.seed = p.seed();
  return s;
}

void SamplerToProto(const SamplerParams& s, v1::SamplerParams* p) {
  p->set_temperature(s.temperature);
  p->set_top_k(s.top_k);
  p->set_top_p(s.top_p);
  p->set_min_p(s.min_p);
  p->set_repeat_penalty(s.repeat_penalty);
  p->set_repeat_last_n(s.repeat_last_n);
  p->set_seed(s.seed);
}

void TakeBatch(std::deque<v1::StepRequest>& queue, int64_t max_batch,
               std::vector<v1::StepRequest>* batch) {
  batch->clear();
  int64_t rows = 0;
  std::set<uint64_t> seen;
  while (!queue.empty()) {
    v1::StepRequest& r = queue.front();
    const int64_t n = r.tokens_size();
    if (!batch->empty() && (rows + n > max_batch || seen.count(r.seq_id()))) break;
    rows += n;
    seen.insert(r.seq_id());
    batch->push_back(std::move(r));
    queue.pop_front();
  }
}

StageRunner::StageRunner(std::unique_ptr<Model> model, const StageConfig& cfg, ThreadPool& pool)
    : model_(std::move(model)),
      cfg_(cfg),
      fwd_(model_->hparams(), model_->weights(), pool, cfg.max_batch),
      cache_(model_->hparams(), cfg.max_seqs * KvBlocksFor(cfg.n_ctx), cfg.first_layer,
             cfg.last_layer) {
  const size_t rows = static_cast<size_t>(cfg.max_batch * model_->hparams().dim);
  x_.resize(rows);
  if (cfg.with_output) last_rows_.resize(rows);
}

void StageRunner::EraseSeq(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  if (it->second.slot >= 0) used_slots_.erase(it->second.slot);
  seqs_.erase(it);
}

Status StageRunner::Prepare(const v1::StepRequest& r, float* x, Seq** seq_out) {
  const HParams& hp = model_->hparams();
  const int64_t n = r.tokens_size();
  if (n < 1) return InvalidArgument("a step without tokens");
  if (n > cfg_.max_batch)
    return InvalidArgument(std::to_string(n) + " tokens in one step; this stage takes at most " +
                           std::to_string(cfg_.max_batch));
  if (r.pos() < 0) return InvalidArgument("negative position " + std::to_string(r.pos()));
  auto it = seqs_.find(r.seq_id());
  if (it == seqs_.end()) {
    if (static_cast<int64_t>(seqs_.size()) >= cfg_.max_seqs)
      return ResourceExhausted("more than " + std::to_string(cfg_.max_seqs) +
                               " sequences in flight");
    it = seqs_.emplace(r.seq_id(), Seq{}).first;
  }
  Seq& seq = it->second;
  if (r.pos() == 0) {
    seq.n_past = 0;
    seq.sampler.reset();
  }
  if (r.pos() != seq.n_past)
    return InvalidArgument("step at position " + std::to_string(r.pos()) +
                           " but the sequence is at " + std::to_string(seq.n_past));
  if (r.pos() + n > cfg_.n_ctx)
    return OutOfRange(std::to_string(r.pos() + n) + " tokens do not fit the context of " +
                      std::to_string(cfg_.n_ctx));
  for (int32_t t : r.tokens())
    if (t < 0 || t >= hp.n_vocab)
      return InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary");
  if (cfg_.with_embedding) {
    fwd_.Embed(r.tokens().data(), n, x);
  } else {
    auto f = ActFromProto(r.act());
    if (!f) return InvalidArgument("unknown activation format");
    SL_RETURN_IF_ERROR(DecodeActivations(*f, r.activations(), n, hp.dim, x));
  }
  if (seq.table.empty()) {
    // A free slot of blocks_per_seq blocks in the stage's pool.
    const int64_t per = KvBlocksFor(cfg_.n_ctx);
    int64_t slot = 0;
    while (used_slots_.count(slot)) ++slot;
    used_slots_.insert(slot);
    seq.slot = slot;
    for (int64_t b = 0; b < per; ++b) seq.table.push_back(static_cast<int32_t>(slot * per + b));
  }
  *seq_out = &seq;
  return Status::Ok();
}

void StageRunner::Run(std::vector<v1::StepRequest>& batch, const Answer& answer,
                      const PassOn& pass_on) {
  const HParams& hp = model_->hparams();
  std::vector<Forward::Slice> slices;
  std::vector<Seq*> seqs(batch.size(), nullptr);
  std::vector<std::string> errors(batch.size());
  std::set<uint64_t> in_batch;
  int64_t row = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const v1::StepRequest& r = batch[i];
    if (!r.error().empty()) {
      errors[i] = r.error();
      continue;
    }
    if (!in_batch.insert(r.seq_id()).second) {
      errors[i] = cfg_.label + ": the same sequence twice in one batch";
      continue;
    }
    if (r.tokens_size() == 0 && r.end_sequence()) {
      // Only frees the sequence, and at once: a new sequence later in this batch may need its
      // slot (max_seqs).
      EraseSeq(r.seq_id());
      continue;
    }
    if (row + r.tokens_size() > cfg_.max_batch && r.tokens_size() <= cfg_.max_batch) {
      errors[i] = cfg_.label + ": the batch is over " + std::to_string(cfg_.max_batch) + " rows";
      continue;
    }
    Status s = Prepare(r, x_.data() + row * hp.dim, &seqs[i]);
    if (!s.ok()) {
      errors[i] = cfg_.label + ": " + s.message();
      seqs[i] = nullptr;
      continue;
    }
    slices.push_back({seqs[i]->table.data(), r.pos(), r.tokens_size()});
    row += r.tokens_size();
  }
  if (!slices.empty()) {
    fwd_.RunLayersBatch(x_.data(), slices, cache_, cfg_.first_layer, cfg_.last_layer);
    stats_.steps += slices.size();
    stats_.rows += static_cast<uint64_t>(row);
    ++stats_.batches;
  }
  auto wants_last = [](const v1::StepRequest& r) {
    return r.want() == v1::WANT_SAMPLE || r.want() == v1::WANT_LAST_LOGITS;
  };
  // Last stage: the last-token logits of every step that needs them, in one product, so the
  // output matrix is read once per batch (not once per sequence).
  std::vector<float*> last_logits(batch.size(), nullptr);
  if (cfg_.with_output) {
    int64_t m = 0;
    row = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!seqs[i]) continue;
      const int64_t n = batch[i].tokens_size();
      if (wants_last(batch[i]))
        std::copy_n(x_.data() + (row + n - 1) * hp.dim, hp.dim, last_rows_.data() + (m++) * hp.dim);
      row += n;
    }
    if (m > 0) {
      logits_.resize(static_cast<size_t>(m * hp.n_vocab));
      fwd_.Logits(last_rows_.data(), m, m, logits_.data());
    }
    m = 0;
    for (size_t i = 0; i < batch.size(); ++i)
      if (seqs[i] && wants_last(batch[i])) last_logits[i] = logits_.data() + (m++) * hp.n_vocab;
  }
  row = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    v1::StepRequest& r = batch[i];
    const float* x = x_.data() + row * hp.dim;
    const int64_t n = r.tokens_size();
    Seq* seq = seqs[i];
    if (seq) {
      seq->n_past = r.pos() + n;
      row += n;
    }
    if (cfg_.with_output) {
      const bool only_end = n == 0 && r.end_sequence() && errors[i].empty();
      if (!only_end) {
        v1::StepResult res;
        res.set_seq_id(r.seq_id());
        res.set_step_id(r.step_id());
        if (!errors[i].empty()) {
          res.set_error(errors[i]);
        } else if (seq) {
          const int64_t n_vocab = hp.n_vocab;
          switch (r.want()) {
            case v1::WANT_LAST_LOGITS:
              res.mutable_logits()->Add(last_logits[i], last_logits[i] + n_vocab);
              break;
            case v1::WANT_ALL_LOGITS:
              res.mutable_logits()->Resize(static_cast<int>(n * n_vocab), 0.0f);
              fwd_.Logits(x, n, n, res.mutable_logits()->mutable_data());
              break;
            case v1::WANT_SAMPLE:
              if (!seq->sampler)
                seq->sampler = std::make_unique<Sampler>(SamplerFromProto(r.sampler()));
              for (int32_t t : r.tokens()) seq->sampler->Accept(t);
              // The sampler may modify its row (penalties): it is this step's own row.
              res.set_token(seq->sampler->Sample(last_logits[i], n_vocab));
              break;
            default:
              break;
          }
        } else {
          res.set_error(cfg_.label + ": the step was not run");
        }
        answer(std::move(res));
      }
    } else {
      r.clear_activations();
      if (!errors[i].empty()) {
        r.set_error(errors[i]);
      } else if (seq) {
        r.set_act(ActToProto(cfg_.act));
        EncodeActivations(cfg_.act, x, n, hp.dim, r.mutable_activations());
      }
      pass_on(r);
    }
    if (r.end_sequence()) EraseSeq(r.seq_id());
  }
}

}  // namespace suanli::cluster
