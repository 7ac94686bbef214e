#pragma once
// A backend server and the little state shared between threads about it. Created on the main
// thread when a snapshot is built; a backend that survives a reload (same pool, name and
// address) is the same object, so its health, counters and pooled connections carry over.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/common/bounded_counter.h"
#include "switchyard/config/config.h"
#include "switchyard/metrics/stats.h"
#include "switchyard/upstream/retry_budget.h"

namespace sy::net {
class TlsClientContext;
}
namespace sy::balancing {
struct PolicyShared;
}

namespace sy::upstream {

class UpstreamConn;
class PoolGate;

// Idle keep-alive connections of one backend on one worker. Touched only by that worker.
struct IdleList {
  UpstreamConn* head = nullptr;  // most recently parked
  UpstreamConn* tail = nullptr;  // parked longest ago
  // Written by the owning worker only (load + store, no read-modify-write); read by the
  // metrics scrape.
  std::atomic<uint32_t> count{0};
  // The backend left this worker's config (a reload): its connections close when their request
  // ends instead of parking here, and its HTTP/2 sessions are retired.
  bool retired = false;
  // Config version from which the pool's protocol and TLS settings for this backend apply (a
  // reload that changes them sets it): connections made for an older version close when their
  // request ends instead of parking here.
  uint64_t settingsSince = 0;
  // pools[].http2.max_concurrent_streams of this worker's config, recorded by a reload (0: none
  // yet, new HTTP/2 sessions take the requesting pool's); kept sessions adopt it too.
  uint32_t h2MaxStreams = 0;
  void setCount(uint32_t n) { count.store(n, std::memory_order_relaxed); }
  uint32_t size() const { return count.load(std::memory_order_relaxed); }
};

enum class AdminState : uint8_t { kEnabled = 0, kDraining = 1, kDisabled = 2 };

// Health bookkeeping shared by the health monitor (main loop), the workers (outlier reports)
// and metrics (read at scrape time). Counters only grow; every access is relaxed.
struct HealthCounters {
  std::atomic<uint64_t> checksOk{0};      // active health checks passed
  std::atomic<uint64_t> checksFailed{0};  // active health checks failed
  std::atomic<uint64_t> transitions{0};   // marked down or back up by active checks
  std::atomic<uint64_t> ejections{0};     // ejected by outlier detection
  // Outlier detection: live attempts that failed in a row (a success stores 0), and the
  // health::Outcome of the last failure (for the ejection log line).
  std::atomic<uint32_t> consecutiveFailures{0};
  std::atomic<uint8_t> lastFailure{0};
};

class Backend : public std::enable_shared_from_this<Backend> {
 public:
  Backend(const config::Backend& cfg, std::string poolName, unsigned workers);
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  const std::string& name() const { return name_; }
  const std::string& poolName() const { return poolName_; }
  const config::SocketAddress& address() const { return address_; }
  const config::Backend& config() const { return cfg_; }

  // Configured weight (a reload may change it).
  uint32_t weight() const { return weight_.load(std::memory_order_relaxed); }
  void setWeight(uint32_t w) { weight_.store(w, std::memory_order_relaxed); }
  // Weight policies use now: the configured weight, reduced during slow start. In a pool with
  // slow_start it is in hundredths (weight x health::kWeightScale), so a weight-1 backend can
  // ramp too; policies only compare effective weights of backends of the same pool.
  uint32_t effectiveWeight() const { return effectiveWeight_.load(std::memory_order_relaxed); }
  void setEffectiveWeight(uint32_t w) { effectiveWeight_.store(w, std::memory_order_relaxed); }

  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  void setHealthy(bool h) { healthy_.store(h, std::memory_order_relaxed); }
  bool ejected() const { return ejected_.load(std::memory_order_relaxed); }
  void setEjected(bool e) { ejected_.store(e, std::memory_order_relaxed); }
  // Outlier detection: sets ejected if it was clear; true for the one caller that set it.
  // Sequentially consistent, so racing claims in one pool see each other (health/outlier.cc).
  bool claimEjection() {
    bool expected = false;
    return ejected_.compare_exchange_strong(expected, true, std::memory_order_seq_cst);
  }
  HealthCounters& health() { return health_; }
  const HealthCounters& health() const { return health_; }
  AdminState adminState() const {
    return static_cast<AdminState>(admin_.load(std::memory_order_relaxed));
  }
  void setAdminState(AdminState s) { admin_.store(static_cast<uint8_t>(s), std::memory_order_relaxed); }

  // Eligible for new requests: healthy, not ejected, enabled (not draining or disabled).
  bool available() const {
    return healthy() && !ejected() && adminState() == AdminState::kEnabled;
  }

  // Requests in flight on this backend across all workers (least_conn, metrics).
  int32_t inFlight() const { return inFlight_.load(std::memory_order_relaxed); }
  void addInFlight(int32_t d) { inFlight_.fetch_add(d, std::memory_order_relaxed); }
  // backends[].max_requests (0 = no cap); a reload may change it.
  uint32_t maxRequests() const { return maxRequests_.load(std::memory_order_relaxed); }
  void setMaxRequests(uint32_t n) { maxRequests_.store(n, std::memory_order_relaxed); }
  // At its max_requests: policies skip it.
  bool full() const {
    const uint32_t max = maxRequests();
    return max != 0 && inFlight() >= static_cast<int32_t>(max);
  }
  // Counts one more request in flight unless that would pass max_requests (checked and counted
  // in one step, so racing workers never overshoot). Any thread.
  bool tryAddInFlight() {
    return tryIncrementBelow(inFlight_, static_cast<int32_t>(maxRequests()));
  }
  // Gives a slot back, ordered before a following look at a pool gate's queue (pool_gate.h).
  void releaseInFlight() { inFlight_.fetch_sub(1, std::memory_order_seq_cst); }

  IdleList& idle(unsigned worker) { return idle_[worker]; }
  unsigned workers() const { return workers_; }
  // Per-worker metric shards: worker w writes only stats().shard(w); the scrape merges them.
  metrics::StatsBlock& stats() { return stats_; }
  const metrics::StatsBlock& stats() const { return stats_; }

 private:
  config::Backend cfg_;
  std::string name_;
  std::string poolName_;
  config::SocketAddress address_;
  std::atomic<uint32_t> weight_;
  std::atomic<uint32_t> effectiveWeight_;
  std::atomic<bool> healthy_{true};
  std::atomic<bool> ejected_{false};
  std::atomic<uint8_t> admin_{0};
  std::atomic<int32_t> inFlight_{0};
  std::atomic<uint32_t> maxRequests_{0};
  HealthCounters health_;
  unsigned workers_;
  std::unique_ptr<IdleList[]> idle_;
  metrics::StatsBlock stats_;
};

// The backends of one pool in one snapshot, in config order.
struct BackendSet {
  std::string name;
  // Config version of the snapshot this set belongs to (0 for sets built outside a snapshot).
  uint64_t version = 0;
  config::Pool cfg;
  std::vector<std::shared_ptr<Backend>> backends;
  // Answers given for this pool without a backend (503 no backend available). Carried over by
  // pool name from the previous snapshot; may be null (sets built outside a snapshot).
  std::shared_ptr<metrics::StatsBlock> stats;
  // pools[].retries.budget's shared counters (null without a budget); carried over by name.
  std::shared_ptr<RetryBudget> retryBudget;
  // pools[].tls: connections to the backends speak TLS with this context; null = plain TCP.
  std::shared_ptr<const net::TlsClientContext> tls;
  // pools[].limits and the queue, shared by all workers; carried over by pool name. Never null
  // in a snapshot; may be null in sets built outside one (tests).
  std::shared_ptr<PoolGate> gate;
  // Some limit applies (limits.max_requests or a backend's max_requests): requests go through
  // the gate. False: the request path never touches it.
  bool limited = false;
  // Per-snapshot state the pool's policy shares between workers (round-robin ticket and
  // schedule, hash ring); built with the snapshot (balancing::prepareShared). May be null.
  std::shared_ptr<balancing::PolicyShared> policyShared;
};

}  // namespace sy::upstream
