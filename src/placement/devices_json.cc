// Devices file parsing: every value is type- and range-checked before use; nlohmann's exceptions
// stay inside this file.
#include "placement/devices_json.h"

#include <cmath>
#include <map>
#include <set>
#include <string>

namespace suanli::placement {
namespace {

using nlohmann::json;

constexpr size_t kMaxDevicesInFile = 4096;
constexpr size_t kMaxName = 128;
constexpr double kMaxMemoryBytes = 1e18;  // an exabyte: beyond any device, inside uint64

Status Bad(const std::string& field, const std::string& what) {
  return InvalidArgument(field + ": " + what);
}

Status CheckKeys(const json& obj, const std::string& where, std::set<std::string> allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!allowed.count(it.key())) return Bad(where + "." + it.key(), "unknown field");
  return Status::Ok();
}

// A finite number in [lo, hi]; absent → nullopt.
StatusOr<std::optional<double>> Number(const json& obj, const std::string& where,
                                       const std::string& key, double lo, double hi,
                                       bool lo_open = false) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::optional<double>();
  const std::string field = where + "." + key;
  if (!it->is_number()) return Bad(field, "must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || (lo_open && v == lo) || v > hi)
    return Bad(field, "must be " + std::string(lo_open ? "> " : ">= ") + std::to_string(lo) +
                          (std::isfinite(hi) ? " and <= " + std::to_string(hi) : std::string()));
  return std::optional<double>(v);
}

StatusOr<bool> Bool(const json& obj, const std::string& where, const std::string& key, bool dflt) {
  auto it = obj.find(key);
  if (it == obj.end()) return dflt;
  if (!it->is_boolean()) return Bad(where + "." + key, "must be true or false");
  return it->get<bool>();
}

StatusOr<Link> ParseLink(const json& obj, const std::string& where) {
  if (!obj.is_object()) return Bad(where, "must be an object");
  Link l;
  SL_ASSIGN_OR_RETURN(auto rtt, Number(obj, where, "rtt_ms", 0, 1e7));
  SL_ASSIGN_OR_RETURN(auto mbps, Number(obj, where, "mbps", 0, 1e9, true));
  if (!rtt) return Bad(where + ".rtt_ms", "missing");
  if (!mbps) return Bad(where + ".mbps", "missing");
  l.rtt = *rtt / 1e3;
  l.bandwidth = *mbps * 1e6 / 8;
  return l;
}

StatusOr<Device> ParseDevice(const json& obj, const std::string& where) {
  if (!obj.is_object()) return Bad(where, "must be an object");
  SL_RETURN_IF_ERROR(
      CheckKeys(obj, where,
                {"name", "memory_bytes", "memory_gib", "bandwidth_gbs", "gflops", "battery",
                 "thermal_throttled", "is_head", "runs_layers", "measured_layer"}));
  Device d;
  auto name = obj.find("name");
  if (name == obj.end()) return Bad(where + ".name", "missing");
  if (!name->is_string()) return Bad(where + ".name", "must be a string");
  d.name = name->get<std::string>();
  if (d.name.empty() || d.name.size() > kMaxName)
    return Bad(where + ".name", "must have 1 to " + std::to_string(kMaxName) + " characters");
  SL_ASSIGN_OR_RETURN(d.is_head, Bool(obj, where, "is_head", false));
  SL_ASSIGN_OR_RETURN(d.runs_layers, Bool(obj, where, "runs_layers", true));
  SL_ASSIGN_OR_RETURN(d.thermal_throttled, Bool(obj, where, "thermal_throttled", false));

  const bool has_bytes = obj.contains("memory_bytes"), has_gib = obj.contains("memory_gib");
  if (has_bytes && has_gib) return Bad(where + ".memory_gib", "give memory_bytes or memory_gib");
  if (has_bytes) {
    const json& v = obj["memory_bytes"];
    if (!v.is_number_integer() ||
        (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0))
      return Bad(where + ".memory_bytes", "must be a non-negative integer");
    d.memory_bytes = v.get<uint64_t>();
  } else if (has_gib) {
    SL_ASSIGN_OR_RETURN(auto gib,
                        Number(obj, where, "memory_gib", 0, kMaxMemoryBytes / 1073741824.0));
    d.memory_bytes = static_cast<uint64_t>(*gib * 1073741824.0);
  } else if (d.runs_layers) {
    return Bad(where + ".memory_gib", "missing (or memory_bytes)");
  }

  SL_ASSIGN_OR_RETURN(auto bw, Number(obj, where, "bandwidth_gbs", 0, 1e6, true));
  if (bw)
    d.bandwidth = *bw * 1e9;
  else if (d.runs_layers)
    return Bad(where + ".bandwidth_gbs", "missing");
  SL_ASSIGN_OR_RETURN(auto gf, Number(obj, where, "gflops", 0, 1e9));
  if (gf) d.flops = *gf * 1e9;

  if (auto b = obj.find("battery"); b != obj.end()) {
    const std::string bw_where = where + ".battery";
    if (!b->is_object()) return Bad(bw_where, "must be an object");
    SL_RETURN_IF_ERROR(CheckKeys(*b, bw_where, {"present", "level", "charging"}));
    SL_ASSIGN_OR_RETURN(d.battery.present, Bool(*b, bw_where, "present", true));
    SL_ASSIGN_OR_RETURN(d.battery.charging, Bool(*b, bw_where, "charging", false));
    SL_ASSIGN_OR_RETURN(auto level, Number(*b, bw_where, "level", 0, 1));
    if (!level && d.battery.present) return Bad(bw_where + ".level", "missing");
    if (level) d.battery.level = *level;
  }
  if (auto m = obj.find("measured_layer"); m != obj.end()) {
    const std::string mw = where + ".measured_layer";
    if (!m->is_object()) return Bad(mw, "must be an object");
    SL_RETURN_IF_ERROR(CheckKeys(*m, mw, {"ms", "bytes"}));
    SL_ASSIGN_OR_RETURN(auto ms, Number(*m, mw, "ms", 0, 1e7, true));
    SL_ASSIGN_OR_RETURN(auto bytes, Number(*m, mw, "bytes", 1, kMaxMemoryBytes));
    if (!ms) return Bad(mw + ".ms", "missing");
    if (!bytes) return Bad(mw + ".bytes", "missing");
    d.measured_layer_seconds = *ms / 1e3;
    d.measured_layer_bytes = static_cast<uint64_t>(*bytes);
  }
  return d;
}

StatusOr<Cluster> ParseRoot(const json& root) {
  if (!root.is_object()) return Bad("devices file", "must be a JSON object");
  SL_RETURN_IF_ERROR(CheckKeys(root, "devices file", {"devices", "links", "default_link"}));
  auto devs = root.find("devices");
  if (devs == root.end()) return Bad("devices", "missing");
  if (!devs->is_array()) return Bad("devices", "must be an array");
  if (devs->empty()) return Bad("devices", "must list at least one device");
  if (devs->size() > kMaxDevicesInFile)
    return Bad("devices", "at most " + std::to_string(kMaxDevicesInFile) + " devices");
  Cluster c;
  std::map<std::string, int> index;
  int heads = 0;
  for (size_t i = 0; i < devs->size(); ++i) {
    const std::string where = "devices[" + std::to_string(i) + "]";
    SL_ASSIGN_OR_RETURN(Device d, ParseDevice((*devs)[i], where));
    if (index.count(d.name)) return Bad(where + ".name", "duplicate name '" + d.name + "'");
    if (d.is_head && ++heads > 1) return Bad(where + ".is_head", "more than one head");
    index[d.name] = static_cast<int>(i);
    c.devices.push_back(std::move(d));
  }
  if (heads == 0) {
    if (index.count("head"))
      return Bad("devices[" + std::to_string(index["head"]) + "].name",
                 "'head' names the implicit head; mark this device with \"is_head\": true");
    Device h;
    h.name = "head";
    h.is_head = true;
    h.runs_layers = false;
    index["head"] = static_cast<int>(c.devices.size());
    c.devices.push_back(h);
  }

  const size_t n = c.devices.size();
  std::vector<std::vector<std::optional<Link>>> m(n, std::vector<std::optional<Link>>(n));
  if (auto links = root.find("links"); links != root.end()) {
    if (!links->is_array()) return Bad("links", "must be an array");
    for (size_t i = 0; i < links->size(); ++i) {
      const std::string where = "links[" + std::to_string(i) + "]";
      const json& l = (*links)[i];
      if (!l.is_object()) return Bad(where, "must be an object");
      SL_RETURN_IF_ERROR(CheckKeys(l, where, {"a", "b", "rtt_ms", "mbps"}));
      int ends[2];
      for (int e = 0; e < 2; ++e) {
        const std::string key = e == 0 ? "a" : "b";
        auto it = l.find(key);
        if (it == l.end()) return Bad(where + "." + key, "missing");
        if (!it->is_string()) return Bad(where + "." + key, "must be a device name");
        auto found = index.find(it->get<std::string>());
        if (found == index.end())
          return Bad(where + "." + key, "unknown device '" + it->get<std::string>() + "'");
        ends[e] = found->second;
      }
      if (ends[0] == ends[1]) return Bad(where, "links a device to itself");
      SL_ASSIGN_OR_RETURN(Link link, ParseLink(l, where));
      if (m[ends[0]][ends[1]])
        return Bad(where, "duplicate link between '" + c.devices[ends[0]].name + "' and '" +
                              c.devices[ends[1]].name + "'");
      m[ends[0]][ends[1]] = m[ends[1]][ends[0]] = link;
    }
  }
  std::optional<Link> dflt;
  if (auto d = root.find("default_link"); d != root.end()) {
    if (d->is_object()) SL_RETURN_IF_ERROR(CheckKeys(*d, "default_link", {"rtt_ms", "mbps"}));
    SL_ASSIGN_OR_RETURN(dflt, ParseLink(*d, "default_link"));
  }
  c.links.assign(n, std::vector<Link>(n));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      if (m[i][j])
        c.links[i][j] = *m[i][j];
      else if (dflt)
        c.links[i][j] = *dflt;
      else
        return Bad("links", "no link between '" + c.devices[i].name + "' and '" +
                                c.devices[j].name + "' and no default_link");
    }
  SL_RETURN_IF_ERROR(c.Validate());
  return c;
}

}  // namespace

StatusOr<Cluster> ParseDevicesJson(std::string_view text) {
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("devices file: not valid JSON: ") + e.what());
  }
  try {
    return ParseRoot(root);
  } catch (const json::exception& e) {  // defensive: every access above is checked first
    return InvalidArgument(std::string("devices file: ") + e.what());
  }
}

json PlanToJson(const Plan& plan, const Cluster& cluster) {
  json j;
  j["objective"] = std::string(ObjectiveName(plan.objective));
  j["method"] = plan.method;
  j["exact"] = plan.exact;
  j["latency_ms"] = plan.latency_seconds * 1e3;
  j["tokens_per_s"] = plan.tokens_per_second;
  j["pipelines"] = json::array();
  for (const Pipeline& p : plan.pipelines) {
    json jp;
    jp["tokens_per_s"] = p.tokens_per_second();
    jp["latency_ms"] = p.latency_seconds * 1e3;
    jp["bottleneck_ms"] = p.bottleneck_seconds * 1e3;
    jp["streams_in_flight"] = p.streams_in_flight;
    jp["receive_ms"] = p.receive_seconds * 1e3;
    jp["stages"] = json::array();
    for (const Stage& s : p.stages)
      jp["stages"].push_back({{"device", cluster.devices[s.device].name},
                              {"first_layer", s.first_layer},
                              {"last_layer", s.last_layer},
                              {"memory_bytes", s.memory_bytes},
                              {"compute_ms", s.compute_seconds * 1e3},
                              {"send_ms", s.send_seconds * 1e3},
                              {"busy_ms", s.busy_seconds * 1e3},
                              {"fits", s.fits}});
    j["pipelines"].push_back(std::move(jp));
  }
  j["excluded"] = json::array();
  for (const Exclusion& e : plan.excluded)
    j["excluded"].push_back({{"device", cluster.devices[e.device].name}, {"reason", e.reason}});
  return j;
}

}  // namespace suanli::placement
