#include "switchyard/balancing/policy.h"

#include <atomic>
#include <chrono>
#include <random>

#include "switchyard/balancing/rng.h"

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

bool anyFullCandidate(const upstream::BackendSet& set, const SelectionContext& ctx) {
  const bool panic = panicMode(set);
  for (const auto& b : set.backends) {
    if (!b->full() || ctx.wasTried(b.get())) continue;
    if (b->adminState() == upstream::AdminState::kDisabled) continue;
    if (panic ? b->adminState() == upstream::AdminState::kEnabled : b->available()) return true;
  }
  return false;
}

std::unique_ptr<Rng> makeRng() {
  static std::atomic<uint64_t> counter{0};
  uint64_t seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  seed ^= static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  seed += counter.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b97f4a7c15ull;
  return std::make_unique<SplitMix64>(seed);
}

}  // namespace sy::balancing
