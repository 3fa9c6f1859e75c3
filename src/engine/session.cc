#include "engine/session.h"

#include "engine/batch.h"

#include <algorithm>

namespace suanli {

namespace {
int64_t SessionBatch(int64_t max_batch, int64_t n_ctx) {
  return std::max<int64_t>(1, std::min(max_batch, n_ctx));
}
}  // namespace

Session::Session(const Model& model, ThreadPool& pool, int64_t n_ctx, int64_t max_batch,
                 bool kv_ring)
    : model_(model),
      cache_(model.hparams(), KvLayoutFor(model.hparams(), KvBlocksFor(n_ctx), n_ctx, 1,
                                          SessionBatch(max_batch, n_ctx), kv_ring)),
      table_(IdentityBlockTable(KvBlocksFor(n_ctx))),
      ring_(IdentityBlockTable(cache_.layout().ring_blocks)),
      fwd_(model.hparams(), model.weights(), pool, SessionBatch(max_batch, n_ctx), n_ctx),
      x_(static_cast<size_t>(fwd_.max_batch() * model.hparams().dim)),
      n_ctx_(n_ctx) {}

Status Session::Feed(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t n_vocab = model_.hparams().n_vocab;
  if (n == 0) return InvalidArgument("no tokens to feed");
  SL_RETURN_IF_ERROR(CheckTokenIds(tokens, n_vocab));
  SL_RETURN_IF_ERROR(CheckFitsContext(n_past_, n, n_ctx_));
  const int64_t layers = model_.hparams().n_layers;
  if (logits) logits->resize(static_cast<size_t>((all_logits ? n : 1) * n_vocab));
  for (int64_t done = 0; done < n;) {
    const int64_t chunk = std::min(fwd_.max_batch(), n - done);
    fwd_.Embed(tokens.data() + done, chunk, x_.data());
    fwd_.RunLayers(x_.data(), chunk, n_past_, table_.data(), 0, layers, cache_, ring_.data(),
                   static_cast<int64_t>(ring_.size()));
    if (logits && all_logits) {
      fwd_.Logits(x_.data(), chunk, chunk, logits->data() + done * n_vocab);
    } else if (logits && done + chunk == n) {
      fwd_.Logits(x_.data(), chunk, 1, logits->data());
    }
    n_past_ += chunk;
    done += chunk;
  }
  return Status::Ok();
}

StatusOr<int32_t> Session::FeedAndSample(std::span<const int32_t> tokens, const SamplerParams& p) {
  SL_RETURN_IF_ERROR(Feed(tokens, false, &last_logits_));
  if (!sampler_) sampler_ = std::make_unique<Sampler>(p);
  for (int32_t t : tokens) sampler_->Accept(t);
  return sampler_->Sample(last_logits_.data(), n_vocab(), n_past_).token;
}

}  // namespace suanli
