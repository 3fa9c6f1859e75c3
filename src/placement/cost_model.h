// The cost formulas of include/suanli/placement.h in one place, with prefix sums so any stage
// [a, b) costs O(1). The search and EvaluatePipeline both use this, so a plan's predicted numbers
// are exactly what the search optimized.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "suanli/placement.h"

namespace suanli::placement {

constexpr double kInf = std::numeric_limits<double>::infinity();

class CostModel {
 public:
  CostModel(const ModelCost& m, const Cluster& c, const PlanOptions& o);

  int64_t n_layers() const { return L_; }
  int head() const { return head_; }
  const ModelCost& model() const { return m_; }
  const Cluster& cluster() const { return c_; }

  // t_s of device d running [a, b).
  double StageSeconds(int d, int64_t a, int64_t b) const;
  // mem_s of [a, b) (device independent).
  uint64_t StageMemory(int64_t a, int64_t b) const;
  bool Fits(int d, int64_t a, int64_t b) const {
    return StageMemory(a, b) <= c_.devices[static_cast<size_t>(d)].memory_bytes;
  }
  // One-way delay + transfer, and transfer alone; 0 when from == to.
  double Hop(int from, int to, uint64_t bytes) const;
  double Transfer(int from, int to, uint64_t bytes) const;
  // The memory one layer needs alone (its weights, KV cache and scratch), the smallest over layers
  // when it is neither first nor last: a device below this cannot run anything.
  uint64_t MinStageMemory() const;

 private:
  const ModelCost& m_;
  const Cluster& c_;
  int64_t L_;
  int head_;
  std::vector<uint64_t> ksum_;  // prefix sums of each layer's KV bytes (rings for sliding ones)
  uint64_t scratch_;
  std::vector<uint64_t> wsum_;  // prefix sums of layer_bytes
  std::vector<uint64_t> rsum_;  // prefix sums of the bytes a decoded token reads
  std::vector<double> fsum_;    // prefix sums of layer_flops
};

}  // namespace suanli::placement
