#pragma once
// Every metric Switchyard exports, declared once: name, type, help text
// and label names, plus the histogram bucket bounds. The collector (collect.cc) fills the
// families with Exposition (exposition.h, prometheus-cpp), which writes them in this order;
// nothing else spells a metric name. Help texts hold no backslash or line feed (the
// serialiser writes them as they are).
// Constant data: any thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sy::metrics {

enum class Type : uint8_t { kCounter, kGauge, kHistogram };

struct Family {
  std::string_view name;
  Type type;
  std::string_view help;
  std::array<std::string_view, 4> labels;  // label names in order; unused entries empty

  constexpr size_t labelCount() const {
    size_t n = 0;
    while (n < labels.size() && !labels[n].empty()) ++n;
    return n;
  }
};

enum class FamilyId : uint8_t {
  kRequests,
  kLocalResponses,
  kRequestDuration,
  kUpstreamResponse,
  kUpstreamConnect,
  kDownstreamActive,
  kDownstreamTotal,
  kBytesReceived,
  kBytesSent,
  kTlsHandshakeFailures,
  kTunnelsActive,
  kUpgrades,
  kHttp2Streams,
  kHttp2ConnectionsActive,
  kHttp2GoawaysSent,
  kUpstreamActive,
  kUpstreamTotal,
  kUpstreamReuses,
  kUpstreamConnectFailures,
  kRetries,
  kUpstreamConnections,
  kPoolPending,
  kPoolOverflow,
  kPendingWait,
  kFaultsInjected,
  kRetryBudgetExhausted,
  kHedges,
  kGrpcResponses,
  kBackendUp,
  kBackendEjected,
  kBackendAdminState,
  kBackendInFlight,
  kBackendWeight,
  kBackendWeightEffective,
  kHealthChecks,
  kBackendEjections,
  kConfigReloads,
  kConfigLastReloadSuccess,
  kConfigVersion,
  kTlsCertificateExpiry,
  kTlsCertificateReloadFailures,
  kDiscoveryFailures,
  kAccessLogDropped,
  kRateLimitDecisions,
  kBuildInfo,
  kProcessCpu,
  kProcessResident,
  kProcessVirtual,
  kProcessOpenFds,
  kProcessMaxFds,
  kProcessStartTime,
  kCount,
};

// Indexed by FamilyId.
inline constexpr Family kFamilies[] = {
    {"switchyard_requests_total", Type::kCounter,
     "Requests answered, by listener, pool, backend (last one tried; empty when none was) and "
     "status class of the answer sent to the client.",
     {"listener", "pool", "backend", "code_class"}},
    {"switchyard_local_responses_total", Type::kCounter,
     "Answers made by the proxy itself instead of relayed from a backend, by listener, status "
     "code and reason (no_route, no_backend, connect_failed, upstream_timeout, ...).",
     {"listener", "code", "reason"}},
    {"switchyard_request_duration_seconds", Type::kHistogram,
     "Client-side request duration: first request byte received to last response byte handed "
     "to the client socket.",
     {"pool", "backend"}},
    {"switchyard_upstream_response_seconds", Type::kHistogram,
     "Backend time to response head: request written on a connected upstream connection to "
     "the response head received (connect time excluded).",
     {"pool", "backend"}},
    {"switchyard_upstream_connect_seconds", Type::kHistogram,
     "Time to establish a new TCP connection to a backend (successful connects).",
     {"pool", "backend"}},
    {"switchyard_downstream_connections_active", Type::kGauge, "Open client connections.",
     {"listener"}},
    {"switchyard_downstream_connections_total", Type::kCounter, "Client connections accepted.",
     {"listener"}},
    {"switchyard_bytes_received_total", Type::kCounter,
     "Bytes read from client connections (heads and bodies).", {"listener"}},
    {"switchyard_bytes_sent_total", Type::kCounter,
     "Bytes written to client connections (heads and bodies).", {"listener"}},
    {"switchyard_tls_handshake_failures_total", Type::kCounter,
     "Client TLS handshakes that failed (protocol version, cipher, bad record, ...).",
     {"listener"}},
    {"switchyard_tunnels_active", Type::kGauge,
     "Upgraded (WebSocket) client connections relaying bytes to a backend.", {"listener"}},
    {"switchyard_upgrades_total", Type::kCounter,
     "Client connections switched to a tunnel by a backend's 101 Switching Protocols.",
     {"listener"}},
    {"switchyard_http2_streams_total", Type::kCounter,
     "HTTP/2 streams that carried a request from a client.", {"listener"}},
    {"switchyard_http2_connections_active", Type::kGauge,
     "Open client connections speaking HTTP/2.", {"listener"}},
    {"switchyard_http2_goaways_sent_total", Type::kCounter,
     "GOAWAY frames sent to HTTP/2 clients, by error code (NO_ERROR on drain and reload; "
     "ENHANCE_YOUR_CALM when a connection spent its budget of protocol glitches).",
     {"listener", "error"}},
    {"switchyard_upstream_connections_active", Type::kGauge,
     "Open connections to a backend (connecting, in use or idle in a keep-alive pool).",
     {"pool", "backend"}},
    {"switchyard_upstream_connections_total", Type::kCounter,
     "Connections opened to a backend.", {"pool", "backend"}},
    {"switchyard_upstream_connection_reuses_total", Type::kCounter,
     "Requests sent on a kept-alive upstream connection instead of a new one.",
     {"pool", "backend"}},
    {"switchyard_upstream_connect_failures_total", Type::kCounter,
     "Failed or timed-out connects to a backend.", {"pool", "backend"}},
    {"switchyard_retries_total", Type::kCounter,
     "Retries made by the pool, by reason (connect_failure, reset, timeout, 429, 500, 502, 503, "
     "504, keepalive_race, unavailable).",
     {"pool", "reason"}},
    {"switchyard_upstream_connections", Type::kGauge,
     "Connections to a backend by state: idle (kept alive in a worker's pool, trimmed "
     "to pools[].max_idle_per_backend per worker within two seconds) or active (connecting or carrying a request).",
     {"pool", "backend", "state"}},
    {"switchyard_pool_pending", Type::kGauge,
     "Requests queued for a slot of the pool (pools[].limits), across all workers.", {"pool"}},
    {"switchyard_pool_overflow_total", Type::kCounter,
     "Requests answered 503 because the pool's queue was full (limits.max_pending) or no slot "
     "freed within limits.pending_timeout.",
     {"pool"}},
    {"switchyard_pending_wait_seconds", Type::kHistogram,
     "Time requests spent queued for a slot of the pool (queued requests only, whether they "
     "were then sent or timed out).",
     {"pool"}},
    {"switchyard_faults_injected_total", Type::kCounter,
     "Faults injected by routes[].fault (configured share or a trusted request header), by "
     "kind (delay, abort).",
     {"listener", "kind"}},
    {"switchyard_retry_budget_exhausted_total", Type::kCounter,
     "Retries not made because the pool's retry budget was spent (the failed answer went to "
     "the client).",
     {"pool"}},
    {"switchyard_hedges_total", Type::kCounter,
     "Hedged requests: sent (a second attempt started after retries.hedge.after), won (its "
     "answer went to the client), lost (the first attempt answered first, or the hedge failed).",
     {"pool", "result"}},
    {"switchyard_grpc_responses_total", Type::kCounter,
     "gRPC calls answered by a backend, by the grpc-status the client got (trailers, or the "
     "head of a trailers-only answer; without one, gRPC's mapping of the HTTP status: 2 for a "
     "200). A series appears with its first call.",
     {"pool", "backend", "grpc_status"}},
    {"switchyard_backend_up", Type::kGauge,
     "1 if the backend is healthy and not ejected, else 0 (admin state not included).",
     {"pool", "backend"}},
    {"switchyard_backend_ejected", Type::kGauge,
     "1 while outlier detection has ejected the backend.", {"pool", "backend"}},
    {"switchyard_backend_admin_state", Type::kGauge,
     "Admin state set through the admin API: 1 for the current state.",
     {"pool", "backend", "state"}},
    {"switchyard_backend_in_flight", Type::kGauge,
     "Requests in flight on the backend across all workers.", {"pool", "backend"}},
    {"switchyard_backend_weight", Type::kGauge, "Configured weight of the backend.",
     {"pool", "backend"}},
    {"switchyard_backend_weight_effective", Type::kGauge,
     "Weight the balancing policy uses now (lower than configured during slow start).",
     {"pool", "backend"}},
    {"switchyard_health_checks_total", Type::kCounter,
     "Active health checks by result (success, failure).", {"pool", "backend", "result"}},
    {"switchyard_backend_ejections_total", Type::kCounter,
     "Backend ejections by outlier detection, by reason.", {"pool", "backend", "reason"}},
    {"switchyard_config_reloads_total", Type::kCounter,
     "Configuration reloads (SIGHUP, --watch or POST /reload) by result (success, failure).",
     {"result"}},
    {"switchyard_config_last_reload_success_timestamp_seconds", Type::kGauge,
     "Unix time of the last successful configuration load (start-up counts).", {}},
    {"switchyard_config_version", Type::kGauge,
     "Version number of the running configuration (1 at start-up, +1 per successful reload).",
     {}},
    {"switchyard_tls_certificate_expiry_timestamp_seconds", Type::kGauge,
     "notAfter of a certificate in use, as Unix time: listener certificates (listener, name = "
     "the cert file) and pool client certificates (listener = pool/<pool>).",
     {"listener", "name"}},
    {"switchyard_tls_certificate_reload_failures_total", Type::kCounter,
     "Certificate files that changed on disk but could not be used (the previous certificate "
     "stayed in use).",
     {"listener", "name"}},
    {"switchyard_discovery_failures_total", Type::kCounter,
     "DNS discovery lookups that failed (the last good answer was kept), by pool asking.",
     {"pool"}},
    {"switchyard_access_log_dropped_total", Type::kCounter,
     "Access log lines dropped because the log writer fell behind.", {}},
    {"switchyard_ratelimit_decisions_total", Type::kCounter,
     "Rate-limit decisions by policy and result: allowed, limited (refused with 429), "
     "dry_run_limited (over the limit, passed: mode dry_run), store_error (the store did not "
     "answer: passed, fail open).",
     {"policy", "result"}},
    {"switchyard_build_info", Type::kGauge, "Always 1; the version label names the build.",
     {"version"}},
    {"process_cpu_seconds_total", Type::kCounter,
     "Total user and system CPU time spent in seconds.", {}},
    {"process_resident_memory_bytes", Type::kGauge, "Resident memory size in bytes.", {}},
    {"process_virtual_memory_bytes", Type::kGauge, "Virtual memory size in bytes.", {}},
    {"process_open_fds", Type::kGauge, "Number of open file descriptors.", {}},
    {"process_max_fds", Type::kGauge, "Maximum number of open file descriptors.", {}},
    {"process_start_time_seconds", Type::kGauge,
     "Start time of the process since unix epoch in seconds.", {}},
};
static_assert(std::size(kFamilies) == static_cast<size_t>(FamilyId::kCount),
              "one kFamilies entry per FamilyId, in the same order");

constexpr const Family& family(FamilyId id) { return kFamilies[static_cast<size_t>(id)]; }

// Histogram bucket upper bounds (inclusive, "le"), in nanoseconds: 100 µs to 10 s, roughly
// 1-2.5-5 per decade, which resolves both a proxy's sub-millisecond overhead on a LAN and
// slow backends near the usual timeouts. Observations above the last bound land in +Inf.
inline constexpr uint64_t kBucketBoundsNs[] = {
    100'000,       250'000,       500'000,       1'000'000,     2'500'000,   5'000'000,
    10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000, 500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000,
};
inline constexpr uint32_t kBucketBounds = static_cast<uint32_t>(std::size(kBucketBoundsNs));
inline constexpr uint32_t kBuckets = kBucketBounds + 1;  // + the +Inf bucket

// Index of the bucket an observation of `ns` falls in (kBucketBounds = +Inf).
constexpr uint32_t bucketIndex(uint64_t ns) {
  uint32_t i = 0;
  while (i < kBucketBounds && ns > kBucketBoundsNs[i]) ++i;
  return i;
}

}  // namespace sy::metrics
