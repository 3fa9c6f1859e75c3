// DeviceProfile: what a worker tells the head about itself, so placement can decide what it runs.
//
// Static facts (cores, memory, OS/arch), power state (battery level and charging, from Linux
// /sys/class/power_supply or Termux's termux-battery-status on Android), thermal state (thermal
// zones), measured speeds (memory read bandwidth, matrix-vector and matrix-matrix throughput per
// tensor type), and the GGUF files it holds, by content hash. Reading /sys and /proc takes a root
// directory so tests run on fake trees.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "suanli/status.h"

namespace suanli {

struct BatteryState {
  bool present = false;  // false: mains-powered (desktop, server) or unknown
  double level = 1.0;    // 0..1
  bool charging = false;
};

struct ThermalState {
  bool known = false;
  double max_temp_c = 0;   // hottest zone
  bool throttled = false;  // a zone at or above its first passive/critical trip point
};

struct ModelFileInfo {
  std::string path;
  std::string sha256;  // hex
  uint64_t size = 0;
};

struct KernelSpeed {
  double matvec_gbs = 0;     // weight bytes streamed per second, one token (decode)
  double matmul_gflops = 0;  // many tokens (prefill)
};

struct DeviceProfile {
  std::string hostname;
  // This boot of this host (/proc/sys/kernel/random/boot_id): workers that share it share the
  // host's free memory, which each of them reports in full.
  std::string host_id;
  std::string os;    // "Linux 6.1.0", "Android"
  std::string arch;  // "x86_64", "aarch64"
  std::string cpu_model;
  std::string kernels;  // kernel variant in use ("avx512-vnni", "neon-dotprod", ...)
  int cores = 1;
  int threads = 1;  // threads the worker computes with
  uint64_t total_ram_bytes = 0;
  uint64_t available_ram_bytes = 0;
  double mem_bandwidth_gbs = 0;
  std::map<std::string, KernelSpeed> speed;  // by tensor type name ("Q4_0")
  BatteryState battery;
  ThermalState thermal;
  std::vector<ModelFileInfo> models;
};

// Battery from <root>/class/power_supply/*/{type,capacity,status}; root is usually "/sys".
BatteryState ReadBattery(const std::string& sys_root);
// Parses the JSON that Termux's termux-battery-status prints (Android).
StatusOr<BatteryState> ParseTermuxBattery(const std::string& json);
// Thermal zones from <root>/class/thermal/thermal_zone*/{temp,trip_point_*_temp,trip_point_*_type}.
ThermalState ReadThermal(const std::string& sys_root);
// MemTotal and MemAvailable from a /proc/meminfo text.
Status ParseMeminfo(const std::string& text, uint64_t* total, uint64_t* available);

// SHA-256 of a file's contents, hex. Streams the file; errors name it.
StatusOr<std::string> Sha256File(const std::string& path);
// Sha256File through the hash cache in cache_dir (keyed by path, size and mtime).
StatusOr<std::string> Sha256FileCached(const std::string& path, const std::string& cache_dir);
// Every *.gguf directly inside dir, hashed. Hashes are cached beside the profile cache by
// (path, size, mtime) so a restart does not re-read gigabytes.
StatusOr<std::vector<ModelFileInfo>> ScanModelDir(const std::string& dir,
                                                  const std::string& cache_dir);

struct ProfileOptions {
  int threads = 0;                  // 0: all cores
  double seconds_per_kernel = 0.2;  // measurement budget per tensor type and shape
  size_t bandwidth_bytes = 256u << 20;
  // Weight bytes of the decode measurement's matrix; 0: twice the last-level cache (at least
  // 64 MiB, at most 1 GiB), so the weights stream from memory as a real model's do.
  size_t matvec_bytes = 0;
  std::string sys_root = "/sys";
  std::string proc_root = "/proc";
};
// Measures this device. Speeds use the same kernels inference uses, on synthetic matrices.
StatusOr<DeviceProfile> MeasureProfile(const ProfileOptions& opts);

// The measured part of a profile is cached per host and thread count in cache_dir: a fresh
// cache (same CPU, same threads, younger than max_age_s) is reused; otherwise the measurement
// runs under an exclusive host-wide file lock ($TMPDIR/suanli-profile.lock), so workers started
// together on one host (whatever their cache directories) take turns instead
// of skewing each other's numbers. Power, thermal and memory state are always read fresh.
StatusOr<DeviceProfile> LoadOrMeasureProfile(const ProfileOptions& opts,
                                             const std::string& cache_dir, double max_age_s);

// JSON round trip (profile cache, `suanli worker --print-profile`, tests).
std::string ProfileToJson(const DeviceProfile& p);
StatusOr<DeviceProfile> ProfileFromJson(const std::string& json);

}  // namespace suanli
