// The devices file of `suanli plan --devices` (schema in docs/cluster.md), and a plan as JSON.
//
//   {"devices": [{"name": "laptop", "is_head": true, "memory_gib": 12, "bandwidth_gbs": 40,
//                 "gflops": 300, "battery": {"level": 0.8, "charging": false},
//                 "thermal_throttled": false, "runs_layers": true,
//                 "measured_layer": {"ms": 0.7, "bytes": 27000000}}, ...],
//    "links": [{"a": "laptop", "b": "phone-1", "rtt_ms": 30, "mbps": 40}, ...],
//    "default_link": {"rtt_ms": 1, "mbps": 1000}}
// Links are symmetric. Without a device marked is_head, a head named "head" that runs no layers
// is added. Every error names the field ("devices[2].memory_gib: ...").
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

#include "suanli/placement.h"

namespace suanli::placement {

StatusOr<Cluster> ParseDevicesJson(std::string_view text);

nlohmann::json PlanToJson(const Plan& plan, const Cluster& cluster);

}  // namespace suanli::placement
