#pragma once
// Smooth weighted round robin (nginx's algorithm): each pick adds every candidate's weight to
// its running score, takes the highest, and subtracts the total from the winner. Weights
// 5,1,1 give a a b a c a a — spread out, not bunched.
//
// Process-wide: the smooth sequence over the configured weights is computed once per config
// snapshot (RoundRobinSchedule), and every worker draws from it with one shared atomic ticket,
// so 9 requests to 3 equal backends give 3, 3 and 3 whichever workers take them. While a
// backend is not a candidate for a request (down, ejected, draining, full, already tried) or
// slow start has its effective weight below the configured one, the worker falls back to its
// own smooth cursor over the candidates and their effective weights (the sequence is then
// smooth per worker, as nginx's is per worker process).

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "switchyard/balancing/policy.h"

namespace sy::balancing {

// The smooth sequence of backend indices for one snapshot, and the ticket every worker takes.
struct RoundRobinSchedule final : PolicyShared {
  // Longest sequence kept; larger weight sums are scaled down (each backend keeps at least 1).
  static constexpr uint64_t kMaxLength = 1u << 16;
  explicit RoundRobinSchedule(const upstream::BackendSet& set);

  std::vector<uint32_t> order;     // backend indices, smooth weighted
  std::vector<uint32_t> expected;  // effective weight each backend has when not ramping
  alignas(64) std::atomic<uint64_t> ticket{0};
};

class RoundRobin final : public Policy {
 public:
  // Uses set.policyShared when it is a RoundRobinSchedule, else a schedule of its own.
  explicit RoundRobin(const upstream::BackendSet& set);
  upstream::Backend* select(const SelectionContext& ctx) override;

 private:
  upstream::Backend* selectLocal(const SelectionContext& ctx, bool panic);

  const upstream::BackendSet& set_;
  std::shared_ptr<RoundRobinSchedule> schedule_;
  std::vector<int64_t> current_;
};

}  // namespace sy::balancing
