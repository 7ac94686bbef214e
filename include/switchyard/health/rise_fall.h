#pragma once
// Rise/fall hysteresis of active health checks: a backend that is up goes down after `fall`
// failed checks in a row, and comes back after `rise` passed checks in a row. A result of the
// other kind resets the streak. Plain value type; main loop only.

#include <cstdint>

namespace sy::health {

class RiseFall {
 public:
  // Backends start up (healthy until their checks fail).
  RiseFall(uint32_t rise, uint32_t fall, bool up = true);

  // Records one check result; returns true when it changed up().
  bool record(bool pass);
  // A reload may change the thresholds; the current streak is kept.
  void setThresholds(uint32_t rise, uint32_t fall);

  bool up() const { return up_; }
  // Results in a row that count towards the next transition (failures while up, passes while
  // down); 0 right after a transition.
  uint32_t streak() const { return streak_; }

 private:
  uint32_t rise_;
  uint32_t fall_;
  bool up_;
  uint32_t streak_ = 0;
};

}  // namespace sy::health
