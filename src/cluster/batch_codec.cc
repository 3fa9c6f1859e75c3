#include "cluster/batch_codec.h"

#include <algorithm>
#include <cmath>

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
  s.repeat_last_n = std::clamp(p.repeat_last_n(), 0, 1 << 16);
  s.seed = p.seed();
  s.presence_penalty = p.presence_penalty();
  s.frequency_penalty = p.frequency_penalty();
  const int n = std::min({p.bias_tokens_size(), p.bias_values_size(), 1 << 16});
  for (int i = 0; i < n; ++i) s.logit_bias.emplace_back(p.bias_tokens(i), p.bias_values(i));
  s.n_probs = std::clamp(p.n_probs(), 0, kMaxProbs);
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
  p->set_presence_penalty(s.presence_penalty);
  p->set_frequency_penalty(s.frequency_penalty);
  for (const auto& [t, b] : s.logit_bias) {
    p->add_bias_tokens(t);
    p->add_bias_values(b);
  }
  p->set_n_probs(s.n_probs);
}

namespace {
v1::LogitsWant LogitsToProto(LogitsWant w) {
  switch (w) {
    case LogitsWant::kLast:
      return v1::LOGITS_LAST;
    case LogitsWant::kAll:
      return v1::LOGITS_ALL;
    default:
      return v1::LOGITS_NONE;
  }
}
LogitsWant LogitsFromProto(v1::LogitsWant w) {
  switch (w) {
    case v1::LOGITS_LAST:
      return LogitsWant::kLast;
    case v1::LOGITS_ALL:
      return LogitsWant::kAll;
    default:
      return LogitsWant::kNone;
  }
}
}  // namespace

Status StatusFromWire(int32_t code, const std::string& message) {
  if (code == 0) return Status::Ok();
  return Status(StatusCodeFromInt(code), message.empty() ? "failed" : message);
}

void BatchToProto(const StepBatch& b, v1::Batch* out) {
  out->set_batch_id(b.id);
  for (const SeqStep& s : b.steps) {
    v1::SeqStep* p = out->add_steps();
    p->set_seq_id(s.seq);
    p->set_pos(s.pos);
    p->mutable_tokens()->Add(s.tokens.begin(), s.tokens.end());
    p->mutable_blocks()->Add(s.blocks.begin(), s.blocks.end());
    p->set_logits(LogitsToProto(s.logits));
    p->set_sample(s.sample);
    if (s.sampler) {
      SamplerToProto(*s.sampler, p->mutable_sampler());
      p->mutable_history()->Add(s.history.begin(), s.history.end());
    }
  }
  for (uint64_t e : b.ended) out->add_ended(e);
}

void BatchFromProto(const v1::Batch& in, StepBatch* out, std::vector<Status>* upstream) {
  out->id = in.batch_id();
  out->steps.clear();
  out->steps.reserve(static_cast<size_t>(in.steps_size()));
  upstream->clear();
  for (const v1::SeqStep& p : in.steps()) {
    SeqStep s;
    s.seq = p.seq_id();
    s.pos = p.pos();
    s.tokens.assign(p.tokens().begin(), p.tokens().end());
    s.blocks.assign(p.blocks().begin(), p.blocks().end());
    s.logits = LogitsFromProto(p.logits());
    s.sample = p.sample();
    if (p.has_sampler()) {
      s.sampler = SamplerFromProto(p.sampler());
      s.history.assign(p.history().begin(), p.history().end());
    }
    upstream->push_back(StatusFromWire(p.error_code(), p.error()));
    out->steps.push_back(std::move(s));
  }
  out->ended.assign(in.ended().begin(), in.ended().end());
}

void OutputToProto(const StepOutput& out, v1::BatchResult* r) {
  r->set_batch_id(out.id);
  if (!out.status.ok()) {
    r->set_error_code(static_cast<int32_t>(out.status.code()));
    r->set_error(out.status.message());
  }
  r->set_compute_seconds(out.compute_seconds);
  for (double t : out.stage_seconds) r->add_stage_seconds(t);
  for (const SeqOutput& o : out.outputs) {
    v1::SeqResult* p = r->add_results();
    p->set_seq_id(o.seq);
    if (!o.status.ok()) {
      p->set_error_code(static_cast<int32_t>(o.status.code()));
      p->set_error(o.status.message());
      continue;
    }
    p->set_token(o.sampled.token);
    p->set_logprob(o.sampled.logprob);
    for (const TokenLogprob& t : o.sampled.top) {
      p->add_top_tokens(t.token);
      p->add_top_logprobs(t.logprob);
    }
    p->mutable_logits()->Add(o.logits.begin(), o.logits.end());
  }
}

StepOutput OutputFromProto(v1::BatchResult&& r, const StepBatch& batch, int64_t n_vocab) {
  StepOutput out;
  out.id = r.batch_id();
  out.compute_seconds = r.compute_seconds();
  out.stage_seconds.assign(r.stage_seconds().begin(),
                           r.stage_seconds().begin() + std::min(r.stage_seconds_size(), 1024));
  out.status = StatusFromWire(r.error_code(), r.error());
  auto bad = [&](const std::string& why) {
    out.status = Internal("the last stage answered nonsense: " + why);
    out.outputs.clear();
    return out;
  };
  if (!out.status.ok()) return out;
  if (static_cast<size_t>(r.results_size()) != batch.steps.size())
    return bad(std::to_string(r.results_size()) + " results for " +
               std::to_string(batch.steps.size()) + " steps");
  out.outputs.resize(batch.steps.size());
  for (size_t i = 0; i < batch.steps.size(); ++i) {
    v1::SeqResult& p = *r.mutable_results(static_cast<int>(i));
    const SeqStep& s = batch.steps[i];
    SeqOutput& o = out.outputs[i];
    o.seq = s.seq;
    if (p.seq_id() != s.seq) return bad("results out of order");
    o.status = StatusFromWire(p.error_code(), p.error());
    if (!o.status.ok()) continue;
    if (s.sample && (p.token() < 0 || p.token() >= n_vocab))
      return bad("token " + std::to_string(p.token()) + " outside the vocabulary");
    o.sampled.token = p.token();
    o.sampled.logprob = p.logprob();
    const int top = std::min(p.top_tokens_size(), p.top_logprobs_size());
    for (int j = 0; j < std::min(top, kMaxProbs); ++j) {
      if (p.top_tokens(j) < 0 || p.top_tokens(j) >= n_vocab) return bad("a top token id");
      o.sampled.top.push_back({p.top_tokens(j), p.top_logprobs(j)});
    }
    const size_t want = s.logits == LogitsWant::kAll
                            ? s.tokens.size() * static_cast<size_t>(n_vocab)
                        : s.logits == LogitsWant::kLast ? static_cast<size_t>(n_vocab)
                                                        : 0;
    if (static_cast<size_t>(p.logits_size()) != want)
      return bad(std::to_string(p.logits_size()) + " logits where " + std::to_string(want) +
                 " were asked for");
    // A model's logits are finite; NaN or infinity is a broken or lying worker, never passed on.
    for (float v : p.logits())
      if (!std::isfinite(v)) return bad("non-finite logits");
    if (s.sample && p.top_tokens_size() > 0 && std::isnan(p.logprob())) return bad("a NaN logprob");
    o.logits.assign(p.logits().begin(), p.logits().end());
  }
  return out;
}

}  // namespace suanli::cluster
