#pragma once
// Weighted traffic splits (routes[].split): which side a request goes to. Pure functions and a
// small per-worker cursor; no allocation when picking.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sy::routing {

struct SplitSide {
  uint32_t pool;    // index in the snapshot's pool list
  uint32_t weight;  // > 0
};

// Sticky pick: the side whose share of [0, total) holds the key's place. The key hash is mixed
// first, so a split keyed like the pool's hash policy does not send each side to one arc of
// the pool's hash ring. The same hash always gives the same side for the same weights; a change
// of weights moves only the users between the old and the new boundary. Returns an index into
// `sides`. `total` is the sum of the weights.
size_t pickSplitByHash(std::span<const SplitSide> sides, uint64_t total, uint64_t keyHash);

// Smooth weighted round robin (nginx's): over any `total` consecutive picks each side is picked
// exactly `weight` times, interleaved (95/5 gives one canary request in every 20). One per
// worker and split route; worker thread only.
class SmoothSplit {
 public:
  SmoothSplit() = default;
  explicit SmoothSplit(size_t sides) : current_(sides, 0) {}
  size_t pick(std::span<const SplitSide> sides, uint64_t total);

 private:
  std::vector<int64_t> current_;
};

}  // namespace sy::routing
