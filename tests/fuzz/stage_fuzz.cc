// libFuzzer target for a pipeline stage's handling of network steps: the input is a batch of
// StepRequests (each a 2-byte little-endian length, then its protobuf bytes) as any peer could
// send them. They run through a first stage (embedding, layer 0) and, with whatever it passes
// on plus the raw steps again, a last stage (layer 1, output, sampler). Any step must end as a
// result or an error; nothing may read out of bounds or crash. State (KV caches, sequences)
// persists across inputs, as on a long-running worker, bounded by max_seqs.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/thread_pool.h"
#include "cluster/stage_runner.h"
#include "model/default_model.h"
#include "model/synth.h"

namespace {

using suanli::cluster::StageConfig;
using suanli::cluster::StageRunner;

struct Stages {
  suanli::ThreadPool pool{1};
  std::unique_ptr<StageRunner> first, last;
};

Stages* Init() {
  const std::string path = "/tmp/suanli-stage-fuzz-" + std::to_string(getpid()) + ".gguf";
  auto vocab = suanli::EmbeddedVocab();
  if (!vocab.ok()) std::abort();
  suanli::SynthSpec spec;
  spec.dim = 64;
  spec.n_layers = 2;
  spec.n_heads = 4;
  spec.n_kv_heads = 2;
  spec.ffn_dim = 128;
  if (!suanli::SynthesizeModel(spec, **vocab, path).ok()) std::abort();
  auto* s = new Stages;
  auto make = [&](int64_t a, int64_t b, bool embed, bool output) {
    suanli::BindOptions bind{a, b, embed, output};
    auto model = suanli::Model::Load(path, bind);
    if (!model.ok()) std::abort();
    StageConfig cfg;
    cfg.first_layer = a;
    cfg.last_layer = b;
    cfg.with_embedding = embed;
    cfg.with_output = output;
    cfg.n_ctx = 48;
    cfg.max_seqs = 4;
    cfg.max_batch = 16;
    cfg.act = suanli::placement::ActFormat::kQ8_0;
    cfg.label = "fuzz";
    return std::make_unique<StageRunner>(std::move(*model), cfg, s->pool);
  };
  s->first = make(0, 1, true, false);
  s->last = make(1, 2, false, true);
  ::unlink(path.c_str());  // mapped; the name is not needed any more
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Stages* stages = Init();
  std::vector<suanli::cluster::v1::StepRequest> batch;
  size_t i = 0;
  while (i + 2 <= size && batch.size() < 8) {
    const size_t len = data[i] | (static_cast<size_t>(data[i + 1]) << 8);
    i += 2;
    if (len > size - i) break;
    suanli::cluster::v1::StepRequest r;
    if (r.ParseFromArray(data + i, static_cast<int>(len))) batch.push_back(std::move(r));
    i += len;
  }
  if (batch.empty()) return 0;
  std::vector<suanli::cluster::v1::StepRequest> raw = batch, passed;
  size_t outputs = 0;
  const size_t n_first = batch.size();
  stages->first->Run(
      batch, [&](suanli::cluster::v1::StepResult&&) { std::abort(); },
      [&](suanli::cluster::v1::StepRequest& r) {
        passed.push_back(r);
        ++outputs;
      });
  if (outputs != n_first) std::abort();  // every step passes on (its activations or its error)
  for (auto* b : {&passed, &raw}) {
    if (b->empty()) continue;
    std::vector<suanli::cluster::v1::StepRequest> one;
    std::deque<suanli::cluster::v1::StepRequest> queue(b->begin(), b->end());
    while (!queue.empty()) {
      suanli::cluster::TakeBatch(queue, stages->last->config().max_batch, &one);
      stages->last->Run(
          one,
          [&](suanli::cluster::v1::StepResult&& res) {
            if (res.error().empty() && res.token() < 0) std::abort();
          },
          [&](suanli::cluster::v1::StepRequest&) { std::abort(); });
    }
  }
  return 0;
}
