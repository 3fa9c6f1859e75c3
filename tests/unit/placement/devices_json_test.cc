// The devices file: a full example parses; hostile input gets an error naming the field.
#include <gtest/gtest.h>

#include <random>

#include "placement/devices_json.h"

namespace suanli::placement {
namespace {

constexpr const char* kExample = R"({
  "devices": [
    {"name": "laptop", "is_head": true, "memory_gib": 12, "bandwidth_gbs": 40, "gflops": 300},
    {"name": "desktop", "memory_bytes": 34359738368, "bandwidth_gbs": 60,
     "measured_layer": {"ms": 0.5, "bytes": 28311552}},
    {"name": "phone-1", "memory_gib": 6, "bandwidth_gbs": 25,
     "battery": {"level": 0.8, "charging": false}, "thermal_throttled": false}
  ],
  "links": [
    {"a": "laptop", "b": "phone-1", "rtt_ms": 30, "mbps": 40},
    {"a": "desktop", "b": "phone-1", "rtt_ms": 35, "mbps": 20}
  ],
  "default_link": {"rtt_ms": 1, "mbps": 1000}
})";

TEST(DevicesJson, ParsesTheDocumentedExample) {
  auto c = ParseDevicesJson(kExample);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->devices.size(), 3u);
  EXPECT_EQ(c->head(), 0);
  EXPECT_EQ(c->devices[0].memory_bytes, 12ull << 30);
  EXPECT_DOUBLE_EQ(c->devices[0].bandwidth, 40e9);
  EXPECT_DOUBLE_EQ(c->devices[0].flops, 300e9);
  EXPECT_EQ(c->devices[1].memory_bytes, 32ull << 30);
  EXPECT_DOUBLE_EQ(c->devices[1].measured_layer_seconds, 0.5e-3);
  EXPECT_TRUE(c->devices[2].battery.present);
  EXPECT_DOUBLE_EQ(c->devices[2].battery.level, 0.8);
  // Links are symmetric; the rest use default_link.
  EXPECT_DOUBLE_EQ(c->links[2][0].rtt, 0.030);
  EXPECT_DOUBLE_EQ(c->links[0][2].bandwidth, 40e6 / 8);
  EXPECT_DOUBLE_EQ(c->links[0][1].rtt, 0.001);
  EXPECT_DOUBLE_EQ(c->links[1][0].bandwidth, 1000e6 / 8);
}

TEST(DevicesJson, ImplicitHead) {
  auto c = ParseDevicesJson(R"({"devices": [{"name": "a", "memory_gib": 1, "bandwidth_gbs": 5}],
                               "links": [{"a": "head", "b": "a", "rtt_ms": 2, "mbps": 100}]})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->devices.size(), 2u);
  EXPECT_EQ(c->devices[1].name, "head");
  EXPECT_FALSE(c->devices[1].runs_layers);
  EXPECT_EQ(c->head(), 1);
}

void ExpectError(const std::string& json, const std::string& field) {
  auto c = ParseDevicesJson(json);
  ASSERT_FALSE(c.ok()) << json;
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find(field), std::string::npos)
      << "want '" << field << "' in: " << c.status().message();
}

std::string One(const std::string& device_fields, const std::string& rest = "") {
  return R"({"default_link": {"rtt_ms": 1, "mbps": 100}, "devices": [{"name": "a", )" +
         device_fields + "}]" + rest + "}";
}

TEST(DevicesJson, HostileInputNamesTheField) {
  ExpectError("", "not valid JSON");
  ExpectError("{\"devices\": [", "not valid JSON");
  ExpectError("[]", "must be a JSON object");
  ExpectError("{}", "devices: missing");
  ExpectError(R"({"devices": {}})", "devices: must be an array");
  ExpectError(R"({"devices": []})", "at least one device");
  ExpectError(R"({"devices": [42]})", "devices[0]: must be an object");
  ExpectError(R"({"devices": [{"memory_gib": 1, "bandwidth_gbs": 1}]})", "devices[0].name");
  ExpectError(One(R"("memory_gib": "lots", "bandwidth_gbs": 1)"), "devices[0].memory_gib");
  ExpectError(One(R"("memory_gib": -1, "bandwidth_gbs": 1)"), "devices[0].memory_gib");
  ExpectError(One(R"("memory_gib": 1e400, "bandwidth_gbs": 1)"), "number overflow");
  ExpectError(One(R"("memory_gib": 1e300, "bandwidth_gbs": 1)"), "devices[0].memory_gib");
  ExpectError(One(R"("memory_bytes": -5, "bandwidth_gbs": 1)"), "devices[0].memory_bytes");
  ExpectError(One(R"("memory_bytes": 1.5, "bandwidth_gbs": 1)"), "devices[0].memory_bytes");
  ExpectError(One(R"("memory_bytes": 1, "memory_gib": 1, "bandwidth_gbs": 1)"), "memory_gib");
  ExpectError(One(R"("bandwidth_gbs": 1)"), "devices[0].memory_gib: missing");
  ExpectError(One(R"("memory_gib": 1)"), "devices[0].bandwidth_gbs: missing");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 0)"), "devices[0].bandwidth_gbs");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": -3)"), "devices[0].bandwidth_gbs");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1, "gflops": "fast")"), "devices[0].gflops");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1, "is_head": 1)"), "devices[0].is_head");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1, "battery": {"level": 1.5})"),
              "devices[0].battery.level");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1, "battery": true)"), "devices[0].battery");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1, "battery": {"charging": "yes"})"),
              "devices[0].battery.charging");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1, "measured_layer": {"ms": 1})"),
              "devices[0].measured_layer.bytes");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1, "memroy_gib": 2)"),
              "devices[0].memroy_gib: unknown field");
  ExpectError(R"({"default_link": {"rtt_ms": 1, "mbps": 100}, "devices": [
                 {"name": "a", "memory_gib": 1, "bandwidth_gbs": 1},
                 {"name": "a", "memory_gib": 1, "bandwidth_gbs": 1}]})",
              "devices[1].name: duplicate");
  ExpectError(R"({"default_link": {"rtt_ms": 1, "mbps": 100}, "devices": [
                 {"name": "a", "memory_gib": 1, "bandwidth_gbs": 1, "is_head": true},
                 {"name": "b", "memory_gib": 1, "bandwidth_gbs": 1, "is_head": true}]})",
              "devices[1].is_head");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1)",
                  R"(, "links": [{"a": "a", "b": "phone-9", "rtt_ms": 1, "mbps": 1}])"),
              "links[0].b: unknown device 'phone-9'");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1)",
                  R"(, "links": [{"a": 3, "b": "head", "rtt_ms": 1, "mbps": 1}])"),
              "links[0].a");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1)",
                  R"(, "links": [{"a": "a", "b": "head", "rtt_ms": -1, "mbps": 1}])"),
              "links[0].rtt_ms");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1)",
                  R"(, "links": [{"a": "a", "b": "head", "rtt_ms": 1}])"),
              "links[0].mbps: missing");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1)",
                  R"(, "links": [{"a": "a", "b": "a", "rtt_ms": 1, "mbps": 1}])"),
              "links[0]: links a device to itself");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1)",
                  R"(, "links": [{"a": "a", "b": "head", "rtt_ms": 1, "mbps": 1},
                                 {"a": "head", "b": "a", "rtt_ms": 1, "mbps": 1}])"),
              "links[1]: duplicate link");
  ExpectError(One(R"("memory_gib": 1, "bandwidth_gbs": 1)", R"(, "links": {})"),
              "links: must be an array");
  ExpectError(R"({"devices": [{"name": "a", "memory_gib": 1, "bandwidth_gbs": 1}]})",
              "no link between 'a' and 'head' and no default_link");
  ExpectError(R"({"devices": [{"name": "a", "memory_gib": 1, "bandwidth_gbs": 1}],
                  "default_link": {"rtt_ms": 1, "mbps": 0}})",
              "default_link.mbps");
  ExpectError(R"({"devices": [{"name": "head", "memory_gib": 1, "bandwidth_gbs": 1}],
                  "default_link": {"rtt_ms": 1, "mbps": 10}})",
              "devices[0].name: 'head' names the implicit head");
}

TEST(DevicesJson, MutatedInputNeverCrashes) {
  std::mt19937 rng(42);
  const std::string base = kExample;
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % s.size();
      const char kChars[] = "0123456789-.e\"{}[],:";
      switch (rng() % 3) {
        case 0:
          s[pos] = static_cast<char>(rng() % 128);
          break;
        case 1:
          s.erase(pos, 1 + rng() % 8);
          break;
        default:
          s = s.substr(0, pos) + kChars[rng() % 21] + s.substr(pos);
      }
      if (s.empty()) s.push_back('{');
    }
    auto c = ParseDevicesJson(s);
    parsed += c.ok();
    if (c.ok()) {
      EXPECT_TRUE(c->Validate().ok());
    }
  }
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace suanli::placement
