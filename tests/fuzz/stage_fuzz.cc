// libFuzzer target for a pipeline stage's handling of network batches: the input is a few Batch
// messages (each a 2-byte little-endian length, then its protobuf bytes) as any peer could send
// them. Each runs through a first stage (embedding, layer 0) and, with whatever it passes on and
// the raw batch again, a last stage (layer 1, output, sampler). Every step must end as a result
// or an error; nothing may read out of bounds or crash. State (KV blocks written, samplers)
// persists across inputs, as on a long-running worker, bounded by max_seqs.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

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
    cfg.kv_blocks = 8;
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
  namespace v1 = suanli::cluster::v1;
  size_t i = 0;
  int batches = 0;
  while (i + 2 <= size && batches < 4) {
    const size_t len = data[i] | (static_cast<size_t>(data[i + 1]) << 8);
    i += 2;
    if (len > size - i) break;
    v1::Batch b;
    const bool parsed = b.ParseFromArray(data + i, static_cast<int>(len));
    i += len;
    if (!parsed) continue;
    ++batches;
    v1::Batch raw = b, next;
    v1::BatchResult unused;
    stages->first->Run(b, &next, &unused);
    if (next.steps_size() != raw.steps_size()) std::abort();  // every step passes on
    for (v1::Batch* in : {&next, &raw}) {
      const int steps = in->steps_size();
      v1::Batch none;
      v1::BatchResult res;
      stages->last->Run(*in, &none, &res);
      if (res.results_size() != steps) std::abort();  // every step is answered
      for (const v1::SeqResult& r : res.results())
        if (r.error_code() == 0 && (r.token() < 0 || r.token() >= 32000)) std::abort();
    }
  }
  return 0;
}
