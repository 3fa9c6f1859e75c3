#include "cluster/device_profile.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace suanli {
namespace {

namespace fs = std::filesystem;

class FakeRoot {
 public:
  FakeRoot() {
    dir_ = fs::path(::testing::TempDir()) /
           ("suanli-profile-" + std::to_string(getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~FakeRoot() { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  std::string path() const { return dir_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
};

TEST(Battery, DischargingLaptop) {
  FakeRoot r;
  r.Write("class/power_supply/BAT0/type", "Battery\n");
  r.Write("class/power_supply/BAT0/capacity", "45\n");
  r.Write("class/power_supply/BAT0/status", "Discharging\n");
  r.Write("class/power_supply/AC/type", "Mains\n");
  r.Write("class/power_supply/AC/online", "0\n");
  BatteryState b = ReadBattery(r.path());
  EXPECT_TRUE(b.present);
  EXPECT_DOUBLE_EQ(b.level, 0.45);
  EXPECT_FALSE(b.charging);
}

TEST(Battery, PluggedInCountsAsChargingAndLowestBatteryWins) {
  FakeRoot r;
  r.Write("class/power_supply/BAT0/type", "Battery");
  r.Write("class/power_supply/BAT0/capacity", "80");
  r.Write("class/power_supply/BAT0/status", "Not charging");
  r.Write("class/power_supply/BAT1/type", "Battery");
  r.Write("class/power_supply/BAT1/capacity", "30");
  r.Write("class/power_supply/BAT1/status", "Not charging");
  r.Write("class/power_supply/ADP1/type", "Mains");
  r.Write("class/power_supply/ADP1/online", "1");
  BatteryState b = ReadBattery(r.path());
  EXPECT_DOUBLE_EQ(b.level, 0.30);
  EXPECT_TRUE(b.charging);
}

TEST(Battery, DesktopHasNone) {
  FakeRoot r;
  EXPECT_FALSE(ReadBattery(r.path()).present);
  r.Write("class/power_supply/BAT0/type", "Battery");
  r.Write("class/power_supply/BAT0/capacity", "garbage");
  EXPECT_FALSE(ReadBattery(r.path()).present);
}

TEST(Battery, Termux) {
  auto b = ParseTermuxBattery(
      R"({"health":"GOOD","percentage":64,"plugged":"UNPLUGGED","status":"DISCHARGING","temperature":31.5})");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->present);
  EXPECT_DOUBLE_EQ(b->level, 0.64);
  EXPECT_FALSE(b->charging);
  auto c = ParseTermuxBattery(R"({"percentage":100,"plugged":"PLUGGED_AC","status":"FULL"})");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->charging);
  EXPECT_FALSE(ParseTermuxBattery("not json").ok());
  EXPECT_FALSE(ParseTermuxBattery(R"({"percentage":"high"})").ok());
}

TEST(Thermal, HottestZoneAndTripPoints) {
  FakeRoot r;
  r.Write("class/thermal/thermal_zone0/temp", "45000");
  r.Write("class/thermal/thermal_zone0/trip_point_0_type", "passive");
  r.Write("class/thermal/thermal_zone0/trip_point_0_temp", "85000");
  r.Write("class/thermal/thermal_zone1/temp", "61500");
  r.Write("class/thermal/thermal_zone1/trip_point_0_type", "active");
  r.Write("class/thermal/thermal_zone1/trip_point_0_temp", "50000");
  ThermalState t = ReadThermal(r.path());
  EXPECT_TRUE(t.known);
  EXPECT_DOUBLE_EQ(t.max_temp_c, 61.5);
  EXPECT_FALSE(t.throttled);  // an active (fan) trip is not throttling
  r.Write("class/thermal/thermal_zone2/temp", "90000");
  r.Write("class/thermal/thermal_zone2/trip_point_0_type", "passive");
  r.Write("class/thermal/thermal_zone2/trip_point_0_temp", "88000");
  EXPECT_TRUE(ReadThermal(r.path()).throttled);
}

TEST(Meminfo, Parses) {
  uint64_t total = 0, avail = 0;
  ASSERT_TRUE(ParseMeminfo("MemTotal:       2048 kB\nMemFree: 100 kB\nMemAvailable:  1024 kB\n",
                           &total, &avail)
                  .ok());
  EXPECT_EQ(total, 2048u * 1024);
  EXPECT_EQ(avail, 1024u * 1024);
  ASSERT_TRUE(ParseMeminfo("MemTotal: 10 kB\nMemFree: 2 kB\nCached: 3 kB\n", &total, &avail).ok());
  EXPECT_EQ(avail, 5u * 1024);
  EXPECT_FALSE(ParseMeminfo("nothing here", &total, &avail).ok());
}

TEST(Hash, Sha256AndModelDirCache) {
  FakeRoot r;
  r.Write("models/a.gguf", "abc");
  r.Write("models/notes.txt", "ignored");
  auto h = Sha256File(r.path() + "/models/a.gguf");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(Sha256File(r.path() + "/missing.gguf").ok());

  fs::create_directories(r.path() + "/cache");
  auto scan = ScanModelDir(r.path() + "/models", r.path() + "/cache");
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  ASSERT_EQ(scan->size(), 1u);
  EXPECT_EQ((*scan)[0].sha256, *h);
  EXPECT_EQ((*scan)[0].size, 3u);
  // The cache is trusted while size and mtime match: plant a marker hash to see it used.
  std::string cache_text;
  {
    std::ifstream in(r.path() + "/cache/model-hashes.json");
    cache_text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t at = cache_text.find(*h);
  ASSERT_NE(at, std::string::npos);
  cache_text.replace(at, h->size(), std::string(64, 'f'));
  std::ofstream(r.path() + "/cache/model-hashes.json") << cache_text;
  EXPECT_EQ((*ScanModelDir(r.path() + "/models", r.path() + "/cache"))[0].sha256,
            std::string(64, 'f'));
  // A changed file is hashed again.
  r.Write("models/a.gguf", "abcd");
  EXPECT_NE((*ScanModelDir(r.path() + "/models", r.path() + "/cache"))[0].sha256,
            std::string(64, 'f'));
  EXPECT_FALSE(ScanModelDir(r.path() + "/none", r.path() + "/cache").ok());
}

TEST(Profile, JsonRoundTripAndHostileInput) {
  DeviceProfile p;
  p.hostname = "phone-1";
  p.os = "Android";
  p.arch = "aarch64";
  p.cpu_model = "Cortex";
  p.kernels = "neon-dotprod";
  p.cores = 8;
  p.threads = 4;
  p.total_ram_bytes = 8ull << 30;
  p.available_ram_bytes = 3ull << 30;
  p.mem_bandwidth_gbs = 12.5;
  p.speed["Q4_0"] = {10.0, 55.0};
  p.battery = {true, 0.5, false};
  p.thermal = {true, 41.0, false};
  p.models.push_back({"/m/x.gguf", std::string(64, 'a'), 123});
  auto q = ProfileFromJson(ProfileToJson(p));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(ProfileToJson(*q), ProfileToJson(p));
  EXPECT_FALSE(ProfileFromJson("[1,2]").ok());
  Status s = ProfileFromJson(R"({"hostname": 5})").status();
  EXPECT_FALSE(s.ok());
  std::string bad = ProfileToJson(p);
  bad.replace(bad.find("\"cores\": 8"), 10, "\"cores\": -3");
  EXPECT_FALSE(ProfileFromJson(bad).ok());
}

TEST(Profile, MeasuresOnceAndCachesUnderALock) {
  FakeRoot r;
  ProfileOptions o;
  o.threads = 1;
  o.seconds_per_kernel = 0.001;
  o.bandwidth_bytes = 8u << 20;
  o.matvec_bytes = 8u << 20;
  o.sys_root = r.path();  // no battery, no thermal zones
  StatusOr<DeviceProfile> a = InvalidArgument("unset"), b = InvalidArgument("unset");
  // Two workers starting together: one measures, the other waits and reuses its result.
  std::thread t1([&] { a = LoadOrMeasureProfile(o, r.path(), 3600); });
  std::thread t2([&] { b = LoadOrMeasureProfile(o, r.path(), 3600); });
  t1.join();
  t2.join();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_GT(a->mem_bandwidth_gbs, 0);
  EXPECT_EQ(a->mem_bandwidth_gbs, b->mem_bandwidth_gbs);
  EXPECT_GT(a->speed.at("Q4_0").matvec_gbs, 0);
  EXPECT_GT(a->speed.at("Q8_0").matmul_gflops, 0);
  EXPECT_FALSE(a->battery.present);
  EXPECT_GT(a->total_ram_bytes, 0u);
  EXPECT_TRUE(fs::exists(r.path() + "/profile-t1.json"));
}

}  // namespace
}  // namespace suanli
