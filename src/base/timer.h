// Monotonic time helpers.
#pragma once

#include <chrono>
#include <cstdint>

namespace suanli {

inline double NowSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace suanli
