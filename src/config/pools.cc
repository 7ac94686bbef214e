// The `pools:` section: pools, backends, health checks, outlier detection and retries.

#include <charconv>
#include <string_view>

#include "sections.h"
#include "switchyard/balancing/registry.h"
#include "switchyard/config/units.h"
#include "switchyard/net/tls.h"

namespace sy::config::detail {
namespace {

constexpr int64_t kMaxWeight = 10000;
constexpr int kMinStatus = 100;
constexpr int kMaxStatus = 599;
constexpr Duration kMinDiscoveryInterval = std::chrono::milliseconds(100);
constexpr int64_t kMaxRequestCap = 1'000'000;  // max_requests, max_pending
constexpr int64_t kMaxIdleCap = 100'000;

// pools[].limits: {max_requests, max_pending, pending_timeout}.
void loadLimits(Walker& w, const YAML::Node& node, const std::string& path, PoolLimits& out) {
  MapView m(w, node, path, {"max_requests", "max_pending", "pending_timeout"});
  if (!m.ok()) return;
  m.integer("max_requests", out.maxRequests, 1, kMaxRequestCap);
  m.integer("max_pending", out.maxPending, 0, kMaxRequestCap);
  m.duration("pending_timeout", out.pendingTimeout);
}
// A request remembers the backends it tried in a fixed array (UpstreamRequest::tried_).
constexpr int64_t kMaxRetryAttempts = 15;
// Kept request bodies live in a fixed number of pooled blocks (proxy/kept_body.h).
constexpr uint64_t kMaxKeptBody = 1024 * 1024;

std::optional<int> parseStatus(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (value < kMinStatus || value > kMaxStatus) return std::nullopt;
  return value;
}

// "200-399" or "204" (a YAML string or integer) -> inclusive range.
std::optional<std::pair<int, int>> readStatusRange(Walker& w, const YAML::Node& node,
                                                   const std::string& path) {
  std::optional<std::string> text = readString(w, node, path);
  if (!text) return std::nullopt;
  std::string_view s = *text;
  size_t dash = s.find('-');
  std::optional<int> low = parseStatus(s.substr(0, dash));
  std::optional<int> high = dash == std::string_view::npos ? low : parseStatus(s.substr(dash + 1));
  if (!low || !high || *low > *high) {
    w.fail(node, path,
           "must be a status code like 204 or a range like \"200-399\", within 100-599");
    return std::nullopt;
  }
  return std::pair{*low, *high};
}

// max_ejection_percent: "50%", 0.5, or (the key being a percentage) a bare number above 1 up to
// 100, as in Envoy: `max_ejection_percent: 50`.
bool readEjectionPercent(const MapView& m, double& out) {
  std::optional<YAML::Node> node = m.get("max_ejection_percent");
  if (!node) return false;
  Walker& w = m.walker();
  if (node->IsScalar()) {
    double value = 0;
    const std::string& text = node->Scalar();
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (!text.empty() && ec == std::errc() && end == text.data() + text.size() && value > 1) {
      if (value > 100) {
        w.fail(*node, m.pathOf("max_ejection_percent"), "must be at most 100%");
        return false;
      }
      out = value / 100;
      return true;
    }
  }
  std::optional<double> value = readFraction(w, *node, m.pathOf("max_ejection_percent"));
  if (!value) return false;
  out = *value;
  return true;
}

std::optional<HealthCheck> loadHealthCheck(Walker& w, const YAML::Node& node,
                                           const std::string& path) {
  MapView m(w, node, path,
            {"type", "path", "host", "interval", "timeout", "jitter", "healthy_threshold",
             "unhealthy_threshold", "expected_statuses", "service"});
  HealthCheck hc;
  if (std::string type; m.string("type", type)) {
    if (type == "http") {
      hc.type = HealthCheckType::kHttp;
    } else if (type == "tcp") {
      hc.type = HealthCheckType::kTcp;
    } else if (type == "grpc") {
      hc.type = HealthCheckType::kGrpc;
    } else {
      w.fail(*m.get("type"), m.pathOf("type"), "must be one of: http, tcp, grpc");
    }
  }
  if (m.string("service", hc.service) && hc.type != HealthCheckType::kGrpc) {
    w.fail(*m.get("service"), m.pathOf("service"),
           "has no effect unless type is grpc (the grpc.health.v1 service to ask about)");
  }
  if (m.string("path", hc.path) && !hc.path.starts_with('/')) {
    w.fail(*m.get("path"), m.pathOf("path"), "must start with '/'");
  }
  if (m.string("host", hc.host) && hc.host->empty()) {
    w.fail(*m.get("host"), m.pathOf("host"), "must not be empty (use null for the default)");
  }
  m.duration("interval", hc.interval);
  m.duration("timeout", hc.timeout);
  m.fraction("jitter", hc.jitter);
  m.integer("healthy_threshold", hc.healthyThreshold, 1);
  m.integer("unhealthy_threshold", hc.unhealthyThreshold, 1);
  if (std::optional<YAML::Node> statuses = m.get("expected_statuses")) {
    hc.expectedStatuses.clear();
    std::string listPath = m.pathOf("expected_statuses");
    forEachItem(w, *statuses, listPath,
                [&](const YAML::Node& item, const std::string& itemPath, size_t) {
                  if (auto range = readStatusRange(w, item, itemPath)) {
                    hc.expectedStatuses.push_back(*range);
                  }
                });
    if (w.ok() && hc.expectedStatuses.empty()) {
      w.fail(*statuses, listPath, "must list at least one status or range");
    }
  }
  if (!w.ok()) return std::nullopt;
  return hc;
}

std::optional<OutlierDetection> loadOutlierDetection(Walker& w, const YAML::Node& node,
                                                     const std::string& path) {
  MapView m(
      w, node, path,
      {"consecutive_failures", "base_ejection_time", "max_ejection_time", "max_ejection_percent"});
  OutlierDetection od;
  m.integer("consecutive_failures", od.consecutiveFailures, 1);
  m.duration("base_ejection_time", od.baseEjectionTime);
  m.duration("max_ejection_time", od.maxEjectionTime);
  readEjectionPercent(m, od.maxEjectionPercent);
  if (w.ok() && od.maxEjectionTime < od.baseEjectionTime) {
    std::string_view key = m.get("max_ejection_time") ? "max_ejection_time" : "base_ejection_time";
    w.fail(*m.get(key), m.pathOf(key),
           "max_ejection_time (" + formatDuration(od.maxEjectionTime) +
               ") must be >= base_ejection_time (" + formatDuration(od.baseEjectionTime) + ")");
  }
  if (!w.ok()) return std::nullopt;
  return od;
}

void loadRetryOn(Walker& w, const YAML::Node& on, const std::string& path, Retries& out) {
  out.on = 0;
  forEachItem(w, on, path, [&](const YAML::Node& item, const std::string& itemPath, size_t) {
    std::optional<std::string> condition = readString(w, item, itemPath);
    if (!condition) return;
    static constexpr std::pair<std::string_view, uint32_t> kConditions[] = {
        {"connect_failure", kRetryConnectFailure},
        {"reset", kRetryReset},
        {"timeout", kRetryTimeout},
        {"429", kRetry429},
        {"500", kRetry500},
        {"502", kRetry502},
        {"503", kRetry503},
        {"504", kRetry504},
        {"5xx", kRetry500 | kRetry502 | kRetry503 | kRetry504},
        {"unavailable", kRetryUnavailable},
    };
    for (const auto& [name, bits] : kConditions) {
      if (*condition == name) {
        out.on |= bits;
        return;
      }
    }
    w.fail(item, itemPath,
           "must be one of: connect_failure, reset, timeout, 429, 500, 502, 503, 504, 5xx, "
           "unavailable");
  });
}

void loadRetries(Walker& w, const YAML::Node& node, const std::string& path, Retries& out) {
  MapView m(w, node, path,
            {"attempts", "on", "per_try_timeout", "methods", "max_body_bytes", "backoff",
             "budget", "hedge"});
  if (!m.ok()) return;
  m.integer("attempts", out.attempts, 0, kMaxRetryAttempts);
  if (std::optional<YAML::Node> on = m.get("on")) loadRetryOn(w, *on, m.pathOf("on"), out);
  m.duration("per_try_timeout", out.perTryTimeout, /*allowZero=*/true);
  if (std::string methods; m.string("methods", methods)) {
    if (methods == "idempotent" || methods == "all") {
      out.allMethods = methods == "all";
    } else {
      w.fail(*m.get("methods"), m.pathOf("methods"), "must be one of: idempotent, all");
    }
  }
  m.size("max_body_bytes", out.maxBodyBytes, 0, kMaxKeptBody);
  if (std::optional<YAML::Node> backoff = m.get("backoff")) {
    MapView b(w, *backoff, m.pathOf("backoff"), {"base", "max"});
    b.duration("base", out.backoffBase, /*allowZero=*/true);
    b.duration("max", out.backoffMax, /*allowZero=*/true);
    if (w.ok() && out.backoffMax < out.backoffBase) {
      std::string_view key = b.get("max") ? "max" : "base";
      w.fail(*b.get(key), b.pathOf(key),
             "max (" + formatDuration(out.backoffMax) + ") must be >= base (" +
                 formatDuration(out.backoffBase) + ")");
    }
  }
  if (std::optional<YAML::Node> budget = m.get("budget")) {
    MapView b(w, *budget, m.pathOf("budget"), {"percent", "min_per_second"});
    RetryBudget rb;
    b.fraction("percent", rb.percent);
    b.integer("min_per_second", rb.minPerSecond, 0, 1000000);
    if (w.ok()) out.budget = rb;
  }
  if (std::optional<YAML::Node> hedge = m.get("hedge")) {
    MapView h(w, *hedge, m.pathOf("hedge"), {"after"});
    if (h.require("after")) h.duration("after", out.hedgeAfter);
  }
}

// A name:port that is resolved at run time (DNS discovery), so it is only checked for syntax.
std::optional<SocketAddress> readDnsAddress(Walker& w, const YAML::Node& node,
                                            const std::string& path) {
  if (!w.ok()) return std::nullopt;
  std::optional<std::string> text = readString(w, node, path);
  if (!text) return std::nullopt;
  auto address = parseHostPort(*text);
  if (!address) {
    w.fail(node, path, address.error());
    return std::nullopt;
  }
  bool literal = !address->text.empty() && address->text.front() == '[';
  if ((literal && !parseSocketAddress(address->text)) || (!literal && !isDnsName(address->host))) {
    w.fail(node, path,
           "must be name:port with a DNS name, e.g. web.default.svc.cluster.local:80");
    return std::nullopt;
  }
  if (address->port == 0) {
    w.fail(node, path, "port must be > 0");
    return std::nullopt;
  }
  return std::move(*address);
}

// pools[].discovery (the cross-check against the backends is in loadPool).
void loadDiscovery(Walker& w, const YAML::Node& node, const std::string& path, Discovery& out) {
  MapView m(w, node, path, {"dns", "srv", "interval", "resolver", "weight"});
  if (!m.ok()) return;
  if (std::optional<YAML::Node> dns = m.get("dns")) {
    out.dns = readDnsAddress(w, *dns, m.pathOf("dns"));
  }
  if (std::optional<YAML::Node> srv = m.get("srv"); srv && w.ok()) {
    std::optional<std::string> name = readString(w, *srv, m.pathOf("srv"));
    if (name && !isDnsName(*name)) {
      w.fail(*srv, m.pathOf("srv"),
             "must be a DNS name (no port), e.g. _http._tcp.web.default.svc.cluster.local");
    } else if (name) {
      out.srv = std::move(*name);
    }
  }
  if (m.duration("interval", out.interval) && out.interval < kMinDiscoveryInterval) {
    w.fail(*m.get("interval"), m.pathOf("interval"),
           "must be at least " + formatDuration(kMinDiscoveryInterval));
  }
  if (std::optional<YAML::Node> resolver = m.get("resolver")) {
    out.resolver = readAddress(w, *resolver, m.pathOf("resolver"), false);
  }
  m.integer("weight", out.weight, 1, kMaxWeight);
}

void loadBackend(Walker& w, const YAML::Node& node, const std::string& path, const Config& config,
                 Pool& pool) {
  MapView m(w, node, path,
            {"name", "address", "weight", "region", "zone", "location", "resolve",
             "max_requests"});
  if (!m.ok()) return;
  Backend backend;
  backend.mark = m.mark();
  m.boolean("resolve", backend.resolve);
  if (m.require("address")) {
    std::optional<SocketAddress> address =
        backend.resolve ? readDnsAddress(w, *m.get("address"), m.pathOf("address"))
                        : readAddress(w, *m.get("address"), m.pathOf("address"), false);
    if (!address) return;
    backend.address = std::move(*address);
    backend.name = backend.address.text;
  }
  bool named = m.name("name", backend.name);
  m.integer("weight", backend.weight, 1, kMaxWeight);
  m.integer("max_requests", backend.maxRequests, 1, kMaxRequestCap);
  if (m.name("region", backend.region)) {
    checkRegionExists(w, config, *m.get("region"), m.pathOf("region"), backend.region);
  }
  m.name("zone", backend.zone);
  if (std::optional<YAML::Node> location = m.get("location")) {
    MapView l(w, *location, m.pathOf("location"), {"lat", "lon"});
    LatLon where;
    if (l.require("lat")) l.number("lat", where.lat, -90, 90);
    if (l.require("lon")) l.number("lon", where.lon, -180, 180);
    backend.location = where;
  }
  if (!w.ok()) return;
  if (const auto check = balancing::policyInfo(pool.policy).checkBackend) {
    if (std::string problem = check(pool, backend); !problem.empty()) {
      w.fail(node, path, std::move(problem));
      return;
    }
  }
  for (size_t i = 0; i < pool.backends.size(); ++i) {
    if (pool.backends[i].name != backend.name) continue;
    std::string message = "duplicate backend name '" + backend.name + "' in pool '" + pool.name +
                          "' (also backends[" + std::to_string(i) + "])";
    if (named) {
      w.fail(*m.get("name"), m.pathOf("name"), std::move(message));
    } else {
      w.fail(node, path,
             message +
                 "; a backend's name defaults to its address, so give each "
                 "backend a distinct name");
    }
    return;
  }
  pool.backends.push_back(std::move(backend));
}

// pools[].tls. Files are read here so --check and a reload refuse a bad CA or client certificate.
std::optional<PoolTls> loadPoolTls(Walker& w, const YAML::Node& node, const std::string& path) {
  MapView m(w, node, path, {"enabled", "ca", "verify", "sni", "cert", "key"});
  if (!m.ok()) return std::nullopt;
  PoolTls tls;
  tls.mark = m.mark();
  m.boolean("enabled", tls.enabled);
  m.boolean("verify", tls.verify);
  m.string("sni", tls.sni);
  if (m.string("ca", tls.ca)) {
    if (std::string err = net::checkCaFile(tls.ca); !err.empty())
      w.fail(*m.get("ca"), m.pathOf("ca"), err);
  }
  const bool hasCert = m.string("cert", tls.cert);
  const bool hasKey = m.string("key", tls.key);
  if (hasCert != hasKey) {
    w.fail(node, path, "cert and key go together: give both or neither");
  } else if (hasCert) {
    if (std::string err = net::checkCertificateFiles(tls.cert, tls.key); !err.empty())
      w.fail(*m.get("cert"), m.pathOf("cert"), err);
  }
  if (!w.ok()) return std::nullopt;
  if (!tls.enabled) return std::nullopt;
  return tls;
}

// pools[].protocol and pools[].http2.
void loadProtocol(Walker& w, const MapView& m, Pool& pool) {
  if (std::string proto; m.string("protocol", proto)) {
    if (proto == "http1") {
      pool.protocol = UpstreamProtocol::kHttp1;
    } else if (proto == "h2") {
      pool.protocol = UpstreamProtocol::kH2;
      if (w.ok() && !pool.tls)
        w.fail(*m.get("protocol"), m.pathOf("protocol"),
               "h2 is HTTP/2 over TLS: it needs pools[].tls (use h2c for cleartext)");
    } else if (proto == "h2c") {
      pool.protocol = UpstreamProtocol::kH2c;
      if (w.ok() && pool.tls)
        w.fail(*m.get("protocol"), m.pathOf("protocol"),
               "h2c is cleartext HTTP/2: use h2 with pools[].tls");
    } else {
      w.fail(*m.get("protocol"), m.pathOf("protocol"), "must be one of: http1, h2, h2c");
    }
  }
  if (std::optional<YAML::Node> h2 = m.get("http2")) {
    MapView h(w, *h2, m.pathOf("http2"), {"max_concurrent_streams"});
    if (h.ok()) h.integer("max_concurrent_streams", pool.http2MaxConcurrentStreams, 1, 1000);
  }
}

void loadPool(Walker& w, const YAML::Node& node, const std::string& path, Config& config) {
  MapView m(w, node, path,
            {"name", "policy", "backends", "health_check", "outlier_detection", "slow_start",
             "panic_threshold", "retries", "geo", "hash_key", "timeouts", "discovery", "tls",
             "limits", "max_idle_per_backend", "protocol", "http2"});
  if (!m.ok()) return;
  Pool pool;
  pool.mark = m.mark();
  pool.timeouts = config.timeouts;
  if (m.require("name") && m.name("name", pool.name)) {
    for (size_t i = 0; i < config.pools.size(); ++i) {
      if (config.pools[i].name == pool.name) {
        w.fail(*m.get("name"), m.pathOf("name"),
               "duplicate pool name '" + pool.name + "' (also pools[" + std::to_string(i) + "])");
        return;
      }
    }
  }
  if (std::string policy; m.string("policy", policy)) {
    if (const balancing::PolicyInfo* info = balancing::findPolicy(policy)) {
      pool.policy = info->kind;
    } else {
      w.fail(*m.get("policy"), m.pathOf("policy"),
             "must be one of: " + balancing::policyNames());
    }
  }
  std::optional<YAML::Node> discovery = m.get("discovery");
  if (discovery) loadDiscovery(w, *discovery, m.pathOf("discovery"), pool.discovery);
  // A pool that discovers its backends through `discovery.dns` or `.srv` may list none itself.
  const bool discovers = pool.discovery.dns.has_value() || pool.discovery.srv.has_value();
  if (discovers || m.require("backends")) {
    std::optional<YAML::Node> backends = m.get("backends");
    if (backends) {
      forEachItem(w, *backends, m.pathOf("backends"),
                  [&](const YAML::Node& item, const std::string& itemPath, size_t) {
                    loadBackend(w, item, itemPath, config, pool);
                  });
    }
    if (w.ok() && backends && pool.backends.empty() && !discovers) {
      w.fail(*backends, m.pathOf("backends"), "must have at least one backend");
    }
  }
  if (w.ok() && discovery && !discovers) {
    bool resolves = false;
    for (const Backend& b : pool.backends) resolves = resolves || b.resolve;
    if (!resolves) {
      w.fail(*discovery, m.pathOf("discovery"),
             "has nothing to resolve: give it `dns: name:port` or `srv: name`, or mark backends "
             "`resolve: true`");
    }
  }
  if (std::optional<YAML::Node> hc = m.get("health_check")) {
    pool.healthCheck = loadHealthCheck(w, *hc, m.pathOf("health_check"));
  }
  if (std::optional<YAML::Node> od = m.get("outlier_detection")) {
    pool.outlierDetection = loadOutlierDetection(w, *od, m.pathOf("outlier_detection"));
  }
  m.duration("slow_start", pool.slowStart, /*allowZero=*/true);
  m.fraction("panic_threshold", pool.panicThreshold);
  if (std::optional<YAML::Node> retries = m.get("retries")) {
    loadRetries(w, *retries, m.pathOf("retries"), pool.retries);
  }
  if (std::optional<YAML::Node> geo = m.get("geo")) {
    MapView g(w, *geo, m.pathOf("geo"), {"overprovisioning"});
    g.number("overprovisioning", pool.geoOverprovisioning, 1.0, std::numeric_limits<double>::max());
  }
  if (std::string text; m.string("hash_key", text)) {
    if (auto key = parseHashKey(text)) {
      pool.hashKey = std::move(*key);
    } else {
      w.fail(*m.get("hash_key"), m.pathOf("hash_key"), key.error());
    }
  }
  readPoolTimeouts(m, pool.timeouts);
  if (std::optional<YAML::Node> limits = m.get("limits")) {
    loadLimits(w, *limits, m.pathOf("limits"), pool.limits);
  }
  m.integer("max_idle_per_backend", pool.maxIdlePerBackend, 0, kMaxIdleCap);
  if (std::optional<YAML::Node> tls = m.get("tls")) {
    pool.tls = loadPoolTls(w, *tls, m.pathOf("tls"));
  }
  loadProtocol(w, m, pool);
  if (w.ok()) config.pools.push_back(std::move(pool));
}

}  // namespace

void loadPools(Walker& w, const YAML::Node& node, const std::string& path, Config& config) {
  forEachItem(w, node, path, [&](const YAML::Node& item, const std::string& itemPath, size_t) {
    loadPool(w, item, itemPath, config);
  });
  if (w.ok() && config.pools.empty()) w.fail(node, path, "must have at least one pool");
}

}  // namespace sy::config::detail
