// Plain options of the runtime: what to load and where its sequences run. The CLI and the server
// fill these from their flags; nothing below this layer sees a flag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "cluster/transport.h"
#include "model/weights.h"
#include "suanli/placement.h"

namespace suanli::runtime {

struct ModelOptions {
  std::string path;  // empty: the default model (synthesized and cached on first use)
  LoadMode weights = LoadMode::kMmap;
  bool prefault = true;  // touch the weight pages at load (not done by a pool's head)
};

// Run through a pool of workers instead of this device.
struct PoolOptions {
  std::vector<std::string> workers;  // host:port
  bool discover = false;             // add the workers that answer on the LAN
  double discover_seconds = 1.5;
  placement::Objective objective = placement::Objective::kLatency;
  std::vector<int64_t> split;  // forced layer counts, one per worker
  placement::ActFormat act = placement::ActFormat::kF16;
  cluster::SecurityOptions security;
  double detect_seconds = 2;     // a worker that froze, died or is cut off is noticed within this
  double recovery_seconds = 30;  // then its layers are placed again; requests fail after this
  std::shared_ptr<cluster::Transport> transport;  // null: the network (tests: FakeNetwork)
  const Clock* clock = &Clock::Real();            // the head's time (tests: ManualClock)
};

struct RuntimeOptions {
  ModelOptions model;
  int threads = 0;            // 0: all cores
  int64_t n_ctx = 0;          // positions one sequence may use; 0: min(the model's, 4096)
  int64_t max_seqs = 1;       // sequences running at once
  int64_t kv_tokens = 0;      // KV cache positions shared by all sequences; 0: max_seqs · n_ctx
  int64_t step_tokens = 512;  // tokens per batch: decode tokens first, then prompt chunks
  bool prefix_cache = true;
  // Sliding-window layers' KV for every position, not a ring of the window (model/footprint.h
  // KvLayout): more memory, but prompts can share prefixes through the cache. On this device
  // only; a pool's workers always keep rings.
  bool swa_full = false;
  size_t max_queue = 64;  // requests waiting for room before new ones are refused
  std::optional<PoolOptions> pool;
};

}  // namespace suanli::runtime
