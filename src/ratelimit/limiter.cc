#include "switchyard/ratelimit/limiter.h"

namespace sy::ratelimit {

DecisionCounters::DecisionCounters(unsigned workers)
    : workers_(workers ? workers : 1), shards_(std::make_unique<Shard[]>(workers_)) {}

std::array<uint64_t, kResultCount> DecisionCounters::totals() const {
  std::array<uint64_t, kResultCount> out{};
  for (unsigned w = 0; w < workers_; ++w)
    for (size_t r = 0; r < kResultCount; ++r)
      out[r] += shards_[w].c[r].load(std::memory_order_relaxed);
  return out;
}

Limiter::Limiter(const config::RateLimitPolicy& p, std::shared_ptr<DecisionCounters> counters,
                 std::shared_ptr<LocalTable> table)
    : p_(p), table_(std::move(table)), counters_(std::move(counters)) {
  const uint64_t periodNs = static_cast<uint64_t>(p.period.count()) * 1'000'000;
  gcra_ = Gcra::of(p.count, periodNs, p.burst);
  seed_ = hashKey(0, p.name);
  if (p.redis) {
    table_.reset();
  } else if (!table_) {
    table_ = std::make_shared<LocalTable>(p.maxKeys);
  }
  item_ = "\"" + p.name + "\";q=" + std::to_string(p.count) +
          ";w=" + std::to_string(p.period.count() / 1000);
}

Limiters buildLimiters(const config::Config& cfg, const Limiters* previous, unsigned workers) {
  Limiters out;
  for (const config::RateLimitPolicy& p : cfg.rateLimits) {
    std::shared_ptr<LocalTable> table;
    std::shared_ptr<DecisionCounters> counters;
    if (previous) {
      for (const auto& old : *previous) {
        if (old->policy().name != p.name) continue;
        if (old->policy().sameLimit(p)) table = old->sharedTable();
        if (old->counters()->workers() == (workers ? workers : 1)) counters = old->counters();
      }
    }
    if (!counters) counters = std::make_shared<DecisionCounters>(workers);
    out.push_back(std::make_shared<Limiter>(p, std::move(counters), std::move(table)));
  }
  return out;
}

}  // namespace sy::ratelimit
