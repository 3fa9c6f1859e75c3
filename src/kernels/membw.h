// Memory read bandwidth probe: the roofline that decode benchmarks are reported against.
#pragma once

#include <cstddef>

#include "base/thread_pool.h"

namespace suanli::kernels {

// Streams a `bytes`-sized buffer (split across all pool threads) `repeats` times and returns the
// best observed read bandwidth in GB/s (1e9 bytes per second).
double MeasureReadBandwidthGBs(ThreadPool& pool, size_t bytes, int repeats);

}  // namespace suanli::kernels
