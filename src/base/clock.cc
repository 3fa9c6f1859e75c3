#include "base/clock.h"

#include <thread>

namespace suanli {

namespace {

class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline) const override {
    cv.wait_until(lock, deadline);
  }
  void SleepUntil(TimePoint deadline) const override { std::this_thread::sleep_until(deadline); }
};

constexpr auto kPoll = std::chrono::milliseconds(1);

}  // namespace

const Clock& Clock::Real() {
  static const RealClock clock;
  return clock;
}

void ManualClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            TimePoint deadline) const {
  if (Now() < deadline) cv.wait_for(lock, kPoll);  // the caller loops and looks again
}

void ManualClock::SleepUntil(TimePoint deadline) const {
  while (Now() < deadline) std::this_thread::sleep_for(kPoll);
}

}  // namespace suanli
