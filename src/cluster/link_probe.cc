#include "cluster/link_probe.h"

#include <algorithm>

#include "base/timer.h"

namespace suanli::cluster {

StatusOr<LinkMeasurement> ProbeLink(Channel& ch, ClientSession& session, uint32_t max_bytes) {
  LinkMeasurement m;
  auto ping = [&](uint32_t bytes, double* seconds) -> Status {
    const CallOptions o = session.Sign("Ping", 10.0 + bytes / 1e5);
    v1::PingRequest req;
    req.set_payload(std::string(bytes, '\x5a'));
    v1::PingReply reply;
    const double t0 = NowSeconds();
    Status s = ch.Call("Ping", o, req, &reply);
    *seconds = NowSeconds() - t0;
    return s.WithContext("ping");
  };
  double t = 0;
  SL_RETURN_IF_ERROR(ping(0, &t));  // warm-up: connection set-up is not the link's RTT
  m.rtt_seconds = 1e9;
  for (int i = 0; i < 5; ++i) {
    SL_RETURN_IF_ERROR(ping(0, &t));
    m.rtt_seconds = std::min(m.rtt_seconds, t);
  }
  uint32_t bytes = 256u << 10;
  for (;;) {
    double best = 0;
    for (int i = 0; i < 2; ++i) {
      SL_RETURN_IF_ERROR(ping(bytes, &t));
      const double transfer = std::max(t - m.rtt_seconds, 1e-6);
      best = std::max(best, bytes / transfer);
      if (t > 0.5) break;  // slow link: one sample is enough
    }
    m.bytes_per_second = best;
    if (t > 0.05 || bytes >= max_bytes) break;
    bytes = std::min(max_bytes, bytes * 4);
  }
  return m;
}

}  // namespace suanli::cluster
