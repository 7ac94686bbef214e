// Scrape time (main thread): sums the per-worker shards of every stats block and hands the
// totals to prometheus-cpp (Exposition, exposition.h), whose TextSerializer writes /metrics.
//
// Adding a metric:
//  1. Declare it once in families.h: a FamilyId value and its kFamilies entry (name, type,
//     help, label names) at the same position; that position is its place in the output.
//  2. Give it storage the request path can write without locks or allocation:
//     - a per-worker counter or histogram: a Counter/Histogram (per pool and backend) or
//       PerListener (per listener) value in stats.h, written with ShardRef::add()/observe()/
//       addListener() on the worker's shard (the server's block: Worker::stats(); a backend's:
//       Backend::stats().shard(worker id)); every label set is a cell fixed in advance;
//     - main-thread or slow-path state: a field of ScrapeInput (collect.h) or of the object it
//       points to (an std::atomic on Backend for state several threads write).
//  3. Add it here, where its neighbours in the table are written: the Merged value read
//     with r.m.counter()/listener()/local() (or the ScrapeInput field), then w.sample() for a
//     counter or gauge, w.histogram() for a histogram. Series every backend/listener has are
//     written from the start (zero), so rate() sees the first increase.
//  4. Document it in README's Metrics section; a unit test in tests/metrics/stats_test.cc.
// A new reason for a proxy-made answer is not a new metric: see local_responses.h.
#include "switchyard/metrics/collect.h"

#include "switchyard/health/slow_start.h"
#include "switchyard/metrics/exposition.h"
#include "switchyard/metrics/process.h"

namespace sy::metrics {
namespace {

constexpr std::string_view kCodeClassNames[kCodeClasses] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

// One merged stats block with the labels it is exported under.
struct Row {
  std::string_view pool;
  std::string_view backend;  // empty for a pool's or the server's own block
  const upstream::Backend* b = nullptr;
  Merged m;
};

uint64_t gauge(uint64_t opened, uint64_t closed) { return opened > closed ? opened - closed : 0; }

// Health checker and outlier detection counters: std::atomic totals on upstream::Backend kept
// by the health monitor (src/health).
void writeHealthFamilies(Exposition& w, const std::vector<Row>& backends) {
  w.begin(FamilyId::kHealthChecks);
  for (const Row& r : backends) {
    const upstream::HealthCounters& h = r.b->health();
    w.sample(FamilyId::kHealthChecks, {r.pool, r.backend, "success"},
             h.checksOk.load(std::memory_order_relaxed));
    w.sample(FamilyId::kHealthChecks, {r.pool, r.backend, "failure"},
             h.checksFailed.load(std::memory_order_relaxed));
  }
  w.begin(FamilyId::kBackendEjections);
  for (const Row& r : backends)
    w.sample(FamilyId::kBackendEjections, {r.pool, r.backend, "consecutive_failures"},
             r.b->health().ejections.load(std::memory_order_relaxed));
}

// Retries, budget refusals and hedges: counted in the pool blocks (rows with a pool and no
// backend; the server's own block has neither).
void writeRetryFamilies(Exposition& w, const std::vector<Row>& others) {
  w.begin(FamilyId::kRetries);
  for (const Row& r : others) {
    if (r.pool.empty()) continue;
    for (uint32_t i = 0; i <= kRetryReasonLast - kRetryReasonFirst; ++i)
      w.sample(FamilyId::kRetries, {r.pool, kRetryReasons[i]},
               r.m.counter(static_cast<Counter>(kRetryReasonFirst + i)));
  }
  w.begin(FamilyId::kRetryBudgetExhausted);
  for (const Row& r : others)
    if (!r.pool.empty())
      w.sample(FamilyId::kRetryBudgetExhausted, {r.pool}, r.m.counter(kRetryBudgetExhausted));
  w.begin(FamilyId::kHedges);
  for (const Row& r : others) {
    if (r.pool.empty()) continue;
    for (uint32_t i = 0; i <= kHedgeLast - kHedgeFirst; ++i)
      w.sample(FamilyId::kHedges, {r.pool, kHedgeResults[i]},
               r.m.counter(static_cast<Counter>(kHedgeFirst + i)));
  }
}

// Effective weight in configured-weight units (slow-start pools keep it scaled).
double effectiveWeightUnits(const upstream::Backend& b,
                            const std::vector<std::unique_ptr<upstream::BackendSet>>& pools) {
  for (const auto& set : pools)
    if (set->name == b.poolName() && set->cfg.slowStart.count() > 0)
      return static_cast<double>(b.effectiveWeight()) / health::kWeightScale;
  return static_cast<double>(b.effectiveWeight());
}

std::string_view adminStateName(upstream::AdminState s) {
  switch (s) {
    case upstream::AdminState::kEnabled: return "enabled";
    case upstream::AdminState::kDraining: return "draining";
    case upstream::AdminState::kDisabled: return "disabled";
  }
  return "enabled";
}

// switchyard_local_responses_total from the server's block: each reason's series with its usual
// code from the start, any other code once it has counts.
void writeLocalResponses(Exposition& w, const Merged* srv,
                         const std::vector<std::string>& listeners) {
  w.begin(FamilyId::kLocalResponses);
  for (uint32_t slot = 0; srv && slot < listeners.size(); ++slot) {
    for (uint32_t r = 0; r < kLocalReasons; ++r) {
      const LocalReason reason = static_cast<LocalReason>(r);
      const uint32_t usual = localCodeIndex(localReasonInfo(reason).code);
      for (uint32_t c = 0; c < kLocalCodes; ++c) {
        const uint64_t n = srv->local(slot, reason, c);
        if (n || c == usual)
          w.sample(FamilyId::kLocalResponses,
                   {listeners[slot], kLocalCodeNames[c], localReasonInfo(reason).name}, n);
      }
    }
  }
}

}  // namespace

namespace {

void writeCertificateFamilies(Exposition& w, const std::vector<CertificateRow>* rows) {
  w.begin(FamilyId::kTlsCertificateExpiry);
  if (rows)
    for (const CertificateRow& r : *rows)
      if (r.notAfter > 0)
        w.sample(FamilyId::kTlsCertificateExpiry, {r.listener, r.name},
                 static_cast<uint64_t>(r.notAfter));
  w.begin(FamilyId::kTlsCertificateReloadFailures);
  if (rows)
    for (const CertificateRow& r : *rows)
      w.sample(FamilyId::kTlsCertificateReloadFailures, {r.listener, r.name}, r.reloadFailures);
}

}  // namespace

void writeMetrics(const ScrapeInput& in, std::string& out) {
  Exposition w;
  static const std::vector<std::string> kNoListeners;
  static const std::vector<std::unique_ptr<upstream::BackendSet>> kNoPools;
  const auto& listeners = in.listeners ? *in.listeners : kNoListeners;
  const auto& pools = in.pools ? *in.pools : kNoPools;

  // Merge every block once.
  std::vector<Row> backends;  // one per backend
  std::vector<Row> others;    // pool blocks, then the server's block
  for (const auto& set : pools) {
    if (set->stats) others.push_back({set->name, {}, nullptr, set->stats->merge()});
    for (const auto& b : set->backends)
      backends.push_back({set->name, b->name(), b.get(), b->stats().merge()});
  }
  if (in.server) others.push_back({{}, {}, nullptr, in.server->merge()});

  // Requests: every backend series exists from the start (so rate() sees the first increase);
  // pool and unrouted rows only once they have counts.
  w.begin(FamilyId::kRequests);
  for (uint32_t slot = 0; slot < listeners.size(); ++slot) {
    const std::string_view l = listeners[slot];
    for (const Row& r : backends) {
      for (uint32_t c = 0; c < kCodeClasses; ++c) {
        w.sample(FamilyId::kRequests, {l, r.pool, r.backend, kCodeClassNames[c]},
                 r.m.listener(slot, static_cast<PerListener>(kCode1xx + c)));
      }
    }
    for (const Row& r : others) {
      for (uint32_t c = 0; c < kCodeClasses; ++c) {
        uint64_t n = r.m.listener(slot, static_cast<PerListener>(kCode1xx + c));
        if (n) w.sample(FamilyId::kRequests, {l, r.pool, r.backend, kCodeClassNames[c]}, n);
      }
    }
  }

  const Merged* srv = in.server ? &others.back().m : nullptr;
  writeLocalResponses(w, srv, listeners);

  struct HistFamily {
    FamilyId id;
    Histogram h;
    bool others;  // also for pool and unrouted blocks
  };
  for (HistFamily hf : {HistFamily{FamilyId::kRequestDuration, kRequestDuration, true},
                        HistFamily{FamilyId::kUpstreamResponse, kUpstreamResponse, false},
                        HistFamily{FamilyId::kUpstreamConnect, kUpstreamConnect, false}}) {
    w.begin(hf.id);
    for (const Row& r : backends)
      w.histogram(hf.id, {r.pool, r.backend}, r.m.buckets(hf.h), r.m.histSumNs(hf.h));
    if (!hf.others) continue;
    for (const Row& r : others)
      if (r.m.histCount(hf.h))
        w.histogram(hf.id, {r.pool, r.backend}, r.m.buckets(hf.h), r.m.histSumNs(hf.h));
  }

  // Client side, by listener (the server's block).
  struct ListenerFamily {
    FamilyId id;
    PerListener k;
  };
  w.begin(FamilyId::kDownstreamActive);
  for (uint32_t slot = 0; srv && slot < listeners.size(); ++slot)
    w.sample(FamilyId::kDownstreamActive, {listeners[slot]},
             gauge(srv->listener(slot, kConnOpened), srv->listener(slot, kConnClosed)));
  for (ListenerFamily lf : {ListenerFamily{FamilyId::kDownstreamTotal, kConnOpened},
                            ListenerFamily{FamilyId::kBytesReceived, kBytesIn},
                            ListenerFamily{FamilyId::kBytesSent, kBytesOut},
                            ListenerFamily{FamilyId::kTlsHandshakeFailures,
                                           kTlsHandshakeFailures}}) {
    w.begin(lf.id);
    for (uint32_t slot = 0; srv && slot < listeners.size(); ++slot)
      w.sample(lf.id, {listeners[slot]}, srv->listener(slot, lf.k));
  }
  w.begin(FamilyId::kTunnelsActive);
  for (uint32_t slot = 0; srv && slot < listeners.size(); ++slot)
    w.sample(FamilyId::kTunnelsActive, {listeners[slot]},
             gauge(srv->listener(slot, kUpgrades), srv->listener(slot, kTunnelsClosed)));
  w.begin(FamilyId::kUpgrades);
  for (uint32_t slot = 0; srv && slot < listeners.size(); ++slot)
    w.sample(FamilyId::kUpgrades, {listeners[slot]}, srv->listener(slot, kUpgrades));
  w.begin(FamilyId::kHttp2Streams);
  for (uint32_t slot = 0; srv && slot < listeners.size(); ++slot)
    w.sample(FamilyId::kHttp2Streams, {listeners[slot]}, srv->listener(slot, kH2Streams));
  w.begin(FamilyId::kHttp2ConnectionsActive);
  for (uint32_t slot = 0; srv && slot < listeners.size(); ++slot)
    w.sample(FamilyId::kHttp2ConnectionsActive, {listeners[slot]},
             gauge(srv->listener(slot, kH2ConnOpened), srv->listener(slot, kH2ConnClosed)));
  w.begin(FamilyId::kHttp2GoawaysSent);
  for (uint32_t slot = 0; srv && slot < listeners.size(); ++slot)
    for (uint32_t e = 0; e <= kH2GoawayLast - kH2GoawayFirst; ++e)
      w.sample(FamilyId::kHttp2GoawaysSent, {listeners[slot], kH2GoawayErrors[e]},
               srv->listener(slot, static_cast<PerListener>(kH2GoawayFirst + e)));

  // Upstream side, by backend.
  w.begin(FamilyId::kUpstreamActive);
  for (const Row& r : backends)
    w.sample(FamilyId::kUpstreamActive, {r.pool, r.backend},
             gauge(r.m.counter(kUpConnOpened), r.m.counter(kUpConnClosed)));
  struct CounterFamily {
    FamilyId id;
    Counter k;
  };
  for (CounterFamily cf : {CounterFamily{FamilyId::kUpstreamTotal, kUpConnOpened},
                           CounterFamily{FamilyId::kUpstreamReuses, kUpReuses},
                           CounterFamily{FamilyId::kUpstreamConnectFailures, kUpConnectFailures}}) {
    w.begin(cf.id);
    for (const Row& r : backends) w.sample(cf.id, {r.pool, r.backend}, r.m.counter(cf.k));
  }
  writeLimitFamilies(w, in);
  writeRetryFamilies(w, others);
  w.begin(FamilyId::kGrpcResponses);
  for (const Row& r : backends) {
    for (uint32_t i = 0; i <= kGrpcStatusLast - kGrpcStatusFirst; ++i) {
      const uint64_t n = r.m.counter(static_cast<Counter>(kGrpcStatusFirst + i));
      if (n) w.sample(FamilyId::kGrpcResponses, {r.pool, r.backend, kGrpcStatusLabels[i]}, n);
    }
  }

  // Backend state (the shared atomics on Backend).
  w.begin(FamilyId::kBackendUp);
  for (const Row& r : backends)
    w.sample(FamilyId::kBackendUp, {r.pool, r.backend},
             uint64_t{r.b->healthy() && !r.b->ejected()});
  w.begin(FamilyId::kBackendEjected);
  for (const Row& r : backends)
    w.sample(FamilyId::kBackendEjected, {r.pool, r.backend}, uint64_t{r.b->ejected()});
  w.begin(FamilyId::kBackendAdminState);
  for (const Row& r : backends) {
    const upstream::AdminState now = r.b->adminState();
    for (auto s : {upstream::AdminState::kEnabled, upstream::AdminState::kDraining,
                   upstream::AdminState::kDisabled})
      w.sample(FamilyId::kBackendAdminState, {r.pool, r.backend, adminStateName(s)},
               uint64_t{s == now});
  }
  w.begin(FamilyId::kBackendInFlight);
  for (const Row& r : backends) {
    const int32_t n = r.b->inFlight();
    w.sample(FamilyId::kBackendInFlight, {r.pool, r.backend}, uint64_t(n > 0 ? n : 0));
  }
  w.begin(FamilyId::kBackendWeight);
  for (const Row& r : backends)
    w.sample(FamilyId::kBackendWeight, {r.pool, r.backend}, uint64_t{r.b->weight()});
  w.begin(FamilyId::kBackendWeightEffective);
  for (const Row& r : backends)
    w.sample(FamilyId::kBackendWeightEffective, {r.pool, r.backend},
             effectiveWeightUnits(*r.b, pools));
  writeHealthFamilies(w, backends);

  // The process.
  static const ServerCounters kNoCounters;
  const ServerCounters& sc = in.counters ? *in.counters : kNoCounters;
  w.sample(FamilyId::kConfigReloads, {"success"}, sc.reloadsOk);
  w.sample(FamilyId::kConfigReloads, {"failure"}, sc.reloadsFailed);
  w.sample(FamilyId::kConfigLastReloadSuccess, {}, sc.lastReloadSuccess);
  w.sample(FamilyId::kConfigVersion, {}, sc.configVersion);
  writeCertificateFamilies(w, in.certificates);
  w.begin(FamilyId::kDiscoveryFailures);
  if (in.discoveryFailures)
    for (const auto& [pool, n] : *in.discoveryFailures)
      w.sample(FamilyId::kDiscoveryFailures, {pool}, n);
  w.sample(FamilyId::kAccessLogDropped, {}, in.accessLogDropped);
  static constexpr std::string_view kResults[] = {"allowed", "limited", "dry_run_limited",
                                                  "store_error"};
  w.begin(FamilyId::kRateLimitDecisions);
  for (const RateLimitRow& r : in.rateLimits)
    for (size_t i = 0; i < std::size(kResults); ++i)
      w.sample(FamilyId::kRateLimitDecisions, {r.policy, kResults[i]}, r.counts[i]);
  w.sample(FamilyId::kBuildInfo, {SWITCHYARD_VERSION}, uint64_t{1});
  if (in.processStats) {
    const ProcessStats p = readProcessStats();
    w.sample(FamilyId::kProcessCpu, {}, p.cpuSeconds);
    w.sample(FamilyId::kProcessResident, {}, p.residentBytes);
    w.sample(FamilyId::kProcessVirtual, {}, p.virtualBytes);
    w.sample(FamilyId::kProcessOpenFds, {}, p.openFds);
    w.sample(FamilyId::kProcessMaxFds, {}, p.maxFds);
    w.sample(FamilyId::kProcessStartTime, {}, p.startTimeSeconds);
  }
  w.serialize(out);
}

}  // namespace sy::metrics
