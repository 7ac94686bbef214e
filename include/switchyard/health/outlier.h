#pragma once
// Passive outlier detection (pools[].outlier_detection).
//
// Workers report the outcome of every attempt on a backend (reportSuccess/reportFailure, any
// worker thread, lock-free: a relaxed fetch_add on the backend's failure streak and, once the
// streak reaches consecutive_failures, a compare-exchange that claims the ejection). At most
// maxEjected() backends of a pool are ejected at once. The main loop then times each ejection
// (EjectionTimer): base_ejection_time x the backend's ejection multiplier, capped at
// max_ejection_time, after which the backend is readmitted (as it is by a passing active check).

#include <cstddef>
#include <cstdint>

#include "switchyard/config/config.h"
#include "switchyard/upstream/backend.h"

namespace sy::health {

// What became of one live attempt on a backend.
enum class Outcome : uint8_t {
  kSuccess = 0,
  kConnectFailure,   // refused, unreachable or connect timeout
  kReset,            // closed or reset before the response was complete
  kTimeout,          // no response head within upstream_response
  kServerError,      // answered 5xx
  kInvalidResponse,  // malformed response head
};
const char* outcomeName(Outcome o);

// Worker side. `b` must belong to `set`. Cheap when nothing changes (a relaxed load).
void reportSuccess(upstream::Backend& b);
// Returns true when this failure ejected the backend. Does nothing unless the pool has
// outlier_detection.
bool reportFailure(upstream::Backend& b, const upstream::BackendSet& set, Outcome o);

// How many backends of a pool of `poolSize` may be ejected at once: max_ejection_percent of
// it, rounded down, but at least one.
uint32_t maxEjected(size_t poolSize, double maxEjectionPercent);
// Length of an ejection with the given multiplier (>= 1): base x multiplier, capped.
config::Duration ejectionTime(const config::OutlierDetection& od, uint32_t multiplier);

// Main loop side: the ejection clock of one backend. The multiplier grows by one with each
// ejection and shrinks by one for every base_ejection_time the backend spends admitted, so a
// backend that keeps failing stays out longer and longer (up to max_ejection_time) and one
// that recovered for good starts from base_ejection_time again.
class EjectionTimer {
 public:
  enum class Event : uint8_t {
    kNone,
    kEjected,  // a worker ejected the backend since the last tick; until() is set
    kExpired,  // the ejection time is over: readmit, then call readmitted()
  };
  // Called periodically (main loop) with the current time in ms.
  Event tick(const upstream::Backend& b, const config::OutlierDetection& od, uint64_t nowMs);
  // The backend was readmitted (timer expired or a passing active check).
  void readmitted(uint64_t nowMs);

  bool ejected() const { return ejected_; }
  uint32_t multiplier() const { return multiplier_; }
  uint64_t until() const { return until_; }

 private:
  bool ejected_ = false;
  uint32_t multiplier_ = 0;
  uint64_t seenEjections_ = 0;  // backend's ejection count when last looked at
  uint64_t until_ = 0;
  uint64_t since_ = 0;  // start of the current ejection, or of the current admitted period
};

}  // namespace sy::health
