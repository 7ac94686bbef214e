#include "switchyard/balancing/policy.h"

#include "switchyard/balancing/round_robin.h"

namespace sy::balancing {

bool panicMode(const upstream::BackendSet& set) {
  size_t total = 0, up = 0;
  for (const auto& b : set.backends) {
    if (b->adminState() != upstream::AdminState::kEnabled) continue;
    ++total;
    if (b->healthy() && !b->ejected()) ++up;
  }
  if (total == 0) return false;
  return static_cast<double>(up) < set.cfg.panicThreshold * static_cast<double>(total);
}

std::unique_ptr<Policy> makePolicy(const upstream::BackendSet& set) {
  // Other policies arrive with the Policies issue; until then they balance round robin.
  return std::make_unique<RoundRobin>(set);
}

}  // namespace sy::balancing
