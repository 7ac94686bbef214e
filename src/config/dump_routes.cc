// --dump-config, one entry of a listener's `routes:` list: match, target, rate limits,
// rewrite, header rules and fault injection (the listener around it is in dump.cc).

#include <string>

#include <yaml-cpp/yaml.h>

#include "dump_emit.h"
#include "switchyard/config/dump.h"

namespace sy::config::detail {
namespace {

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

// routes[].fault: off unless configured, so printed only when it is; delay and abort likewise.
void fault(YAML::Emitter& out, const Fault& f) {
  key(out, "fault");
  out << YAML::BeginMap;
  if (f.delay) {
    key(out, "delay");
    out << YAML::Flow << YAML::BeginMap;
    key(out, "duration");
    out << formatDuration(f.delay->duration);
    key(out, "percent");
    out << percent(f.delay->percent);
    out << YAML::EndMap;
  }
  if (f.abort) {
    key(out, "abort");
    out << YAML::Flow << YAML::BeginMap;
    key(out, "status");
    out << f.abort->status;
    key(out, "percent");
    out << percent(f.abort->percent);
    out << YAML::EndMap;
  }
  key(out, "trusted");  // quoted like geo.trusted_proxies ("::1" in a flow list)
  out << YAML::Flow << YAML::BeginSeq;
  for (const std::string& cidr : f.trusted) out << YAML::DoubleQuoted << cidr;
  out << YAML::EndSeq;
  out << YAML::EndMap;
}

// match.headers / match.query: name -> value, values quoted ("*" = present, "2" a string).
void conditions(YAML::Emitter& out, const char* name,
                const std::vector<std::pair<std::string, std::string>>& pairs) {
  if (pairs.empty()) return;
  key(out, name);
  out << YAML::Flow << YAML::BeginMap;
  for (const auto& [k, v] : pairs) out << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
  out << YAML::EndMap;
}

// `pool:`, or `split:` with its optional `split_key:` (exactly one of pool and split).
void target(YAML::Emitter& out, const Route& r) {
  if (r.split.empty()) {
    key(out, "pool");
    out << r.pool;
    return;
  }
  key(out, "split");
  out << YAML::BeginSeq;
  for (const SplitTarget& t : r.split) {
    out << YAML::Flow << YAML::BeginMap;
    key(out, "pool");
    out << t.pool;
    key(out, "weight");
    out << t.weight;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  if (r.splitKey) {  // none = no affinity, written by leaving the key out
    key(out, "split_key");
    out << hashKeyText(*r.splitKey);
  }
}

}  // namespace

void dumpRoute(YAML::Emitter& out, const Route& r, const Config& c) {
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
  conditions(out, "headers", r.match.headers);
  if (!r.match.methods.empty()) {
    key(out, "methods");
    out << YAML::Flow << r.match.methods;
  }
  conditions(out, "query", r.match.query);
  out << YAML::EndMap;
  target(out, r);
  key(out, "rate_limit");
  out << YAML::Flow << YAML::BeginSeq;
  for (uint32_t i : r.rateLimits) out << c.rateLimits[i].name;
  out << YAML::EndSeq;
  if (r.rewritePrefix) {
    key(out, "rewrite_prefix");
    out << *r.rewritePrefix;
  }
  headerRules(out, "request_headers", r.requestHeaders);
  headerRules(out, "response_headers", r.responseHeaders);
  if (r.fault) fault(out, *r.fault);
  out << YAML::EndMap;
}

}  // namespace sy::config::detail
