// The scheduler's batches on the wire: engine/batch.h types <-> protocol messages
// (proto/suanli/cluster/v1/worker.proto), and status codes as numbers (so the head can tell a
// retryable failure from a bad request whatever stage it came from).
#pragma once

#include <optional>
#include <vector>

#include "engine/batch.h"
#include "suanli/cluster/v1/worker.pb.h"
#include "suanli/placement.h"
#include "suanli/status.h"

namespace suanli::cluster {

std::optional<placement::ActFormat> ActFromProto(v1::ActFormat f);
v1::ActFormat ActToProto(placement::ActFormat f);
// Values from the wire are clamped to what the sampler accepts (n_probs, window, bias pairs).
SamplerParams SamplerFromProto(const v1::SamplerParams& p);
void SamplerToProto(const SamplerParams& s, v1::SamplerParams* p);

// StepBatch -> Batch (no activations, no pipeline id).
void BatchToProto(const StepBatch& b, v1::Batch* out);
// Batch -> StepBatch, and the status each step arrived with (failed at an earlier stage).
void BatchFromProto(const v1::Batch& in, StepBatch* out, std::vector<Status>* upstream);

// A status as (code number, message) and back; code 0 is OK.
Status StatusFromWire(int32_t code, const std::string& message);

// StepOutput -> BatchResult and back. FromProto checks the result answers `batch` (one result per
// step, the same sequences, token ids and logits sizes within bounds): a lying last stage gets
// kInternal, not a crash.
void OutputToProto(const StepOutput& out, v1::BatchResult* r);
StepOutput OutputFromProto(v1::BatchResult&& r, const StepBatch& batch, int64_t n_vocab);

}  // namespace suanli::cluster
