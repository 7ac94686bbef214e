// --dump-config, the `pools:` list: every pool with its backends, checks, retries, limits,
// discovery and TLS, defaults filled in (the top level and listeners are in dump.cc).

#include <string>

#include <yaml-cpp/yaml.h>

#include "dump_emit.h"
#include "switchyard/balancing/registry.h"
#include "switchyard/config/dump.h"

namespace sy::config::detail {

void upstreamTimeouts(YAML::Emitter& out, const UpstreamTimeouts& t) {
  key(out, "upstream_connect");
  out << formatDuration(t.upstreamConnect);
  key(out, "upstream_response");
  out << formatDuration(t.upstreamResponse);
  key(out, "upstream_idle");
  out << formatDuration(t.upstreamIdle);
  key(out, "tunnel_idle");
  out << formatDuration(t.tunnelIdle);
}

std::string hashKeyText(const HashKey& k) {
  switch (k.kind) {
    case HashKey::Kind::kHeader: return "header:" + k.name;
    case HashKey::Kind::kCookie: return "cookie:" + k.name;
    case HashKey::Kind::kPath: return "path";
    case HashKey::Kind::kClientIp: break;
  }
  return "ip";
}

namespace {

void backend(YAML::Emitter& out, const Backend& b) {
  out << YAML::BeginMap;
  if (b.name != b.address.text) {  // the default name, left out ("[::1]:80" is no valid name)
    key(out, "name");
    out << b.name;
  }
  key(out, "address");
  out << b.address.text;
  key(out, "weight");
  out << b.weight;
  if (!b.region.empty()) {
    key(out, "region");
    out << b.region;
  }
  if (!b.zone.empty()) {
    key(out, "zone");
    out << b.zone;
  }
  if (b.location) {
    key(out, "location");
    latLon(out, *b.location);
  }
  key(out, "resolve");
  out << b.resolve;
  if (b.maxRequests != 0) {  // 0 = no cap, which has no spelling (the key is >= 1)
    key(out, "max_requests");
    out << b.maxRequests;
  }
  out << YAML::EndMap;
}

void healthCheck(YAML::Emitter& out, const HealthCheck& h) {
  key(out, "health_check");
  out << YAML::BeginMap;
  key(out, "type");
  out << healthCheckTypeName(h.type);
  if (h.type == HealthCheckType::kGrpc) {
    key(out, "service");
    out << YAML::DoubleQuoted << h.service;
  }
  key(out, "path");
  out << h.path;
  nullable(out, "host", h.host);
  key(out, "interval");
  out << formatDuration(h.interval);
  key(out, "timeout");
  out << formatDuration(h.timeout);
  key(out, "jitter");
  out << percent(h.jitter);
  key(out, "healthy_threshold");
  out << h.healthyThreshold;
  key(out, "unhealthy_threshold");
  out << h.unhealthyThreshold;
  key(out, "expected_statuses");
  out << YAML::Flow << YAML::BeginSeq;
  for (const auto& [lo, hi] : h.expectedStatuses)
    out << YAML::DoubleQuoted << (lo == hi ? std::to_string(lo)
                                           : std::to_string(lo) + "-" + std::to_string(hi));
  out << YAML::EndSeq;
  out << YAML::EndMap;
}

void outlier(YAML::Emitter& out, const OutlierDetection& o) {
  key(out, "outlier_detection");
  out << YAML::BeginMap;
  key(out, "consecutive_failures");
  out << o.consecutiveFailures;
  key(out, "base_ejection_time");
  out << formatDuration(o.baseEjectionTime);
  key(out, "max_ejection_time");
  out << formatDuration(o.maxEjectionTime);
  key(out, "max_ejection_percent");
  out << percent(o.maxEjectionPercent);
  out << YAML::EndMap;
}

void poolTls(YAML::Emitter& out, const PoolTls& t) {
  key(out, "tls");
  out << YAML::BeginMap;
  key(out, "enabled");
  out << t.enabled;
  key(out, "verify");
  out << t.verify;
  for (auto [name, value] : {std::pair{"ca", &t.ca}, {"sni", &t.sni}, {"cert", &t.cert},
                             {"key", &t.key}}) {
    if (value->empty()) continue;
    key(out, name);
    out << *value;
  }
  out << YAML::EndMap;
}

void retries(YAML::Emitter& out, const Retries& r) {
  key(out, "retries");
  out << YAML::BeginMap;
  key(out, "attempts");
  out << r.attempts;
  key(out, "on");
  out << YAML::Flow << YAML::BeginSeq;
  if (r.on & kRetryConnectFailure) out << "connect_failure";
  if (r.on & kRetryReset) out << "reset";
  if (r.on & kRetryTimeout) out << "timeout";
  if (r.on & kRetry429) out << 429;
  if (r.on & kRetry500) out << 500;
  if (r.on & kRetry502) out << 502;
  if (r.on & kRetry503) out << 503;
  if (r.on & kRetry504) out << 504;
  if (r.on & kRetryUnavailable) out << "unavailable";
  out << YAML::EndSeq;
  key(out, "per_try_timeout");
  out << formatDuration(r.perTryTimeout);
  key(out, "methods");
  out << (r.allMethods ? "all" : "idempotent");
  key(out, "max_body_bytes");
  out << r.maxBodyBytes;
  key(out, "backoff");
  out << YAML::Flow << YAML::BeginMap;
  key(out, "base");
  out << formatDuration(r.backoffBase);
  key(out, "max");
  out << formatDuration(r.backoffMax);
  out << YAML::EndMap;
  if (r.budget) {  // off unless configured: an absent key is the only way to say so
    key(out, "budget");
    out << YAML::Flow << YAML::BeginMap;
    key(out, "percent");
    out << percent(r.budget->percent);
    key(out, "min_per_second");
    out << r.budget->minPerSecond;
    out << YAML::EndMap;
  }
  if (r.hedgeAfter.count() > 0) {  // likewise: hedge.after must be > 0
    key(out, "hedge");
    out << YAML::Flow << YAML::BeginMap;
    key(out, "after");
    out << formatDuration(r.hedgeAfter);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

// Always printed: the queue (max_pending, pending_timeout) also serves backends[].max_requests.
void limits(YAML::Emitter& out, const PoolLimits& l) {
  key(out, "limits");
  out << YAML::BeginMap;
  if (l.maxRequests != 0) {  // 0 = no pool-wide cap, written by leaving the key out
    key(out, "max_requests");
    out << l.maxRequests;
  }
  key(out, "max_pending");
  out << l.maxPending;
  key(out, "pending_timeout");
  out << formatDuration(l.pendingTimeout);
  out << YAML::EndMap;
}

}  // namespace

void dumpPool(YAML::Emitter& out, const Pool& p) {
  out << YAML::BeginMap;
  key(out, "name");
  out << p.name;
  key(out, "policy");
  out << std::string(balancing::policyName(p.policy));
  if (!p.backends.empty()) {
    key(out, "backends");
    out << YAML::BeginSeq;
    for (const Backend& b : p.backends) backend(out, b);
    out << YAML::EndSeq;
  }
  if (p.healthCheck) healthCheck(out, *p.healthCheck);
  if (p.outlierDetection) outlier(out, *p.outlierDetection);
  key(out, "slow_start");
  out << formatDuration(p.slowStart);
  key(out, "panic_threshold");
  out << percent(p.panicThreshold);
  retries(out, p.retries);
  key(out, "geo");
  out << YAML::BeginMap;
  key(out, "overprovisioning");
  out << number(p.geoOverprovisioning);
  out << YAML::EndMap;
  key(out, "hash_key");
  out << hashKeyText(p.hashKey);
  key(out, "timeouts");
  out << YAML::BeginMap;
  upstreamTimeouts(out, p.timeouts);
  out << YAML::EndMap;
  bool resolves = false;
  for (const Backend& b : p.backends) resolves = resolves || b.resolve;
  if (p.discovery.dns || p.discovery.srv || resolves) {  // a discovery map needs one of them
    key(out, "discovery");
    out << YAML::BeginMap;
    if (p.discovery.dns) {
      key(out, "dns");
      out << p.discovery.dns->text;
    }
    if (p.discovery.srv) {
      key(out, "srv");
      out << *p.discovery.srv;
    }
    key(out, "interval");
    out << formatDuration(p.discovery.interval);
    if (p.discovery.resolver) {
      key(out, "resolver");
      out << p.discovery.resolver->text;
    }
    key(out, "weight");
    out << p.discovery.weight;
    out << YAML::EndMap;
  }
  if (p.tls) poolTls(out, *p.tls);
  limits(out, p.limits);
  key(out, "max_idle_per_backend");
  out << p.maxIdlePerBackend;
  key(out, "protocol");
  out << (p.protocol == UpstreamProtocol::kH2    ? "h2"
          : p.protocol == UpstreamProtocol::kH2c ? "h2c"
                                                 : "http1");
  key(out, "http2");
  out << YAML::BeginMap;
  key(out, "max_concurrent_streams");
  out << p.http2MaxConcurrentStreams;
  out << YAML::EndMap;
  out << YAML::EndMap;
}

}  // namespace sy::config::detail
