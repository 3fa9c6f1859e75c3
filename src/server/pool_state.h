// GET /v1/pool/state: the devices, the placement, live figures and recent events, as a versioned
// JSON document (schema in docs/api.md; the dashboard reads it). A LiveFigures sampler, ticked
// once a second, turns the runtime's counters into rates and keeps a short history.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/runtime.h"
#include "server/event_log.h"
#include "server/metrics.h"
#include "server/openai.h"

namespace suanli::server {

inline constexpr int kPoolStateVersion = 1;

class LiveFigures {
 public:
  // Samples the runtime's counters, updates the rates and the metrics' gauges.
  void Tick(const runtime::Runtime& rt, Metrics* metrics);
  struct DeviceRate {
    double tokens_per_second = 0;
    double busy_ratio = 0;
  };
  DeviceRate Device(const std::string& name) const;
  double generated_per_second() const;
  double prompt_per_second() const;
  // [unix seconds, generated tok/s] for the last two minutes.
  std::vector<std::pair<double, double>> History() const;
  // [unix seconds, tok/s] of one device (rows it computed) for the last two minutes.
  std::vector<std::pair<double, double>> DeviceHistory(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  std::chrono::steady_clock::time_point last_;
  bool have_last_ = false;
  uint64_t last_generated_ = 0, last_prompt_ = 0;
  double generated_rate_ = 0, prompt_rate_ = 0;
  struct Prev {
    uint64_t tokens = 0;
    double busy = 0;
  };
  std::map<std::string, Prev> prev_;
  std::map<std::string, DeviceRate> rates_;
  std::deque<std::pair<double, double>> history_;
  std::map<std::string, std::deque<std::pair<double, double>>> device_history_;
};

// status: "ok", "loading" or "shutting_down". rt may be null while loading.
Json PoolState(const runtime::Runtime* rt, const std::string& model_id, const std::string& status,
               const LiveFigures& live, const EventLog& events);

}  // namespace suanli::server
