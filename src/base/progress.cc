#include "base/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "base/timer.h"

namespace suanli {

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

std::string HumanDuration(double s) {
  char buf[32];
  if (s < 1e-3)
    std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  else if (s < 1)
    std::snprintf(buf, sizeof buf, "%.1f ms", s * 1e3);
  else if (s < 120)
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  return buf;
}

ProgressBar::ProgressBar(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total), start_(NowSeconds()) {
  const char* env = std::getenv("SUANLI_PROGRESS");
  enabled_ = (env && env[0] == '1') || (isatty(STDERR_FILENO) && !(env && env[0] == '0'));
}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(uint64_t done) {
  if (!enabled_ || finished_) return;
  double now = NowSeconds();
  if (done < total_ && now - last_draw_ < 0.1) return;
  last_draw_ = now;
  double frac = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  if (frac > 1) frac = 1;
  const int width = 30;
  int fill = static_cast<int>(frac * width);
  std::string bar(fill, '#');
  bar.append(width - fill, '.');
  double el = now - start_;
  std::fprintf(stderr, "\r%s [%s] %5.1f%% %s / %s  %s", label_.c_str(), bar.c_str(), frac * 100,
               HumanBytes(static_cast<double>(done)).c_str(),
               HumanBytes(static_cast<double>(total_)).c_str(), HumanDuration(el).c_str());
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (!enabled_ || finished_) return;
  Update(total_);
  finished_ = true;
  std::fprintf(stderr, "\n");
}

}  // namespace suanli
