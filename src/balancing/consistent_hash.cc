#include "switchyard/balancing/consistent_hash.h"

#include <algorithm>
#include <cstring>

namespace sy::balancing {
namespace {

uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

}  // namespace

uint64_t hashKeyBytes(const void* data, size_t n, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0xcbf29ce484222325ull ^ fmix64(seed);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return fmix64(h ^ n);
}

HashRing::HashRing(const upstream::BackendSet& set) : backends(set.backends.size()) {
  const size_t n = set.backends.size();
  if (n == 0) return;
  uint64_t totalWeight = 0;
  for (const auto& b : set.backends) totalWeight += std::max<uint32_t>(b->weight(), 1);
  double perWeight = kPointsPerWeight;
  const double wanted = perWeight * static_cast<double>(totalWeight);
  if (wanted > static_cast<double>(kMaxRingPoints)) {
    perWeight *= static_cast<double>(kMaxRingPoints) / wanted;
  }
  for (size_t i = 0; i < n; ++i) {
    const upstream::Backend& b = *set.backends[i];
    const double w = std::max<uint32_t>(b.weight(), 1);
    const auto count = std::max<uint64_t>(1, static_cast<uint64_t>(perWeight * w + 0.5));
    const uint64_t nameHash = hashKeyBytes(b.name());
    for (uint64_t k = 0; k < count; ++k) {
      points.push_back({hashKeyBytes(&k, sizeof k, nameHash), static_cast<uint32_t>(i)});
    }
  }
  // Equal hashes (vanishingly rare) are ordered by config position so every worker agrees.
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.backend < b.backend;
  });
}

ConsistentHash::ConsistentHash(const upstream::BackendSet& set)
    : set_(set), state_(set.backends.size(), 0) {
  needs_.hashKey = &set.cfg.hashKey;  // parsed by the loader; the set outlives the policy
  ring_ = std::dynamic_pointer_cast<const HashRing>(
      std::static_pointer_cast<const PolicyShared>(set.policyShared));
  if (!ring_ || ring_->backends != set.backends.size())
    ring_ = std::make_shared<const HashRing>(set);
}

upstream::Backend* ConsistentHash::select(const SelectionContext& ctx) {
  const std::vector<HashRing::Point>& points = ring_->points;
  if (points.empty()) return nullptr;
  const bool panic = panicMode(set_);
  std::memset(state_.data(), 0, state_.size());
  auto it = std::lower_bound(points.begin(), points.end(), ctx.hashKey,
                             [](const HashRing::Point& p, uint64_t h) { return p.hash < h; });
  size_t pos = static_cast<size_t>(it - points.begin());
  size_t unchecked = set_.backends.size();
  for (size_t step = 0; step < points.size() && unchecked > 0; ++step, ++pos) {
    if (pos == points.size()) pos = 0;
    const uint32_t idx = points[pos].backend;
    if (state_[idx] != 0) continue;
    --unchecked;
    if (isCandidate(*set_.backends[idx], ctx, panic)) return set_.backends[idx].get();
    state_[idx] = 1;
  }
  return nullptr;
}

}  // namespace sy::balancing
