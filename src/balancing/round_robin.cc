#include "switchyard/balancing/round_robin.h"

#include <algorithm>

#include "switchyard/health/slow_start.h"

namespace sy::balancing {

RoundRobinSchedule::RoundRobinSchedule(const upstream::BackendSet& set) {
  const size_t n = set.backends.size();
  const uint64_t scale = set.cfg.slowStart.count() > 0 ? health::kWeightScale : 1;
  uint64_t sum = 0;
  for (const auto& b : set.backends) {
    expected.push_back(static_cast<uint32_t>(std::max<uint32_t>(b->weight(), 1) * scale));
    sum += std::max<uint32_t>(b->weight(), 1);
  }
  std::vector<int64_t> w(n), cur(n, 0);
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t wi = std::max<uint32_t>(set.backends[i]->weight(), 1);
    if (sum > kMaxLength) wi = std::max<uint64_t>(1, wi * kMaxLength / sum);
    w[i] = static_cast<int64_t>(wi);
    total += wi;
  }
  order.reserve(total);
  for (uint64_t k = 0; k < total; ++k) {
    size_t best = 0;
    for (size_t i = 0; i < n; ++i) {
      cur[i] += w[i];
      if (cur[i] > cur[best]) best = i;
    }
    cur[best] -= static_cast<int64_t>(total);
    order.push_back(static_cast<uint32_t>(best));
  }
}

RoundRobin::RoundRobin(const upstream::BackendSet& set)
    : set_(set), current_(set.backends.size(), 0) {
  schedule_ = std::dynamic_pointer_cast<RoundRobinSchedule>(set.policyShared);
  if (!schedule_ || schedule_->expected.size() != set.backends.size())
    schedule_ = std::make_shared<RoundRobinSchedule>(set);
}

upstream::Backend* RoundRobin::select(const SelectionContext& ctx) {
  const bool panic = panicMode(set_);
  bool steady = !schedule_->order.empty();
  for (size_t i = 0; i < set_.backends.size() && steady; ++i) {
    const upstream::Backend& b = *set_.backends[i];
    steady = isCandidate(b, ctx, panic) && b.effectiveWeight() == schedule_->expected[i];
  }
  if (!steady) return selectLocal(ctx, panic);
  const uint64_t t = schedule_->ticket.fetch_add(1, std::memory_order_relaxed);
  return set_.backends[schedule_->order[t % schedule_->order.size()]].get();
}

upstream::Backend* RoundRobin::selectLocal(const SelectionContext& ctx, bool panic) {
  int64_t total = 0;
  int best = -1;
  for (size_t i = 0; i < set_.backends.size(); ++i) {
    const upstream::Backend& b = *set_.backends[i];
    if (!isCandidate(b, ctx, panic)) continue;
    int64_t w = b.effectiveWeight();
    if (w <= 0) w = 1;
    current_[i] += w;
    total += w;
    if (best < 0 || current_[i] > current_[best]) best = static_cast<int>(i);
  }
  if (best < 0) return nullptr;
  current_[best] -= total;
  return set_.backends[best].get();
}

}  // namespace sy::balancing
