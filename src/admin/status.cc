#include "switchyard/admin/status.h"

#include <charconv>

#include "switchyard/balancing/registry.h"
#include "switchyard/common/json.h"
#include "switchyard/health/slow_start.h"

namespace sy::admin {
namespace {

void putUint(std::string& out, uint64_t v) { out += std::to_string(v); }

void putDouble(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
  out.append(buf, r.ptr);
}

void key(std::string& out, std::string_view k) {
  json::appendString(out, k);
  out += ':';
}

const char* adminStateName(upstream::AdminState s) {
  switch (s) {
    case upstream::AdminState::kEnabled: return "enabled";
    case upstream::AdminState::kDraining: return "draining";
    case upstream::AdminState::kDisabled: return "disabled";
  }
  return "enabled";
}

uint64_t gauge(uint64_t opened, uint64_t closed) { return opened > closed ? opened - closed : 0; }

// "requests_total" and "responses" {"1xx": n, ...} over all listeners.
void putRequests(std::string& out, const metrics::Merged& m) {
  uint64_t byClass[metrics::kCodeClasses] = {};
  for (uint32_t slot = 0; slot < m.layout().listeners; ++slot)
    for (uint32_t c = 0; c < metrics::kCodeClasses; ++c)
      byClass[c] += m.listener(slot, static_cast<metrics::PerListener>(metrics::kCode1xx + c));
  uint64_t total = 0;
  for (uint64_t n : byClass) total += n;
  out += "\"requests_total\":";
  putUint(out, total);
  out += ",\"responses\":{";
  for (uint32_t c = 0; c < metrics::kCodeClasses; ++c) {
    if (c) out += ',';
    out += '"';
    out += static_cast<char>('1' + c);
    out += "xx\":";
    putUint(out, byClass[c]);
  }
  out += '}';
}

void putBackend(std::string& out, const upstream::Backend& b, uint32_t weightScale) {
  const metrics::Merged m = b.stats().merge();
  out += '{';
  key(out, "name");
  json::appendString(out, b.name());
  out += ',';
  key(out, "address");
  json::appendString(out, b.address().text);
  // Locality, for geo_weighted pools: which tier a backend falls in for a given client.
  if (!b.config().region.empty()) {
    out += ',';
    key(out, "region");
    json::appendString(out, b.config().region);
  }
  if (!b.config().zone.empty()) {
    out += ',';
    key(out, "zone");
    json::appendString(out, b.config().zone);
  }
  if (b.config().location) {
    out += ",\"location\":{\"lat\":";
    putDouble(out, b.config().location->lat);
    out += ",\"lon\":";
    putDouble(out, b.config().location->lon);
    out += '}';
  }
  out += ",\"weight\":";
  putUint(out, b.weight());
  out += ",\"weight_effective\":";
  // Slow-start pools keep effective weights in 1/kWeightScale units; shown in weight units.
  putDouble(out, static_cast<double>(b.effectiveWeight()) / weightScale);
  out += ",\"healthy\":";
  out += b.healthy() ? "true" : "false";
  out += ",\"ejected\":";
  out += b.ejected() ? "true" : "false";
  out += ",\"admin_state\":\"";
  out += adminStateName(b.adminState());
  out += "\",\"available\":";
  out += b.available() ? "true" : "false";
  const int32_t inFlight = b.inFlight();
  out += ",\"in_flight\":";
  putUint(out, inFlight > 0 ? static_cast<uint64_t>(inFlight) : 0);
  out += ",\"connections_active\":";
  putUint(out, gauge(m.counter(metrics::kUpConnOpened), m.counter(metrics::kUpConnClosed)));
  out += ",\"connections_total\":";
  putUint(out, m.counter(metrics::kUpConnOpened));
  out += ",\"connection_reuses_total\":";
  putUint(out, m.counter(metrics::kUpReuses));
  out += ",\"connect_failures_total\":";
  putUint(out, m.counter(metrics::kUpConnectFailures));
  out += ",\"retries_total\":";
  putUint(out, m.counter(metrics::kRetries));
  out += ',';
  putRequests(out, m);
  out += '}';
}

}  // namespace

void writeStatus(const StatusInput& in, std::string& out) {
  out += "{\"version\":";
  json::appendString(out, SWITCHYARD_VERSION);
  out += ",\"config_version\":";
  putUint(out, in.configVersion);
  out += ",\"config_path\":";
  json::appendString(out, in.configPath);
  out += ",\"draining\":";
  out += in.draining ? "true" : "false";
  out += ",\"workers\":";
  putUint(out, in.workers);
  out += ",\"uptime_seconds\":";
  putDouble(out, in.uptimeSeconds);

  const metrics::Merged srv = in.server ? in.server->merge() : metrics::Merged();
  out += ",\"listeners\":[";
  if (in.listeners) {
    for (size_t i = 0; i < in.listeners->size(); ++i) {
      const ListenerInfo& l = (*in.listeners)[i];
      const uint32_t slot = static_cast<uint32_t>(i);
      if (i) out += ',';
      out += '{';
      key(out, "name");
      json::appendString(out, l.name);
      out += ',';
      key(out, "address");
      json::appendString(out, l.address);
      if (in.server) {
        out += ",\"connections_active\":";
        putUint(out, gauge(srv.listener(slot, metrics::kConnOpened),
                           srv.listener(slot, metrics::kConnClosed)));
        out += ",\"connections_total\":";
        putUint(out, srv.listener(slot, metrics::kConnOpened));
      }
      out += '}';
    }
  }
  out += "],\"pools\":[";
  if (in.pools) {
    bool firstPool = true;
    for (const auto& set : *in.pools) {
      if (!firstPool) out += ',';
      firstPool = false;
      size_t available = 0;
      for (const auto& b : set->backends) available += b->available() ? 1 : 0;
      out += '{';
      key(out, "name");
      json::appendString(out, set->name);
      out += ',';
      key(out, "policy");
      json::appendString(out, balancing::policyName(set->cfg.policy));
      out += ",\"backends_available\":";
      putUint(out, available);
      out += ",\"backends_total\":";
      putUint(out, set->backends.size());
      if (set->stats) {
        // Answers the pool gave without a backend (no backend available).
        out += ",\"unassigned\":{";
        putRequests(out, set->stats->merge());
        out += '}';
      }
      out += ",\"backends\":[";
      for (size_t i = 0; i < set->backends.size(); ++i) {
        if (i) out += ',';
        putBackend(out, *set->backends[i],
                   set->cfg.slowStart.count() > 0 ? health::kWeightScale : 1);
      }
      out += "]}";
    }
  }
  out += "]}\n";
}

}  // namespace sy::admin
