#include "cluster/stage_runner.h"

#include "cluster/activation_codec.h"
#include "cluster/batch_codec.h"

namespace suanli::cluster {

StageRunner::StageRunner(std::unique_ptr<Model> model, const StageConfig& cfg, ThreadPool& pool)
    : model_(std::move(model)), cfg_(cfg) {
  BatchRunnerConfig c;
  c.first_layer = cfg.first_layer;
  c.last_layer = cfg.last_layer;
  c.with_embedding = cfg.with_embedding;
  c.with_output = cfg.with_output;
  c.n_ctx = cfg.n_ctx;
  c.n_blocks = cfg.kv_blocks;
  c.max_seqs = cfg.max_seqs;
  c.max_batch = cfg.max_batch;
  c.label = cfg.label;
  runner_ = std::make_unique<BatchRunner>(*model_, c, pool);
}

void StageRunner::Run(v1::Batch& in, v1::Batch* next, v1::BatchResult* result) {
  const int64_t dim = model_->hparams().dim;
  StepBatch batch;
  std::vector<Status> upstream;
  BatchFromProto(in, &batch, &upstream);
  StepOutput out;
  // The rows of the steps that arrived without an error.
  int64_t rows = 0;
  bool sizes_ok = true;
  for (size_t i = 0; i < batch.steps.size(); ++i)
    if (upstream[i].ok()) {
      const int64_t n = static_cast<int64_t>(batch.steps[i].tokens.size());
      if (n > cfg_.max_batch || rows + n > cfg_.max_batch) sizes_ok = false;
      rows += n;
    }
  Status decoded = Status::Ok();
  if (!cfg_.with_embedding) {
    auto f = ActFromProto(in.act());
    if (!sizes_ok)
      decoded = InvalidArgument("a batch over " + std::to_string(cfg_.max_batch) + " rows");
    else if (!f)
      decoded = InvalidArgument("unknown activation format");
    else {
      x_in_.resize(static_cast<size_t>(rows * dim));
      decoded = DecodeActivations(*f, in.activations(), rows, dim, x_in_.data());
    }
  }
  if (!decoded.ok()) {
    out.id = batch.id;
    out.status = decoded.WithContext(cfg_.label);
    out.outputs.assign(batch.steps.size(), SeqOutput{});
    for (size_t i = 0; i < batch.steps.size(); ++i) {
      out.outputs[i].seq = batch.steps[i].seq;
      out.outputs[i].status = upstream[i].ok() ? out.status : upstream[i];
    }
  } else {
    runner_->Run(batch, upstream,
                 cfg_.with_embedding ? std::span<const float>() : std::span<const float>(x_in_),
                 &out);
  }
  if (cfg_.with_output) {
    out.stage_seconds.assign(in.stage_seconds().begin(), in.stage_seconds().end());
    out.stage_seconds.push_back(out.compute_seconds);
    out.compute_seconds = 0;
    for (double t : out.stage_seconds) out.compute_seconds += t;
    OutputToProto(out, result);
    return;
  }
  // Inner stage: the same batch onward, with this stage's rows and any new error.
  *next = std::move(in);
  next->clear_pipeline_id();
  next->clear_capability();
  next->clear_activations();
  for (size_t i = 0; i < out.outputs.size() && i < static_cast<size_t>(next->steps_size()); ++i) {
    const Status& s = out.outputs[i].status;
    v1::SeqStep* p = next->mutable_steps(static_cast<int>(i));
    if (!s.ok()) {
      p->set_error_code(static_cast<int32_t>(s.code()));
      p->set_error(s.message());
    }
  }
  next->set_act(ActToProto(cfg_.act));
  next->add_stage_seconds(out.compute_seconds);
  const std::span<const float> x = runner_->rows();
  EncodeActivations(cfg_.act, x.data(), static_cast<int64_t>(x.size()) / dim, dim,
                    next->mutable_activations());
}

}  // namespace suanli::cluster
