#pragma once
// Internal to `--dump-config`: the YAML writing helpers shared by dump.cc (top level,
// listeners), dump_routes.cc, dump_pools.cc (pools and everything under them) and
// dump_rate_limits.cc.

#include <cstdio>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "switchyard/config/config.h"

namespace sy::config::detail {

// A fraction as the percentage the loader reads back exactly: 0.125 -> "12.5%".
inline std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g%%", fraction * 100.0);
  return buf;
}

inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

inline void key(YAML::Emitter& out, const char* name) { out << YAML::Key << name << YAML::Value; }

inline void nullable(YAML::Emitter& out, const char* name, const std::optional<std::string>& v) {
  key(out, name);
  if (v) out << *v;
  else out << YAML::Null;
}

inline void latLon(YAML::Emitter& out, const LatLon& p) {
  out << YAML::Flow << YAML::BeginMap;
  key(out, "lat");
  out << number(p.lat);
  key(out, "lon");
  out << number(p.lon);
  out << YAML::EndMap;
}

// The upstream_* and tunnel_idle keys of a `timeouts:` map (dump_pools.cc).
void upstreamTimeouts(YAML::Emitter& out, const UpstreamTimeouts& t);

// pools[].hash_key and routes[].split_key as written: "ip", "header:NAME", "cookie:NAME", "path"
// (dump_pools.cc).
std::string hashKeyText(const HashKey& key);

// One entry of a listener's `routes:` list (dump_routes.cc).
void dumpRoute(YAML::Emitter& out, const Route& route, const Config& config);

// The `rate_limits:` list and `redis:` (dump_rate_limits.cc).
void rateLimits(YAML::Emitter& out, const Config& config);

// One entry of the `pools:` list (dump_pools.cc).
void dumpPool(YAML::Emitter& out, const Pool& pool);

}  // namespace sy::config::detail
