#pragma once
// Consistent hashing for affinity (policy: hash), keyed by pools[].hash_key: the client IP
// (default), a header, a cookie or the path (the session hashes the key: hashKeyBytes()).
//
// Algorithm: a ketama-style hash ring (as nginx's `hash ... consistent`). Each backend owns
// kPointsPerWeight x weight points on a 64-bit ring, placed by hashing its name and the point's
// number; a key goes to the owner of the first point at or after its hash. A backend's points
// depend on nothing but its own name and weight, so adding or removing one backend moves only
// the keys on that backend's points.
// Chosen over Maglev because an unavailable or already-tried backend is handled by walking on
// to the next point: only that backend's keys move, with no table rebuild on a health change
// and a natural retry order. Removing one of N equal backends remaps about 1/N of the keys
// (exactly those it owned). Points are placed by hashing the backend's name, so a backend keeps
// its keys across reloads and address changes; renaming it moves them. Weights are the
// configured ones (slow start does not reshape the ring).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "switchyard/balancing/policy.h"

namespace sy::balancing {

// 64-bit hash of bytes (FNV-1a folded through the MurmurHash3 finalizer for avalanche).
// Stable across processes and versions of this build: keys keep their backend over restarts.
uint64_t hashKeyBytes(const void* data, size_t n, uint64_t seed = 0);
inline uint64_t hashKeyBytes(std::string_view s, uint64_t seed = 0) {
  return hashKeyBytes(s.data(), s.size(), seed);
}

// The ring of one pool, built once per config snapshot and shared read-only by every worker.
struct HashRing final : PolicyShared {
  // Shares are even within about 1/sqrt(points) (6% for 256 points).
  static constexpr uint32_t kPointsPerWeight = 256;
  // Memory bound (16 bytes a point, per pool and snapshot). A pool whose weights add up to more
  // than kMaxRingPoints / kPointsPerWeight (4096) has its points scaled down proportionally;
  // shares stay right, but then a membership change also moves a few other keys.
  static constexpr size_t kMaxRingPoints = 1u << 20;

  explicit HashRing(const upstream::BackendSet& set);

  struct Point {
    uint64_t hash;
    uint32_t backend;
  };
  std::vector<Point> points;  // sorted by hash
  size_t backends = 0;
};

class ConsistentHash final : public Policy {
 public:
  static constexpr uint32_t kPointsPerWeight = HashRing::kPointsPerWeight;
  static constexpr size_t kMaxRingPoints = HashRing::kMaxRingPoints;

  // Uses set.policyShared when it is a HashRing (the snapshot's), else builds its own.
  explicit ConsistentHash(const upstream::BackendSet& set);
  upstream::Backend* select(const SelectionContext& ctx) override;

  size_t ringSize() const { return ring_->points.size(); }
  const HashRing* ring() const { return ring_.get(); }

 private:
  const upstream::BackendSet& set_;
  std::shared_ptr<const HashRing> ring_;
  // Per-select scratch: 1 = backend already refused during this walk.
  std::vector<uint8_t> state_;
};

}  // namespace sy::balancing
