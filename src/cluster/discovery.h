// LAN discovery: `suanli worker --announce` answers UDP multicast queries; `--discover` on the
// head sends one and collects the answers for a moment.
//
//   query  (head → 239.255.42.99:47077): "suanli-discover-v1"
//   answer (worker → the query's sender, unicast): "suanli-worker-v1 <port>"
// The head joins the answer's source address with the port. Discovery only names candidates:
// the pool token still decides who is let in. SUANLI_DISCOVERY_PORT overrides the port (tests).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "suanli/status.h"

namespace suanli::cluster {

class Announcer {
 public:
  // Listens on the multicast group; answers with the port of `listen_address`.
  static StatusOr<std::unique_ptr<Announcer>> Start(const std::string& listen_address);
  ~Announcer();
  void Stop();

 private:
  Announcer() = default;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// host:port of every worker that answered within `seconds`.
StatusOr<std::vector<std::string>> DiscoverWorkers(double seconds);

}  // namespace suanli::cluster
