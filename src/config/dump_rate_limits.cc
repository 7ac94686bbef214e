// --dump-config, the `rate_limits:` policies and the `redis:` store (config/README.md
// "rate_limits[]", "redis"), defaults filled in.

#include <string>

#include <yaml-cpp/yaml.h>

#include "dump_emit.h"
#include "switchyard/config/dump.h"

namespace sy::config::detail {
namespace {

std::string keyPartText(const RateLimitKeyPart& k) {
  switch (k.kind) {
    case RateLimitKeyPart::Kind::kHost: return "host";
    case RateLimitKeyPart::Kind::kRoute: return "route";
    case RateLimitKeyPart::Kind::kHeader: return "header:" + k.name;
    case RateLimitKeyPart::Kind::kCookie: return "cookie:" + k.name;
    case RateLimitKeyPart::Kind::kQuery: return "query:" + k.name;
    case RateLimitKeyPart::Kind::kClientIp: break;
  }
  return "client_ip";
}

// count and period as the loader reads them: "100/s", "5/m", "1/h".
std::string rateText(const RateLimitPolicy& p) {
  const char* unit = p.period == Duration(3600s) ? "h" : p.period == Duration(60s) ? "m" : "s";
  return std::to_string(p.count) + "/" + unit;
}

}  // namespace

void rateLimits(YAML::Emitter& out, const Config& c) {
  key(out, "rate_limits");
  if (c.rateLimits.empty()) out << YAML::Flow;  // "[]" on the key's line
  out << YAML::BeginSeq;
  for (const RateLimitPolicy& p : c.rateLimits) {
    out << YAML::BeginMap;
    key(out, "name");
    out << p.name;
    key(out, "key");
    out << YAML::Flow << YAML::BeginSeq;
    for (const RateLimitKeyPart& k : p.key) out << keyPartText(k);
    out << YAML::EndSeq;
    key(out, "rate");
    out << rateText(p);
    key(out, "burst");
    out << p.burst;
    key(out, "mode");
    out << (p.dryRun ? "dry_run" : "reject");
    key(out, "store");
    out << (p.redis ? "redis" : "local");
    key(out, "max_keys");
    out << p.maxKeys;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  key(out, "redis");
  if (!c.redis) {
    out << YAML::Null;
    return;
  }
  out << YAML::BeginMap;
  key(out, "address");
  out << c.redis->address.text;
  key(out, "timeout");
  out << formatDuration(c.redis->timeout);
  nullable(out, "password_file", c.redis->passwordFile);  // the password itself is not shown
  out << YAML::EndMap;
}

}  // namespace sy::config::detail
