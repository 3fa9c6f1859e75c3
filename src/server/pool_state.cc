#include "server/pool_state.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "base/mapped_file.h"
#include "cluster/device_profile.h"
#include "cluster/head.h"
#include "model/footprint.h"

namespace suanli::server {

namespace {
constexpr size_t kHistorySeconds = 120;

double UnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Json HistoryJson(const std::vector<std::pair<double, double>>& h) {
  Json a = Json::array();
  for (const auto& [t, v] : h) a.push_back(Json::array({t, v}));
  return a;
}

// What the runtime does not know about this machine when it runs the model itself (a pool's
// workers report it in their profiles): read from /proc and /sys, at most every 10 seconds.
struct HostFacts {
  std::string hostname, cpu;
  uint64_t total_ram = 0;
  BatteryState battery;
  ThermalState thermal;
};

HostFacts ThisHost() {
  static std::mutex mu;
  static HostFacts facts;
  static std::chrono::steady_clock::time_point read_at;
  static bool have = false;
  std::lock_guard<std::mutex> lock(mu);
  const auto now = std::chrono::steady_clock::now();
  if (have && now - read_at < std::chrono::seconds(10)) return facts;
  HostFacts f;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) f.hostname = host;
  if (auto info = ReadFileToString("/proc/cpuinfo"); info.ok()) {
    std::istringstream in(*info);
    std::string line;
    while (f.cpu.empty() && std::getline(in, line)) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
      if (key != "model name" && key != "Hardware" && key != "Processor") continue;
      const size_t v = line.find_first_not_of(" \t", colon + 1);
      if (v != std::string::npos) f.cpu = line.substr(v);
    }
  }
  uint64_t available = 0;
  if (auto mi = ReadFileToString("/proc/meminfo"); mi.ok())
    (void)ParseMeminfo(*mi, &f.total_ram, &available);
  f.battery = ReadBattery("/sys");
  f.thermal = ReadThermal("/sys");
  facts = f;
  read_at = now;
  have = true;
  return facts;
}
}  // namespace

void LiveFigures::Tick(const runtime::Runtime& rt, Metrics* metrics) {
  const auto now = std::chrono::steady_clock::now();
  const runtime::SchedulerStats st = rt.Stats();
  const std::vector<runtime::DeviceState> devices = rt.Devices();
  {
    std::lock_guard<std::mutex> lock(mu_);
    const double dt = have_last_ ? std::chrono::duration<double>(now - last_).count() : 0;
    if (dt > 0) {
      generated_rate_ = static_cast<double>(st.tokens_generated - last_generated_) / dt;
      prompt_rate_ = static_cast<double>(st.prompt_tokens_computed - last_prompt_) / dt;
    }
    for (const runtime::DeviceState& d : devices) {
      Prev& p = prev_[d.name];
      DeviceRate& r = rates_[d.name];
      if (dt > 0) {
        r.tokens_per_second = static_cast<double>(d.tokens - std::min(p.tokens, d.tokens)) / dt;
        r.busy_ratio = std::clamp((d.busy_seconds - p.busy) / dt, 0.0, 1.0);
      }
      p.tokens = d.tokens;
      p.busy = d.busy_seconds;
    }
    // Devices that left the placement drop out of the history.
    for (auto it = device_history_.begin(); it != device_history_.end();)
      it = std::any_of(devices.begin(), devices.end(),
                       [&](const runtime::DeviceState& d) { return d.name == it->first; })
               ? std::next(it)
               : device_history_.erase(it);
    const double unix_now = UnixSeconds();
    for (const runtime::DeviceState& d : devices) {
      auto& h = device_history_[d.name];
      h.emplace_back(unix_now, rates_[d.name].tokens_per_second);
      while (h.size() > kHistorySeconds) h.pop_front();
    }
    last_ = now;
    have_last_ = true;
    last_generated_ = st.tokens_generated;
    last_prompt_ = st.prompt_tokens_computed;
    history_.emplace_back(unix_now, generated_rate_);
    while (history_.size() > kHistorySeconds) history_.pop_front();
  }
  if (!metrics) return;
  metrics->Set("suanli_queue_depth", static_cast<double>(st.waiting));
  metrics->Set("suanli_running_sequences", static_cast<double>(st.running));
  metrics->Set("suanli_kv_blocks_used", static_cast<double>(st.kv_blocks_used));
  metrics->Set("suanli_kv_blocks_total", static_cast<double>(st.kv_blocks_total));
  metrics->Set("suanli_prefix_cache_hit_ratio",
               st.prefix_lookup_blocks > 0 ? static_cast<double>(st.prefix_hit_blocks) /
                                                 static_cast<double>(st.prefix_lookup_blocks)
                                           : 0);
  metrics->Set("suanli_generated_tokens_per_second", generated_rate_);
  metrics->Set("suanli_recoveries", static_cast<double>(st.recoveries));
  metrics->Set("suanli_recovery_last_seconds", st.last_recovery_seconds);
  metrics->Set("suanli_recovery_next_token_last_seconds", st.last_recovery_next_token_s);
  for (const char* f :
       {"suanli_device_tokens_per_second", "suanli_device_memory_bytes",
        "suanli_device_battery_ratio", "suanli_device_throttled", "suanli_device_up"})
    metrics->ClearSeries(f);
  for (const runtime::DeviceState& d : devices) {
    const Labels l = {{"device", d.name}};
    metrics->Set("suanli_device_tokens_per_second", Device(d.name).tokens_per_second, l);
    metrics->Set("suanli_device_memory_bytes", static_cast<double>(d.memory_bytes), l);
    if (d.battery >= 0) metrics->Set("suanli_device_battery_ratio", d.battery, l);
    metrics->Set("suanli_device_throttled", d.throttled ? 1 : 0, l);
    metrics->Set("suanli_device_up", d.up ? 1 : 0, l);
  }
}

LiveFigures::DeviceRate LiveFigures::Device(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = rates_.find(name);
  return it == rates_.end() ? DeviceRate{} : it->second;
}

double LiveFigures::generated_per_second() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generated_rate_;
}

double LiveFigures::prompt_per_second() const {
  std::lock_guard<std::mutex> lock(mu_);
  return prompt_rate_;
}

std::vector<std::pair<double, double>> LiveFigures::History() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {history_.begin(), history_.end()};
}

std::vector<std::pair<double, double>> LiveFigures::DeviceHistory(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = device_history_.find(name);
  if (it == device_history_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

Json PoolState(const runtime::Runtime* rt, const std::string& model_id, const std::string& status,
               const LiveFigures& live, const EventLog& events) {
  Json j = Json::object();
  j["version"] = kPoolStateVersion;
  j["time"] = UnixSeconds();
  j["status"] = status;
  Json model = Json::object();
  model["id"] = model_id;
  Json rtj = Json::object();
  Json devices = Json::array();
  Json placement = Json::object();
  if (rt) {
    const HParams& hp = rt->model().hparams();
    model["path"] = rt->model().path();
    model["architecture"] = hp.arch;
    model["layers"] = hp.n_layers;
    model["dim"] = hp.dim;
    model["vocabulary"] = hp.n_vocab;
    model["context"] = rt->n_ctx();
    const runtime::SchedulerStats st = rt->Stats();
    rtj["backend"] = rt->pool() ? "pool" : "this device";
    rtj["description"] = rt->Describe();
    rtj["max_sequences"] = rt->options().max_seqs;
    rtj["queue_depth"] = st.waiting;
    rtj["running_sequences"] = st.running;
    rtj["kv_block_tokens"] = kKvBlockTokens;
    rtj["kv_blocks_used"] = st.kv_blocks_used;
    rtj["kv_blocks_cached"] = st.kv_blocks_cached;
    rtj["kv_blocks_total"] = st.kv_blocks_total;
    rtj["prefix_cache_hit_ratio"] = st.prefix_lookup_blocks > 0
                                        ? static_cast<double>(st.prefix_hit_blocks) /
                                              static_cast<double>(st.prefix_lookup_blocks)
                                        : 0.0;
    rtj["requests_done"] = st.requests_done;
    rtj["recoveries"] = st.recoveries;
    rtj["last_recovery_seconds"] = st.last_recovery_seconds;
    rtj["last_recovery_next_token_seconds"] = st.last_recovery_next_token_s;
    rtj["tokens_generated"] = st.tokens_generated;
    rtj["prompt_tokens_computed"] = st.prompt_tokens_computed;
    // The host name a worker reported (its --name), by address.
    std::map<std::string, std::string> hosts;
    if (cluster::Pool* pool = rt->pool())
      for (size_t k = 0; k < pool->worker_count(); ++k)
        hosts[pool->worker(k).address] = pool->worker(k).profile.hostname;
    for (runtime::DeviceState d : rt->Devices()) {
      std::string host;
      if (!rt->pool() && d.role == "this device") {
        const HostFacts h = ThisHost();
        host = h.hostname;
        if (d.cpu.empty()) d.cpu = h.cpu;
        if (d.total_memory_bytes == 0) d.total_memory_bytes = h.total_ram;
        if (d.memory_bytes == 0) {  // weights + the KV cache
          std::error_code ec;
          const auto file = std::filesystem::file_size(rt->model().path(), ec);
          uint64_t kv = 0;
          for (int i = 0; i < rt->executor().lanes(); ++i)
            kv += KvBytes(hp, rt->executor().lane(i).kv, 0, hp.n_layers, KvType::kF32);
          d.memory_bytes = (ec ? 0 : file) + kv;
        }
        if (h.battery.present) {
          d.battery = h.battery.level;
          d.charging = h.battery.charging;
        }
        d.throttled = d.throttled || h.thermal.throttled;
      } else if (auto it = hosts.find(d.name); it != hosts.end()) {
        host = it->second;
      }
      Json dj = Json::object();
      dj["name"] = d.name;
      dj["host"] = host;
      dj["role"] = d.role;
      dj["lane"] = d.lane;
      Json layers = Json::object();
      layers["first"] = d.first_layer;
      layers["last"] = d.last_layer;  // exclusive
      dj["layers"] = layers;
      dj["memory_bytes"] = d.memory_bytes;
      dj["total_memory_bytes"] = d.total_memory_bytes;
      const LiveFigures::DeviceRate r = live.Device(d.name);
      dj["tokens_per_second"] = r.tokens_per_second;
      dj["busy_ratio"] = r.busy_ratio;
      dj["battery"] = d.battery >= 0 ? Json(d.battery) : Json(nullptr);
      dj["charging"] = d.charging;
      dj["throttled"] = d.throttled;
      dj["up"] = d.up;
      dj["cpu"] = d.cpu;
      dj["threads"] = d.threads;
      dj["tokens"] = d.tokens;
      dj["history"] = HistoryJson(live.DeviceHistory(d.name));
      devices.push_back(dj);
    }
    Json pipes = Json::array();
    if (cluster::Pool* pool = rt->pool()) {
      const placement::Plan& plan = pool->plan();
      placement["objective"] =
          pool->options().objective == placement::Objective::kThroughput ? "throughput" : "latency";
      placement["predicted_latency_ms"] = plan.latency_seconds * 1e3;
      placement["predicted_tokens_per_second"] = plan.tokens_per_second;
      for (size_t i = 0; i < plan.pipelines.size() && i < pool->pipelines(); ++i) {
        Json p = Json::object();
        p["lane"] = static_cast<int>(i);
        p["predicted_tokens_per_second"] = plan.pipelines[i].tokens_per_second();
        Json stages = Json::array();
        const auto workers = pool->pipeline_workers(i);
        for (size_t s = 0; s < plan.pipelines[i].stages.size() && s < workers.size(); ++s) {
          Json sj = Json::object();
          sj["device"] = workers[s]->address;
          sj["first_layer"] = plan.pipelines[i].stages[s].first_layer;
          sj["last_layer"] = plan.pipelines[i].stages[s].last_layer;
          stages.push_back(sj);
        }
        p["stages"] = stages;
        pipes.push_back(p);
      }
    } else {
      placement["objective"] = "local";
      Json p = Json::object();
      p["lane"] = 0;
      Json stage = Json::object();
      stage["device"] = "this device";
      stage["first_layer"] = 0;
      stage["last_layer"] = hp.n_layers;
      p["stages"] = Json::array({stage});
      pipes.push_back(p);
    }
    placement["pipelines"] = pipes;
  }
  j["model"] = model;
  j["runtime"] = rtj;
  Json tp = Json::object();
  tp["generated_tokens_per_second"] = live.generated_per_second();
  tp["prompt_tokens_per_second"] = live.prompt_per_second();
  tp["history"] = HistoryJson(live.History());
  j["throughput"] = tp;
  j["devices"] = devices;
  j["placement"] = placement;
  Json ev = Json::array();
  for (const ServerEvent& e : events.Recent(50)) {
    Json x = Json::object();
    x["time"] = e.unix_seconds;
    x["kind"] = e.kind;
    x["message"] = e.message;
    ev.push_back(x);
  }
  j["events"] = ev;
  return j;
}

}  // namespace suanli::server
