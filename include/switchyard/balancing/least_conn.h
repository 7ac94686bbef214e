#pragma once
// Weighted least connections (nginx's least_conn): picks the candidate with the lowest
// in_flight / weight, where in_flight is Backend::inFlight(), counted across all workers so
// two workers do not both pile onto the same "idle" backend. Ratios are compared by
// cross-multiplication (a.in_flight * b.weight < b.in_flight * a.weight), never by division.
// Ties are broken by smooth weighted round robin among the tied backends, so an idle pool
// still rotates in proportion to the weights (5,1,1 gives a a b a c a a).

#include <cstdint>
#include <vector>

#include "switchyard/balancing/policy.h"

namespace sy::balancing {

class LeastConn final : public Policy {
 public:
  explicit LeastConn(const upstream::BackendSet& set);
  upstream::Backend* select(const SelectionContext& ctx) override;

 private:
  const upstream::BackendSet& set_;
  std::vector<int64_t> current_;  // smooth WRR scores, for ties
  // Per-select scratch (sized once: no allocation per request): in_flight read once per
  // backend (-1 = not a candidate) and the weight used.
  std::vector<int64_t> load_;
  std::vector<int64_t> weight_;
};

}  // namespace sy::balancing
