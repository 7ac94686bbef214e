#pragma once
// The standard process_* values (as the official Prometheus clients export them on Linux), read
// from /proc and getrusage at scrape time. Main thread (scrape) only; not for the request path.

#include <cstdint>

namespace sy::metrics {

struct ProcessStats {
  double cpuSeconds = 0;         // user + system
  uint64_t residentBytes = 0;
  uint64_t virtualBytes = 0;
  uint64_t openFds = 0;
  uint64_t maxFds = 0;
  double startTimeSeconds = 0;   // unix time the process started
};

ProcessStats readProcessStats();

}  // namespace sy::metrics
