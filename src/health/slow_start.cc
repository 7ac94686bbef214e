#include "switchyard/health/slow_start.h"

#include <algorithm>
#include <cmath>

namespace sy::health {

uint32_t steadyWeight(uint32_t weight, const config::Pool& pool) {
  return pool.slowStart.count() > 0 ? weight * kWeightScale : weight;
}

uint32_t slowStartWeight(uint32_t weight, uint64_t elapsedMs, uint64_t windowMs) {
  const uint32_t full = weight * kWeightScale;
  if (windowMs == 0 || elapsedMs >= windowMs) return full;
  const double progress = static_cast<double>(elapsedMs) / static_cast<double>(windowMs);
  const double share = kSlowStartMinShare + (1.0 - kSlowStartMinShare) * progress;
  const auto w = static_cast<uint32_t>(std::lround(share * full));
  return std::clamp<uint32_t>(w, 1, full);
}

}  // namespace sy::health
