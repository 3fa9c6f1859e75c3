// Clock: where the head, the pipeline client, the sessions and the fake network read time and
// wait for it, so tests (and a simulator) can run them in virtual time. Clock::Real() is
// std::chrono::steady_clock; ManualClock stands still until Advance moves it, and its waits
// return once it has moved past their deadline (they poll, so a waiter sees an Advance within
// about a millisecond of real time).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace suanli {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // As cv.wait_until(lock, deadline) in this clock's time: returns when notified (or
  // spuriously), or once Now() >= deadline.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         TimePoint deadline) const = 0;
  // Sleeps until Now() >= deadline.
  virtual void SleepUntil(TimePoint deadline) const = 0;

  // Waits until pred() holds (true) or the deadline passes (pred() then).
  template <typename Pred>
  bool Await(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, TimePoint deadline,
             Pred pred) const {
    while (!pred()) {
      if (Now() >= deadline) return pred();
      WaitUntil(cv, lock, deadline);
    }
    return true;
  }

  TimePoint After(double seconds) const { return Now() + ToDuration(seconds); }
  void WaitFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
               double seconds) const {
    WaitUntil(cv, lock, After(seconds));
  }
  void SleepFor(double seconds) const { SleepUntil(After(seconds)); }
  double SecondsSince(TimePoint t) const {
    return std::chrono::duration<double>(Now() - t).count();
  }
  static Duration ToDuration(double seconds) {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  }

  // steady_clock.
  static const Clock& Real();
};

class ManualClock final : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(Duration(now_.load())); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline) const override;
  void SleepUntil(TimePoint deadline) const override;
  void Advance(double seconds) { now_ += ToDuration(seconds).count(); }

 private:
  std::atomic<Duration::rep> now_{ToDuration(1000).count()};  // not 0: "never" stays before it
};

}  // namespace suanli
