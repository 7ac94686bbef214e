#include "switchyard/routing/split.h"

namespace sy::routing {
namespace {

// splitmix64's finalizer: spreads any 64-bit key hash evenly over 64 bits.
uint64_t mix(uint64_t x) {
  x ^= 0x5851f42d4c957f2dull;  // keep the split's order independent of the hash ring's
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

size_t pickSplitByHash(std::span<const SplitSide> sides, uint64_t total, uint64_t keyHash) {
  if (sides.empty() || total == 0) return 0;
  // The high bits of mixed * total: an unbiased place in [0, total) (Lemire's reduction).
  const uint64_t place =
      static_cast<uint64_t>((static_cast<unsigned __int128>(mix(keyHash)) * total) >> 64);
  uint64_t upTo = 0;
  for (size_t i = 0; i < sides.size(); ++i) {
    upTo += sides[i].weight;
    if (place < upTo) return i;
  }
  return sides.size() - 1;
}

size_t SmoothSplit::pick(std::span<const SplitSide> sides, uint64_t total) {
  if (current_.size() != sides.size()) current_.assign(sides.size(), 0);  // not after set-up
  size_t best = 0;
  for (size_t i = 0; i < sides.size(); ++i) {
    current_[i] += sides[i].weight;
    if (current_[i] > current_[best]) best = i;
  }
  if (!current_.empty()) current_[best] -= static_cast<int64_t>(total);
  return best;
}

}  // namespace sy::routing
