// The effective configuration as YAML (switchyard --dump-config), every default filled in.
// A key added to the loader needs its line here too: integration/test_cli.py checks that
// every key of config/README.md appears in the dump of config/switchyard.example.yaml (and of
// its extra config). Routes: dump_routes.cc; pools: dump_pools.cc; rate limits:
// dump_rate_limits.cc.

#include "switchyard/config/dump.h"

#include <string>

#include <yaml-cpp/yaml.h>

#include "dump_emit.h"

namespace sy::config {
namespace {

using detail::key;
using detail::latLon;
using detail::nullable;

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

// real_ip (top level and listeners[].real_ip).
void realIp(YAML::Emitter& out, const RealIp& r) {
  key(out, "real_ip");
  out << YAML::Flow << YAML::BeginMap;
  key(out, "header");
  out << r.header;
  key(out, "trusted");  // quoted like geo.trusted_proxies
  out << YAML::Flow << YAML::BeginSeq;
  for (const std::string& cidr : r.trusted) out << YAML::DoubleQuoted << cidr;
  out << YAML::EndSeq;
  out << YAML::EndMap;
}

void listener(YAML::Emitter& out, const Listener& l, const Config& c) {
  const Limits& limits = c.limits;
  out << YAML::BeginMap;
  key(out, "name");
  out << l.name;
  key(out, "listen");
  out << l.listen.text;
  key(out, "proxy_protocol");
  out << l.proxyProtocol;
  if (l.realIp) realIp(out, *l.realIp);  // the listener's own, else the top-level one
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
  for (const Route& r : l.routes) detail::dumpRoute(out, r, c);
  out << YAML::EndSeq;
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
  key(out, "io_uring");
  out << (c.ioUring == IoUring::kOn ? "on" : c.ioUring == IoUring::kAuto ? "auto" : "off");
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
  detail::upstreamTimeouts(out, c.timeouts);
  key(out, "shutdown");
  out << formatDuration(c.timeouts.shutdown);
  key(out, "request");
  out << formatDuration(c.timeouts.request);
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
  for (const Listener& l : c.listeners) listener(out, l, c);
  out << YAML::EndSeq;

  key(out, "pools");
  out << YAML::BeginSeq;
  for (const Pool& p : c.pools) detail::dumpPool(out, p);
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

  if (c.realIp) {
    realIp(out, *c.realIp);
  } else {
    key(out, "real_ip");
    out << YAML::Null;
  }

  detail::rateLimits(out, c);

  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace sy::config
