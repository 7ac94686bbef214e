#pragma once
// Builds the /metrics page: merges the per-worker shards of every stats block (backends, pools,
// the server's own block) and writes every family of families.h in table order.
// Main thread (the admin listener), at scrape time.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/metrics/stats.h"
#include "switchyard/upstream/backend.h"

namespace sy::metrics {

// Counters kept by the main thread itself.
struct ServerCounters {
  uint64_t reloadsOk = 0;
  uint64_t reloadsFailed = 0;
  double lastReloadSuccess = 0;  // unix seconds (start-up counts as a successful load)
  uint64_t configVersion = 0;
};

// One certificate file watched for rotation (server/cert_watch.h).
struct CertificateRow {
  std::string listener;  // listener name, or "pool/<name>" for a pool's client side
  std::string name;      // the certificate file as configured (the CA bundle when no cert)
  int64_t notAfter = 0;  // unix seconds; 0 = no certificate (a CA bundle only): no gauge
  uint64_t reloadFailures = 0;
};

// One rate-limit policy's decision counts, by ratelimit::Result (allowed, limited,
// dry_run_limited, store_error).
struct RateLimitRow {
  std::string_view policy;
  uint64_t counts[4] = {};
};

struct ScrapeInput {
  // Pools of the current snapshot, in config order.
  const std::vector<std::unique_ptr<upstream::BackendSet>>* pools = nullptr;
  // Listener names by slot (start-up config order).
  const std::vector<std::string>* listeners = nullptr;
  // The server's block: unrouted answers, client connections and bytes.
  const StatsBlock* server = nullptr;
  const ServerCounters* counters = nullptr;
  uint64_t accessLogDropped = 0;
  const std::vector<CertificateRow>* certificates = nullptr;
  // DNS discovery failures by pool name (discovery::Discovery::failuresByPool).
  const std::map<std::string, uint64_t>* discoveryFailures = nullptr;
  std::vector<RateLimitRow> rateLimits;
  bool processStats = true;  // include process_* (off in unit tests for stable output)
};

void writeMetrics(const ScrapeInput& in, std::string& out);

class Exposition;
// Upstream connections by state, pool limits and queue, injected faults (collect_limits.cc).
void writeLimitFamilies(Exposition& w, const ScrapeInput& in);

}  // namespace sy::metrics
