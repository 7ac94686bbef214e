#pragma once
// Slow start (pools[].slow_start): after a backend recovers (marked up by active checks,
// readmitted after an ejection) or is added by a reload, its effective weight ramps linearly
// from kSlowStartMinShare of its weight to the full weight over the slow_start window.
//
// In a pool with slow_start the effective weights are kept in units of 1/kWeightScale of a
// configured weight unit, so that a backend of weight 1 can ramp as well; policies compare
// effective weights within a pool only, so the scale does not change any backend's share.

#include <cstdint>

#include "switchyard/config/config.h"

namespace sy::health {

inline constexpr uint32_t kWeightScale = 100;
inline constexpr double kSlowStartMinShare = 0.10;

// Effective weight of a backend that is not ramping: `weight`, scaled if the pool has
// slow_start.
uint32_t steadyWeight(uint32_t weight, const config::Pool& pool);
// Effective weight `elapsedMs` into a ramp of `windowMs` (scaled units, at least 1); the full
// scaled weight once elapsed >= window.
uint32_t slowStartWeight(uint32_t weight, uint64_t elapsedMs, uint64_t windowMs);

}  // namespace sy::health
