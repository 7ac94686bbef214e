#pragma once
// Power of two choices (Mitzenmacher; Envoy's default least-request): draws two distinct
// candidates at random, with probability proportional to their weights, and keeps the one with
// the lower in_flight / weight (cross-multiplied; a tie keeps the first draw). The comparison
// needs only two counters, so it stays cheap and avoids the herd effect of every worker
// chasing the single least-loaded backend. Candidates are collected by the shared health
// filter in one pass, like the other policies.

#include <cstdint>
#include <memory>
#include <vector>

#include "switchyard/balancing/policy.h"
#include "switchyard/balancing/rng.h"

namespace sy::balancing {

class PowerOfTwo final : public Policy {
 public:
  PowerOfTwo(const upstream::BackendSet& set, std::unique_ptr<Rng> rng);
  upstream::Backend* select(const SelectionContext& ctx) override;

 private:
  // Index into candidates_ of the candidate owning weight position `r` (0 <= r < total).
  size_t candidateAt(int64_t r, size_t count) const;

  const upstream::BackendSet& set_;
  std::unique_ptr<Rng> rng_;
  // Per-select scratch, sized once: candidate backend indices and their cumulative weights.
  std::vector<uint32_t> candidates_;
  std::vector<int64_t> cumulative_;
};

}  // namespace sy::balancing
