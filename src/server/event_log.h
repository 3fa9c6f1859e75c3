// The recent events the dashboard and /v1/pool/state show (loads, placements, errors, shutdown):
// a bounded ring, thread-safe.
#pragma once

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace suanli::server {

struct ServerEvent {
  double unix_seconds = 0;
  std::string kind;  // "load", "placement", "error", "request", "shutdown", "device"
  std::string message;
};

class EventLog {
 public:
  explicit EventLog(size_t capacity = 200) : capacity_(capacity) {}
  void Add(std::string kind, std::string message) {
    ServerEvent e;
    e.unix_seconds =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    e.kind = std::move(kind);
    e.message = std::move(message);
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
    while (events_.size() > capacity_) events_.pop_front();
  }
  std::vector<ServerEvent> Recent(size_t n) const {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t k = std::min(n, events_.size());
    return std::vector<ServerEvent>(events_.end() - static_cast<std::ptrdiff_t>(k), events_.end());
  }

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::deque<ServerEvent> events_;
};

}  // namespace suanli::server
