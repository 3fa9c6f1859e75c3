#include "cluster/device_profile.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "base/mapped_file.h"
#include "base/timer.h"
#include "gguf/tensor_type.h"
#include "kernels/kernels.h"
#include "kernels/membw.h"

namespace suanli {
namespace {

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end == s.c_str()) return false;
  *out = v;
  return true;
}

}  // namespace

BatteryState ReadBattery(const std::string& sys_root) {
  BatteryState b;
  const std::string base = sys_root + "/class/power_supply/";
  bool on_mains = false;
  for (const std::string& name : ListDir(base)) {
    const std::string dir = base + name + "/";
    const std::string type = ReadSmallFile(dir + "type");
    if (type == "Battery") {
      double cap = 0;
      if (!ParseDouble(ReadSmallFile(dir + "capacity"), &cap)) continue;
      // Several batteries (some laptops): report the lowest, the one that runs out first.
      const double level = std::clamp(cap / 100.0, 0.0, 1.0);
      b.level = b.present ? std::min(b.level, level) : level;
      b.present = true;
      const std::string status = ReadSmallFile(dir + "status");
      if (status == "Charging" || status == "Full") b.charging = true;
    } else if (type == "Mains" || type == "USB" || type == "USB_C" || type == "Wireless") {
      if (ReadSmallFile(dir + "online") == "1") on_mains = true;
    }
  }
  if (b.present && on_mains) b.charging = true;
  return b;
}

StatusOr<BatteryState> ParseTermuxBattery(const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return InvalidArgument("termux-battery-status: not a JSON object");
  BatteryState b;
  auto pct = j.find("percentage");
  if (pct == j.end() || !pct->is_number())
    return InvalidArgument("termux-battery-status: no numeric 'percentage'");
  b.present = true;
  b.level = std::clamp(pct->get<double>() / 100.0, 0.0, 1.0);
  auto status = j.find("status");
  auto plugged = j.find("plugged");
  if (status != j.end() && status->is_string())
    b.charging = *status == "CHARGING" || *status == "FULL";
  if (plugged != j.end() && plugged->is_string() && *plugged != "UNPLUGGED") b.charging = true;
  return b;
}

ThermalState ReadThermal(const std::string& sys_root) {
  ThermalState t;
  const std::string base = sys_root + "/class/thermal/";
  for (const std::string& name : ListDir(base)) {
    if (name.rfind("thermal_zone", 0) != 0) continue;
    const std::string dir = base + name + "/";
    double milli = 0;
    if (!ParseDouble(ReadSmallFile(dir + "temp"), &milli)) continue;
    const double c = milli / 1000.0;
    if (!t.known || c > t.max_temp_c) t.max_temp_c = c;
    t.known = true;
    // The first passive (throttling) or hot/critical trip point this zone has reached.
    for (int i = 0; i < 32; ++i) {
      const std::string type = ReadSmallFile(dir + "trip_point_" + std::to_string(i) + "_type");
      if (type.empty()) break;
      double trip = 0;
      if (!ParseDouble(ReadSmallFile(dir + "trip_point_" + std::to_string(i) + "_temp"), &trip))
        continue;
      if ((type == "passive" || type == "hot" || type == "critical") && trip > 0 && milli >= trip)
        t.throttled = true;
    }
  }
  return t;
}

Status ParseMeminfo(const std::string& text, uint64_t* total, uint64_t* available) {
  *total = *available = 0;
  std::istringstream in(text);
  std::string line;
  bool have_avail = false;
  uint64_t free_kb = 0, cached_kb = 0;
  while (std::getline(in, line)) {
    unsigned long long kb = 0;
    if (std::sscanf(line.c_str(), "MemTotal: %llu kB", &kb) == 1)
      *total = kb * 1024;
    else if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &kb) == 1) {
      *available = kb * 1024;
      have_avail = true;
    } else if (std::sscanf(line.c_str(), "MemFree: %llu kB", &kb) == 1)
      free_kb = kb;
    else if (std::sscanf(line.c_str(), "Cached: %llu kB", &kb) == 1)
      cached_kb = kb;
  }
  if (*total == 0) return InvalidArgument("meminfo: no MemTotal line");
  // Kernels before 3.14 have no MemAvailable: free + page cache approximates it.
  if (!have_avail) *available = (free_kb + cached_kb) * 1024;
  return Status::Ok();
}

StatusOr<std::string> Sha256File(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(path + ": cannot open: " + std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    ::close(fd);
    return Internal("SHA-256 unavailable");
  }
  std::vector<unsigned char> buf(4 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return IoError(path + ": read failed: " + std::strerror(e));
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

namespace {

// Hash cache: path -> {size, mtime, sha256}; a changed file is hashed again.
class HashCache {
 public:
  explicit HashCache(const std::string& cache_dir) : path_(cache_dir + "/model-hashes.json") {
    if (auto text = ReadFileToString(path_); text.ok()) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_object()) cache_ = j;
    }
  }
  ~HashCache() {
    if (!changed_) return;
    const std::string text = cache_.dump(1);
    (void)WriteFileAtomic(path_, text.data(), text.size());  // a cache: failure is harmless
  }
  StatusOr<std::string> Hash(const std::string& path, const struct stat& st) {
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    const int64_t mtime = static_cast<int64_t>(st.st_mtime);
    auto it = cache_.find(path);
    if (it != cache_.end() && it->is_object() && it->value("size", uint64_t{0}) == size &&
        it->value("mtime", int64_t{0}) == mtime && it->contains("sha256") &&
        (*it)["sha256"].is_string())
      return (*it)["sha256"].get<std::string>();
    SL_ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
    cache_[path] = {{"size", size}, {"mtime", mtime}, {"sha256", sha}};
    changed_ = true;
    return sha;
  }

 private:
  std::string path_;
  nlohmann::json cache_ = nlohmann::json::object();
  bool changed_ = false;
};

}  // namespace

StatusOr<std::string> Sha256FileCached(const std::string& path, const std::string& cache_dir) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return NotFound(path + ": cannot stat");
  HashCache cache(cache_dir);
  return cache.Hash(path, st);
}

StatusOr<std::vector<ModelFileInfo>> ScanModelDir(const std::string& dir,
                                                  const std::string& cache_dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return NotFound("model directory " + dir + " does not exist");
  HashCache cache(cache_dir);
  std::vector<ModelFileInfo> out;
  for (const std::string& name : ListDir(dir)) {
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".gguf") != 0) continue;
    const std::string path = dir + "/" + name;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    ModelFileInfo info{path, "", static_cast<uint64_t>(st.st_size)};
    SL_ASSIGN_OR_RETURN(info.sha256, cache.Hash(path, st));
    out.push_back(std::move(info));
  }
  return out;
}

namespace {

// Best-of timing of fn within a time budget (at least two runs).
template <typename F>
double BestSeconds(double budget, F&& fn) {
  double best = 1e30, start = NowSeconds();
  for (int i = 0; i < 2 || NowSeconds() - start < budget; ++i) {
    double t0 = NowSeconds();
    fn();
    best = std::min(best, NowSeconds() - t0);
    if (i > 1000) break;
  }
  return best;
}

size_t MatvecBytes(const ProfileOptions& o) {
  if (o.matvec_bytes > 0) return o.matvec_bytes;
  long llc = ::sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (llc <= 0) llc = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
  const size_t want = llc > 0 ? 2 * static_cast<size_t>(llc) : 0;
  return std::clamp<size_t>(want, 64u << 20, 1u << 30);
}

KernelSpeed MeasureKernel(ThreadPool& pool, TensorType t, double budget, size_t matvec_bytes) {
  // Decode: a matrix beyond the last-level cache, as a whole model is (k = 2048).
  const int64_t k = 2048;
  const size_t row_bytes = RowBytes(t, k);
  const int64_t rows = std::max<int64_t>(2048, static_cast<int64_t>(matvec_bytes / row_bytes));
  std::vector<float> src(static_cast<size_t>(k));
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  for (float& v : src) v = nd(rng);
  std::vector<uint8_t> w(row_bytes * static_cast<size_t>(rows));
  kernels::QuantizeRow(t, src.data(), w.data(), k);
  for (int64_t r = 1; r < rows; ++r) std::memcpy(&w[r * row_bytes], w.data(), row_bytes);
  kernels::Matrix m{t, w.data(), rows, k, row_bytes};
  const int64_t n_tok = 64;
  std::vector<float> x(static_cast<size_t>(k * n_tok));
  for (float& v : x) v = nd(rng);
  std::vector<float> y(static_cast<size_t>(std::max<int64_t>(rows, 2048 * n_tok)));
  std::vector<uint8_t> scratch;
  KernelSpeed s;
  const double tv =
      BestSeconds(budget, [&] { kernels::MatMul(pool, m, x.data(), 1, y.data(), scratch); });
  s.matvec_gbs = static_cast<double>(w.size()) / tv / 1e9;
  // Prefill: 64 tokens over a 2048 x 2048 block (cache-resident weights, compute bound).
  kernels::Matrix sq{t, w.data(), 2048, k, row_bytes};
  const double tm =
      BestSeconds(budget, [&] { kernels::MatMul(pool, sq, x.data(), n_tok, y.data(), scratch); });
  s.matmul_gflops = 2.0 * static_cast<double>(sq.rows) * k * n_tok / tm / 1e9;
  return s;
}

std::string CpuModel(const std::string& proc_root) {
  std::ifstream in(proc_root + "/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    for (const char* key : {"model name", "Hardware", "Processor"}) {
      if (line.rfind(key, 0) == 0) {
        auto colon = line.find(':');
        if (colon != std::string::npos) {
          std::string v = line.substr(colon + 1);
          v.erase(0, v.find_first_not_of(" \t"));
          if (!v.empty()) return v;
        }
      }
    }
  }
  return "unknown";
}

// Power, thermal and memory: read fresh every time a profile is produced.
void ReadLiveState(const ProfileOptions& o, DeviceProfile* p) {
  p->battery = ReadBattery(o.sys_root);
  if (!p->battery.present) {
    // Android under Termux hides /sys/class/power_supply; its API tool tells instead.
    if (std::FILE* f = ::popen("termux-battery-status 2>/dev/null", "r")) {
      std::string out;
      char buf[512];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      ::pclose(f);
      if (auto b = ParseTermuxBattery(out); b.ok()) p->battery = *b;
    }
  }
  p->thermal = ReadThermal(o.sys_root);
  if (auto mi = ReadFileToString(o.proc_root + "/meminfo"); mi.ok())
    (void)ParseMeminfo(*mi, &p->total_ram_bytes, &p->available_ram_bytes);
  if (auto id = ReadFileToString(o.proc_root + "/sys/kernel/random/boot_id"); id.ok()) {
    p->host_id = id->substr(0, id->find('\n'));
    if (p->host_id.size() > 64) p->host_id.resize(64);
  }
}

}  // namespace

StatusOr<DeviceProfile> MeasureProfile(const ProfileOptions& o) {
  DeviceProfile p;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) p.hostname = host;
  struct utsname u;
  if (::uname(&u) == 0) {
    p.os = std::string(u.sysname) + " " + u.release;
    p.arch = u.machine;
  }
  if (std::getenv("ANDROID_ROOT") || std::getenv("TERMUX_VERSION")) p.os = "Android (" + p.os + ")";
  p.cpu_model = CpuModel(o.proc_root);
  p.cores = ThreadPool::HardwareThreads();
  p.threads = o.threads > 0 ? o.threads : p.cores;
  p.kernels = kernels::ActiveVariant();
  ThreadPool pool(p.threads);
  p.mem_bandwidth_gbs = kernels::MeasureReadBandwidthGBs(pool, o.bandwidth_bytes, 3);
  for (TensorType t : {TensorType::kQ4_0, TensorType::kQ8_0, TensorType::kQ4_K, TensorType::kQ6_K,
                       TensorType::kQ5_0, TensorType::kQ5_K, TensorType::kF16})
    p.speed[std::string(TensorTypeName(t))] =
        MeasureKernel(pool, t, o.seconds_per_kernel, MatvecBytes(o));
  ReadLiveState(o, &p);
  return p;
}

std::string ProfileToJson(const DeviceProfile& p) {
  nlohmann::json j;
  j["hostname"] = p.hostname;
  j["host_id"] = p.host_id;
  j["os"] = p.os;
  j["arch"] = p.arch;
  j["cpu_model"] = p.cpu_model;
  j["kernels"] = p.kernels;
  j["cores"] = p.cores;
  j["threads"] = p.threads;
  j["total_ram_bytes"] = p.total_ram_bytes;
  j["available_ram_bytes"] = p.available_ram_bytes;
  j["mem_bandwidth_gbs"] = p.mem_bandwidth_gbs;
  nlohmann::json sp = nlohmann::json::object();
  for (const auto& [type, s] : p.speed)
    sp[type] = {{"matvec_gbs", s.matvec_gbs}, {"matmul_gflops", s.matmul_gflops}};
  j["speed"] = sp;
  j["battery"] = {
      {"present", p.battery.present}, {"level", p.battery.level}, {"charging", p.battery.charging}};
  j["thermal"] = {{"known", p.thermal.known},
                  {"max_temp_c", p.thermal.max_temp_c},
                  {"throttled", p.thermal.throttled}};
  nlohmann::json models = nlohmann::json::array();
  for (const ModelFileInfo& m : p.models)
    models.push_back({{"path", m.path}, {"sha256", m.sha256}, {"size", m.size}});
  j["models"] = models;
  return j.dump(1);
}

StatusOr<DeviceProfile> ProfileFromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("profile: not a JSON object");
  DeviceProfile p;
  try {
    p.hostname = j.at("hostname").get<std::string>();
    p.host_id = j.value("host_id", std::string());  // absent in profiles from older versions
    p.os = j.at("os").get<std::string>();
    p.arch = j.at("arch").get<std::string>();
    p.cpu_model = j.at("cpu_model").get<std::string>();
    p.kernels = j.at("kernels").get<std::string>();
    p.cores = j.at("cores").get<int>();
    p.threads = j.at("threads").get<int>();
    p.total_ram_bytes = j.at("total_ram_bytes").get<uint64_t>();
    p.available_ram_bytes = j.at("available_ram_bytes").get<uint64_t>();
    p.mem_bandwidth_gbs = j.at("mem_bandwidth_gbs").get<double>();
    for (const auto& [type, s] : j.at("speed").items())
      p.speed[type] = {s.at("matvec_gbs").get<double>(), s.at("matmul_gflops").get<double>()};
    const auto& b = j.at("battery");
    p.battery = {b.at("present").get<bool>(), b.at("level").get<double>(),
                 b.at("charging").get<bool>()};
    const auto& t = j.at("thermal");
    p.thermal = {t.at("known").get<bool>(), t.at("max_temp_c").get<double>(),
                 t.at("throttled").get<bool>()};
    for (const auto& m : j.at("models"))
      p.models.push_back({m.at("path").get<std::string>(), m.at("sha256").get<std::string>(),
                          m.at("size").get<uint64_t>()});
  } catch (const nlohmann::json::exception& e) {
    // nlohmann's message names the missing key or the type mismatch.
    return InvalidArgument(std::string("profile: ") + e.what());
  }
  if (p.cores < 1 || p.threads < 1 || !(p.mem_bandwidth_gbs >= 0) ||
      !std::isfinite(p.mem_bandwidth_gbs))
    return InvalidArgument("profile: cores, threads or mem_bandwidth_gbs out of range");
  return p;
}

StatusOr<DeviceProfile> LoadOrMeasureProfile(const ProfileOptions& o, const std::string& cache_dir,
                                             double max_age_s) {
  const int threads = o.threads > 0 ? o.threads : ThreadPool::HardwareThreads();
  const std::string path = cache_dir + "/profile-t" + std::to_string(threads) + ".json";
  const std::string cpu = CpuModel(o.proc_root);
  auto fresh_cache = [&]() -> StatusOr<DeviceProfile> {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return NotFound("no cached profile");
    if (static_cast<double>(std::time(nullptr) - st.st_mtime) > max_age_s)
      return NotFound("cached profile too old");
    SL_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
    SL_ASSIGN_OR_RETURN(DeviceProfile p, ProfileFromJson(text));
    if (p.cpu_model != cpu || p.threads != threads)
      return NotFound("cached profile is for another CPU");
    return p;
  };
  if (auto p = fresh_cache(); p.ok()) {
    ReadLiveState(o, &*p);
    return p;
  }
  // One measurement at a time per host: the lock serializes workers that start together, and
  // the second one finds the first one's fresh cache. The lock is host-wide (not in cache_dir):
  // workers with cache directories of their own must not measure at the same moment either.
  const char* tmp = std::getenv("TMPDIR");
  const std::string lock_path = std::string(tmp && *tmp ? tmp : "/tmp") + "/suanli-profile.lock";
  int fd = ::open(lock_path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(lock_path + ": cannot open: " + std::strerror(errno));
  while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  StatusOr<DeviceProfile> result = fresh_cache();
  if (!result.ok()) {
    result = MeasureProfile(o);
    if (result.ok()) {
      DeviceProfile cached = *result;
      cached.models.clear();  // the model list is scanned fresh each start
      const std::string text = ProfileToJson(cached);
      (void)WriteFileAtomic(path, text.data(), text.size());
    }
  } else {
    ReadLiveState(o, &*result);
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return result;
}

}  // namespace suanli
