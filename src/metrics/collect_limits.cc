// The resilience families of /metrics: upstream connections by state, pool limits and queue,
// injected faults. Called by writeMetrics (collect.cc) after the retry counters.
#include "switchyard/metrics/collect.h"
#include "switchyard/metrics/exposition.h"
#include "switchyard/upstream/pool_gate.h"

namespace sy::metrics {

void writeLimitFamilies(Exposition& w, const ScrapeInput& in) {
  static const std::vector<std::string> kNoListeners;
  static const std::vector<std::unique_ptr<upstream::BackendSet>> kNoPools;
  const auto& listeners = in.listeners ? *in.listeners : kNoListeners;
  const auto& pools = in.pools ? *in.pools : kNoPools;

  w.begin(FamilyId::kUpstreamConnections);
  for (const auto& set : pools) {
    for (const auto& b : set->backends) {
      const Merged m = b->stats().merge();
      const uint64_t opened = m.counter(kUpConnOpened), closed = m.counter(kUpConnClosed);
      const uint64_t open = opened > closed ? opened - closed : 0;
      uint64_t idle = 0;
      for (unsigned i = 0; i < b->workers(); ++i) idle += b->idle(i).size();
      if (idle > open) idle = open;  // read at slightly different moments
      w.sample(FamilyId::kUpstreamConnections, {set->name, b->name(), "idle"}, idle);
      w.sample(FamilyId::kUpstreamConnections, {set->name, b->name(), "active"}, open - idle);
    }
  }

  w.begin(FamilyId::kPoolPending);
  for (const auto& set : pools) {
    const int32_t n = set->gate ? set->gate->pending() : 0;
    w.sample(FamilyId::kPoolPending, {set->name}, uint64_t(n > 0 ? n : 0));
  }
  std::vector<Merged> merged;
  merged.reserve(pools.size());
  for (const auto& set : pools) merged.push_back(set->stats ? set->stats->merge() : Merged{});
  w.begin(FamilyId::kPoolOverflow);
  for (size_t i = 0; i < pools.size(); ++i)
    w.sample(FamilyId::kPoolOverflow, {pools[i]->name},
             pools[i]->stats ? merged[i].counter(kPoolOverflow) : 0);
  w.begin(FamilyId::kPendingWait);
  for (size_t i = 0; i < pools.size(); ++i)
    if (pools[i]->stats)
      w.histogram(FamilyId::kPendingWait, {pools[i]->name}, merged[i].buckets(kPendingWait),
                  merged[i].histSumNs(kPendingWait));

  w.begin(FamilyId::kFaultsInjected);
  if (!in.server) return;
  const Merged srv = in.server->merge();
  for (uint32_t slot = 0; slot < listeners.size(); ++slot) {
    w.sample(FamilyId::kFaultsInjected, {listeners[slot], "delay"},
             srv.listener(slot, kFaultDelays));
    w.sample(FamilyId::kFaultsInjected, {listeners[slot], "abort"},
             srv.listener(slot, kFaultAborts));
  }
}

}  // namespace sy::metrics
