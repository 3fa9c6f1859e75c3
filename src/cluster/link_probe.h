// Measures a link to a worker: round-trip time (smallest of several empty Pings) and bandwidth
// (a large Ping payload, its time minus one RTT). Used by the head for head→worker links and by a
// worker for ProbePeer (worker→worker).
#pragma once

#include <cstdint>

#include "cluster/session.h"
#include "cluster/transport.h"
#include "suanli/cluster/v1/worker.pb.h"

namespace suanli::cluster {

struct LinkMeasurement {
  double rtt_seconds = 0;
  double bytes_per_second = 0;
};

// max_bytes caps the bandwidth payload (it starts at 256 KiB and grows while transfers are too
// short to time).
StatusOr<LinkMeasurement> ProbeLink(Channel& ch, ClientSession& session,
                                    uint32_t max_bytes = 8u << 20);

}  // namespace suanli::cluster
