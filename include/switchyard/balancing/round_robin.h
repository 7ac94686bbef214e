#pragma once
// Smooth weighted round robin (nginx's algorithm): each pick adds every candidate's weight to
// its running score, takes the highest, and subtracts the total from the winner. Weights
// 5,1,1 give a a b a c a a — spread out, not bunched.

#include <vector>

#include "switchyard/balancing/policy.h"

namespace sy::balancing {

class RoundRobin final : public Policy {
 public:
  explicit RoundRobin(const upstream::BackendSet& set);
  upstream::Backend* select(const SelectionContext& ctx) override;

 private:
  const upstream::BackendSet& set_;
  std::vector<int64_t> current_;
};

}  // namespace sy::balancing
