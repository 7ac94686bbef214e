// The effective configuration as YAML (switchyard --dump-config), every default filled in.
// A key added to the loader needs its line here too: integration/test_cli.py checks that
// every key of config/README.md appears in the dump of config/switchyard.example.yaml.

#include "switchyard/config/dump.h"

#include <cstdio>
#include <string>

#include <yaml-cpp/yaml.h>

#include "switchyard/balancing/registry.h"

namespace sy::config {
namespace {

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g%%", fraction * 100.0);
  return buf;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void key(YAML::Emitter& out, const char* name) { out << YAML::Key << name << YAML::Value; }

void nullable(YAML::Emitter& out, const char* name, const std::optional<std::string>& v) {
  key(out, name);
  if (v) out << *v;
  else out << YAML::Null;
}

void latLon(YAML::Emitter& out, const LatLon& p) {
  out << YAML::Flow << YAML::BeginMap;
  key(out, "lat");
  out << number(p.lat);
  key(out, "lon");
  out << number(p.lon);
  out << YAML::EndMap;
}

void clientTimeouts(YAML::Emitter& out, const ClientTimeouts& t) {
  key(out, "client_header");
  out << formatDuration(t.clientHeader);
  key(out, "client_body");
  out << formatDuration(t.clientBody);
  key(out, "client_idle");
  out << formatDuration(t.clientIdle);
  key(out, "client_send");
  out << formatDuration(t.clientSend);
}

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

void headerRules(YAML::Emitter& out, const char* name, const HeaderRules& rules) {
  if (rules.empty()) return;
  key(out, name);
  out << YAML::BeginMap;
  if (!rules.set.empty()) {
    key(out, "set");
    out << YAML::BeginMap;
    for (const auto& [header, value] : rules.set) out << YAML::Key << header << YAML::Value << value;
    out << YAML::EndMap;
  }
  if (!rules.remove.empty()) {
    key(out, "remove");
    out << YAML::Flow << rules.remove;
  }
  out << YAML::EndMap;
}

void listener(YAML::Emitter& out, const Listener& l, const Limits& limits) {
  out << YAML::BeginMap;
  key(out, "name");
  out << l.name;
  key(out, "listen");
  out << l.listen.text;
  if (l.tls) {
    key(out, "tls");
    out << YAML::BeginMap;
    key(out, "certificates");
    out << YAML::BeginSeq;
    for (const TlsCertificate& c : l.tls->certificates) {
      out << YAML::BeginMap;
      key(out, "cert");
      out << c.cert;
      key(out, "key");
      out << c.key;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
    key(out, "min_version");
    out << YAML::DoubleQuoted << (l.tls->minVersion == TlsVersion::kTls13 ? "1.3" : "1.2");
    out << YAML::EndMap;
  }
  if (l.redirectHttps != 0) {
    key(out, "redirect_https");
    out << l.redirectHttps;
  }
  key(out, "protocols");
  out << YAML::Flow << YAML::BeginSeq;
  if (l.protocols & kProtoH1) out << "h1";
  if (l.protocols & kProtoH2) out << "h2";
  if (l.protocols & kProtoH2c) out << "h2c";
  out << YAML::EndSeq;
  if (l.protocols & (kProtoH2 | kProtoH2c)) {
    key(out, "http2");
    out << YAML::BeginMap;
    key(out, "max_concurrent_streams");
    out << l.http2.maxConcurrentStreams;
    key(out, "initial_window_size");
    out << l.http2.initialWindowSize;
    key(out, "max_header_list_bytes");
    out << (l.http2.maxHeaderListBytes ? l.http2.maxHeaderListBytes : limits.maxHeaderBytes);
    out << YAML::EndMap;
  }
  key(out, "timeouts");
  out << YAML::BeginMap;
  clientTimeouts(out, l.timeouts);
  out << YAML::EndMap;
  key(out, "routes");
  out << YAML::BeginSeq;
  for (const Route& r : l.routes) {
    out << YAML::BeginMap;
    key(out, "match");
    out << YAML::Flow << YAML::BeginMap;
    if (!r.match.host.empty()) {
      key(out, "host");
      out << r.match.host;
    }
    if (!r.match.pathPrefix.empty()) {
      key(out, "path_prefix");
      out << r.match.pathPrefix;
    }
    out << YAML::EndMap;
    key(out, "pool");
    out << r.pool;
    if (r.rewritePrefix) {
      key(out, "rewrite_prefix");
      out << *r.rewritePrefix;
    }
    headerRules(out, "request_headers", r.requestHeaders);
    headerRules(out, "response_headers", r.responseHeaders);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
}

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
  out << YAML::EndMap;
}

void healthCheck(YAML::Emitter& out, const HealthCheck& h) {
  key(out, "health_check");
  out << YAML::BeginMap;
  key(out, "type");
  out << healthCheckTypeName(h.type);
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

std::string hashKeyText(const HashKey& k) {
  switch (k.kind) {
    case HashKey::Kind::kHeader: return "header:" + k.name;
    case HashKey::Kind::kCookie: return "cookie:" + k.name;
    case HashKey::Kind::kPath: return "path";
    case HashKey::Kind::kClientIp: break;
  }
  return "ip";
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

void pool(YAML::Emitter& out, const Pool& p) {
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
  key(out, "retries");
  out << YAML::BeginMap;
  key(out, "attempts");
  out << p.retries.attempts;
  key(out, "on");
  out << YAML::Flow << YAML::BeginSeq;
  if (p.retries.on & kRetryConnectFailure) out << "connect_failure";
  if (p.retries.on & kRetryReset) out << "reset";
  if (p.retries.on & kRetry502) out << 502;
  if (p.retries.on & kRetry503) out << 503;
  if (p.retries.on & kRetry504) out << 504;
  out << YAML::EndSeq;
  out << YAML::EndMap;
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
  if (p.discovery.dns || resolves) {  // a discovery map needs one of them
    key(out, "discovery");
    out << YAML::BeginMap;
    if (p.discovery.dns) {
      key(out, "dns");
      out << p.discovery.dns->text;
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
  out << YAML::EndMap;
}

}  // namespace

std::string formatDuration(Duration d) {
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::string text;
  const std::pair<long long, const char*> units[] = {
      {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
  for (auto [size, suffix] : units) {
    if (ms >= size) {
      text += std::to_string(ms / size) + suffix;
      ms %= size;
    }
  }
  return text;
}

std::string dumpConfig(const Config& c) {
  YAML::Emitter out;
  out.SetIndent(2);
  out << YAML::BeginMap;
  key(out, "workers");
  if (c.workers == 0) out << "auto";
  else out << c.workers;
  key(out, "watch");
  out << c.watch;

  key(out, "admin");
  out << YAML::BeginMap;
  key(out, "listen");
  out << c.admin.listen.text;
  nullable(out, "token_file", c.admin.tokenFile);
  out << YAML::EndMap;

  key(out, "access_log");
  out << YAML::BeginMap;
  key(out, "path");
  out << c.accessLog.path;
  key(out, "format");
  out << c.accessLog.format;
  out << YAML::EndMap;

  key(out, "timeouts");
  out << YAML::BeginMap;
  clientTimeouts(out, c.timeouts);
  upstreamTimeouts(out, c.timeouts);
  key(out, "shutdown");
  out << formatDuration(c.timeouts.shutdown);
  out << YAML::EndMap;

  key(out, "limits");
  out << YAML::BeginMap;
  key(out, "max_connections");
  out << c.limits.maxConnections;
  key(out, "max_header_bytes");
  out << c.limits.maxHeaderBytes;
  key(out, "max_headers");
  out << c.limits.maxHeaders;
  key(out, "max_body_bytes");
  out << c.limits.maxBodyBytes;
  out << YAML::EndMap;

  key(out, "listeners");
  out << YAML::BeginSeq;
  for (const Listener& l : c.listeners) listener(out, l, c.limits);
  out << YAML::EndSeq;

  key(out, "pools");
  out << YAML::BeginSeq;
  for (const Pool& p : c.pools) pool(out, p);
  out << YAML::EndSeq;

  key(out, "regions");
  out << YAML::BeginMap;
  for (const auto& [name, where] : c.regions) {
    out << YAML::Key << name << YAML::Value;
    latLon(out, where);
  }
  out << YAML::EndMap;

  key(out, "geo");
  out << YAML::BeginMap;
  key(out, "trusted_proxies");  // quoted: other YAML parsers misread "::1" in a flow list
  out << YAML::Flow << YAML::BeginSeq;
  for (const std::string& cidr : c.geo.trustedProxies) out << YAML::DoubleQuoted << cidr;
  out << YAML::EndSeq;
  key(out, "client_header");
  out << c.geo.clientHeader;
  key(out, "networks");
  out << YAML::BeginSeq;
  for (const GeoNetwork& n : c.geo.networks) {
    out << YAML::Flow << YAML::BeginMap;
    key(out, "cidr");
    out << YAML::DoubleQuoted << n.cidr;
    key(out, "region");
    out << n.region;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  nullable(out, "database", c.geo.database);
  nullable(out, "default_region", c.geo.defaultRegion);
  out << YAML::EndMap;

  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace sy::config
