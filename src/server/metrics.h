// Metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges and
// histograms with labels, thread-safe, rendered by GET /metrics. The names the server exports
// are listed in docs/api.md.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace suanli::server {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Declares a family (its HELP and TYPE lines); buckets for histograms (upper bounds, ascending).
  void DeclareCounter(const std::string& name, const std::string& help);
  void DeclareGauge(const std::string& name, const std::string& help);
  void DeclareHistogram(const std::string& name, const std::string& help,
                        std::vector<double> buckets);

  void Add(const std::string& name, double v, const Labels& labels = {});
  void Set(const std::string& name, double v, const Labels& labels = {});
  void Observe(const std::string& name, double v, const Labels& labels = {});
  // Drops a family's series (gauges of devices that left), keeping the declaration.
  void ClearSeries(const std::string& name);

  std::string Render() const;
  double Value(const std::string& name, const Labels& labels = {}) const;  // tests

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Series {
    double value = 0;               // counter / gauge; histogram: sum
    uint64_t count = 0;             // histogram
    std::vector<uint64_t> buckets;  // histogram: observations <= bound (not cumulative)
  };
  struct Family {
    Kind kind = Kind::kCounter;
    std::string help;
    std::vector<double> bounds;
    std::map<std::string, Series> series;  // by rendered label set
  };
  static std::string LabelText(const Labels& labels);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace suanli::server
