#include "switchyard/balancing/p2c.h"

#include <algorithm>

namespace sy::balancing {

PowerOfTwo::PowerOfTwo(const upstream::BackendSet& set, std::unique_ptr<Rng> rng)
    : set_(set),
      rng_(std::move(rng)),
      candidates_(set.backends.size()),
      cumulative_(set.backends.size()) {}

size_t PowerOfTwo::candidateAt(int64_t r, size_t count) const {
  auto it = std::upper_bound(cumulative_.begin(), cumulative_.begin() + count, r);
  return static_cast<size_t>(it - cumulative_.begin());
}

upstream::Backend* PowerOfTwo::select(const SelectionContext& ctx) {
  const bool panic = panicMode(set_);
  size_t count = 0;
  int64_t total = 0;
  for (size_t i = 0; i < set_.backends.size(); ++i) {
    const upstream::Backend& b = *set_.backends[i];
    if (!isCandidate(b, ctx, panic)) continue;
    total += selectionWeight(b);
    candidates_[count] = static_cast<uint32_t>(i);
    cumulative_[count] = total;
    ++count;
  }
  if (count == 0) return nullptr;
  if (count == 1) return set_.backends[candidates_[0]].get();

  // First draw over all the weight; second over the rest, skipping the first's span.
  const size_t first = candidateAt(static_cast<int64_t>(rng_->below(total)), count);
  const int64_t firstStart = first == 0 ? 0 : cumulative_[first - 1];
  const int64_t firstWeight = cumulative_[first] - firstStart;
  int64_t r = static_cast<int64_t>(rng_->below(static_cast<uint64_t>(total - firstWeight)));
  if (r >= firstStart) r += firstWeight;
  const size_t second = candidateAt(r, count);

  const upstream::Backend& a = *set_.backends[candidates_[first]];
  const upstream::Backend& b = *set_.backends[candidates_[second]];
  const int64_t loadA = std::max<int32_t>(a.inFlight(), 0);
  const int64_t loadB = std::max<int32_t>(b.inFlight(), 0);
  const bool takeB = loadB * selectionWeight(a) < loadA * selectionWeight(b);
  return set_.backends[candidates_[takeB ? second : first]].get();
}

}  // namespace sy::balancing
