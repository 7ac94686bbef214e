#include "switchyard/balancing/round_robin.h"

namespace sy::balancing {

RoundRobin::RoundRobin(const upstream::BackendSet& set)
    : set_(set), current_(set.backends.size(), 0) {}

upstream::Backend* RoundRobin::select(const SelectionContext& ctx) {
  const bool panic = panicMode(set_);
  int64_t total = 0;
  int best = -1;
  for (size_t i = 0; i < set_.backends.size(); ++i) {
    const upstream::Backend& b = *set_.backends[i];
    if (!isCandidate(b, ctx, panic)) continue;
    int64_t w = b.effectiveWeight();
    if (w <= 0) w = 1;
    current_[i] += w;
    total += w;
    if (best < 0 || current_[i] > current_[best]) best = static_cast<int>(i);
  }
  if (best < 0) return nullptr;
  current_[best] -= total;
  return set_.backends[best].get();
}

}  // namespace sy::balancing
