#include "server/metrics.h"

#include <cmath>
#include <cstdio>

namespace suanli::server {

namespace {

std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Label values escape backslash, double quote and newline.
std::string Escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"')
      o += '\\', o += c;
    else if (c == '\n')
      o += "\\n";
    else
      o += c;
  }
  return o;
}

}  // namespace

std::string Metrics::LabelText(const Labels& labels) {
  std::string s;
  for (const auto& [k, v] : labels) {
    if (!s.empty()) s += ',';
    s += k + "=\"" + Escape(v) + "\"";
  }
  return s;
}

void Metrics::DeclareCounter(const std::string& name, const std::string& help) {
  std::lock_guard<std::mutex> lock(mu_);
  families_[name].kind = Kind::kCounter;
  families_[name].help = help;
}

void Metrics::DeclareGauge(const std::string& name, const std::string& help) {
  std::lock_guard<std::mutex> lock(mu_);
  families_[name].kind = Kind::kGauge;
  families_[name].help = help;
}

void Metrics::DeclareHistogram(const std::string& name, const std::string& help,
                               std::vector<double> buckets) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = families_[name];
  f.kind = Kind::kHistogram;
  f.help = help;
  f.bounds = std::move(buckets);
}

void Metrics::Add(const std::string& name, double v, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  families_[name].series[LabelText(labels)].value += v;
}

void Metrics::Set(const std::string& name, double v, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  families_[name].series[LabelText(labels)].value = v;
}

void Metrics::Observe(const std::string& name, double v, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = families_[name];
  Series& s = f.series[LabelText(labels)];
  if (s.buckets.size() != f.bounds.size()) s.buckets.assign(f.bounds.size(), 0);
  for (size_t i = 0; i < f.bounds.size(); ++i)
    if (v <= f.bounds[i]) {
      ++s.buckets[i];
      break;
    }
  s.value += v;
  ++s.count;
}

void Metrics::ClearSeries(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.series.clear();
}

double Metrics::Value(const std::string& name, const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto s = f->second.series.find(LabelText(labels));
  if (s == f->second.series.end()) return 0;
  return f->second.kind == Kind::kHistogram ? static_cast<double>(s->second.count)
                                            : s->second.value;
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.kind == Kind::kCounter ? "counter"
                       : f.kind == Kind::kGauge ? "gauge"
                                                : "histogram";
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [label_text, s] : f.series) {
      const std::string& labels = label_text;  // (clang 14 cannot capture structured bindings)
      auto with = [&labels](const std::string& extra) {
        std::string l = labels;
        if (!extra.empty()) l += (l.empty() ? "" : ",") + extra;
        return l.empty() ? std::string() : "{" + l + "}";
      };
      if (f.kind != Kind::kHistogram) {
        out += name + with("") + " " + Num(s.value) + "\n";
        continue;
      }
      uint64_t cum = 0;
      for (size_t i = 0; i < f.bounds.size(); ++i) {
        cum += i < s.buckets.size() ? s.buckets[i] : 0;
        out += name + "_bucket" + with("le=\"" + Num(f.bounds[i]) + "\"") + " " +
               Num(static_cast<double>(cum)) + "\n";
      }
      out +=
          name + "_bucket" + with("le=\"+Inf\"") + " " + Num(static_cast<double>(s.count)) + "\n";
      out += name + "_sum" + with("") + " " + Num(s.value) + "\n";
      out += name + "_count" + with("") + " " + Num(static_cast<double>(s.count)) + "\n";
    }
  }
  return out;
}

}  // namespace suanli::server
