#pragma once
// One rate-limit policy at run time: its GCRA parameters, its local table (store: local) and its
// decision counters. Built on the main thread with each snapshot (buildLimiters); shared by all
// workers, which decide and count through it without a lock. A policy whose definition is
// unchanged by a reload keeps its Limiter, so its state; counters are kept by name.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/ratelimit/gcra.h"
#include "switchyard/ratelimit/local_table.h"

namespace sy::ratelimit {

// The `result` label of switchyard_ratelimit_decisions_total.
enum Result : uint8_t { kAllowed, kLimited, kDryRunLimited, kStoreError, kResultCount };
inline constexpr std::string_view kResultNames[kResultCount] = {"allowed", "limited",
                                                                "dry_run_limited", "store_error"};

// Per-worker decision counters of one policy (single writer per shard, like metrics::Cell).
class DecisionCounters {
 public:
  explicit DecisionCounters(unsigned workers);
  void add(unsigned worker, Result r) {
    std::atomic<uint64_t>& c = shards_[worker < workers_ ? worker : workers_ - 1].c[r];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  std::array<uint64_t, kResultCount> totals() const;
  unsigned workers() const { return workers_; }

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> c[kResultCount] = {};
  };
  unsigned workers_;
  std::unique_ptr<Shard[]> shards_;
};

class Limiter {
 public:
  // `table`: the state to keep (a policy whose limit a reload left unchanged), or null for new.
  Limiter(const config::RateLimitPolicy& p, std::shared_ptr<DecisionCounters> counters,
          std::shared_ptr<LocalTable> table);

  const config::RateLimitPolicy& policy() const { return p_; }
  const Gcra& gcra() const { return gcra_; }
  // Seeds the key hash: the same key under two policies has two states.
  uint64_t seed() const { return seed_; }
  LocalTable* table() const { return table_.get(); }  // null for store: redis
  // This policy as a member of RateLimit-Policy: "name";q=COUNT;w=SECONDS.
  std::string_view policyItem() const { return item_; }
  void count(unsigned worker, Result r) const { counters_->add(worker, r); }
  const std::shared_ptr<DecisionCounters>& counters() const { return counters_; }
  const std::shared_ptr<LocalTable>& sharedTable() const { return table_; }

 private:
  config::RateLimitPolicy p_;
  Gcra gcra_;
  uint64_t seed_;
  std::shared_ptr<LocalTable> table_;
  std::string item_;
  std::shared_ptr<DecisionCounters> counters_;
};

using Limiters = std::vector<std::shared_ptr<const Limiter>>;

// One Limiter per config.rateLimits entry, in order; those of `previous` whose definition is the
// same are reused (state kept), counters are reused by policy name.
Limiters buildLimiters(const config::Config& cfg, const Limiters* previous, unsigned workers);

}  // namespace sy::ratelimit
