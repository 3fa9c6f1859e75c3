// Progress bars and human-readable units for long work (loading, synthesizing, streaming).
#pragma once

#include <cstdint>
#include <string>

namespace suanli {

// "1.23 GiB", "512 B".
std::string HumanBytes(double bytes);
// "3.4 ms", "1.2 s", "2m05s".
std::string HumanDuration(double seconds);

// A one-line bar on stderr, redrawn at most ~10 times a second; silent when stderr is not a
// terminal (logs stay clean) unless SUANLI_PROGRESS=1.
class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total);
  ~ProgressBar();
  void Update(uint64_t done);
  void Finish();

 private:
  std::string label_;
  uint64_t total_;
  double start_;
  double last_draw_ = 0;
  bool enabled_;
  bool finished_ = false;
};

}  // namespace suanli
