#include "switchyard/health/rise_fall.h"

namespace sy::health {

RiseFall::RiseFall(uint32_t rise, uint32_t fall, bool up)
    : rise_(rise ? rise : 1), fall_(fall ? fall : 1), up_(up) {}

void RiseFall::setThresholds(uint32_t rise, uint32_t fall) {
  rise_ = rise ? rise : 1;
  fall_ = fall ? fall : 1;
}

bool RiseFall::record(bool pass) {
  // While up, passes are the steady state and failures build a streak; while down, the reverse.
  const bool towardsChange = up_ ? !pass : pass;
  if (!towardsChange) {
    streak_ = 0;
    return false;
  }
  ++streak_;
  if (streak_ < (up_ ? fall_ : rise_)) return false;
  up_ = !up_;
  streak_ = 0;
  return true;
}

}  // namespace sy::health
