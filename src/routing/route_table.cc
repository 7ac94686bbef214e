#include "switchyard/routing/route_table.h"

#include "switchyard/common/ascii.h"
#include "switchyard/http/parser.h"

namespace sy::routing {
namespace {

using common::hexValue;

bool headersMatch(const RouteTable::Entry& e, const http::FieldsView* fields) {
  for (const auto& [name, want] : e.headers) {
    if (!fields) return false;
    bool found = false;
    for (uint32_t i = 0; i < fields->size() && !found; ++i) {
      if (fields->nameSize(i) != name.size() || !common::equalsIgnoreCase(fields->name(i), name))
        continue;
      found = want == config::kMatchPresent || http::trimOws(fields->value(i)) == want;
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

bool queryEquals(std::string_view encoded, std::string_view expected) {
  size_t j = 0;
  for (size_t i = 0; i < encoded.size(); ++i, ++j) {
    char c = encoded[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < encoded.size()) {
      const int hi = hexValue(encoded[i + 1]);
      const int lo = hexValue(encoded[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      }
    }
    if (j >= expected.size() || expected[j] != c) return false;
  }
  return j == expected.size();
}

bool queryHas(std::string_view query, std::string_view key, std::string_view value) {
  while (true) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (!pair.empty() && queryEquals(k, key) &&
        (value == config::kMatchPresent || queryEquals(v, value)))
      return true;
    if (amp == std::string_view::npos) return false;
    query.remove_prefix(amp + 1);
  }
}

void RouteTable::add(const config::RouteMatch& m, uint32_t poolIndex,
                     const std::optional<std::string>& rewritePrefix) {
  Entry e;
  e.pool = poolIndex;
  e.index = static_cast<uint32_t>(routes_.size());
  e.pathPrefix = m.pathPrefix;
  e.rewrite = rewritePrefix.has_value();
  if (rewritePrefix) e.rewritePrefix = *rewritePrefix;
  e.headers = m.headers;
  e.query = m.query;
  for (const std::string& name : m.methods) {
    uint8_t method = 0;
    if (http::methodFromName(name, method) && method < 64) e.methods |= uint64_t{1} << method;
  }
  std::string h;
  for (char c : m.host) h += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (h.empty()) {
    e.kind = HostKind::kAny;
  } else if (h.size() > 2 && h[0] == '*' && h[1] == '.') {
    e.kind = HostKind::kWildcard;
    e.host = h.substr(1);
  } else {
    e.kind = HostKind::kExact;
    e.host = h;
  }
  routes_.push_back(std::move(e));
}

void RouteTable::addExtras(const config::Route& route) {
  Entry& e = routes_.back();
  if (route.fault) {
    e.fault = std::make_shared<const config::Fault>(*route.fault);
    if (!route.fault->trusted.empty()) {
      auto table = std::make_shared<geo::CidrTable>();
      // The loader validated each CIDR; a network listed twice is the same trust.
      for (const std::string& cidr : route.fault->trusted) (void)table->add(cidr, 1);
      e.faultTrusted = std::move(table);
    }
  }
  e.rateLimits = route.rateLimits;
}

const RouteTable::Entry* RouteTable::find(const RouteRequest& r) const {
  std::string_view host = r.host;
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  for (const Entry& e : routes_) {
    switch (e.kind) {
      case HostKind::kAny:
        break;
      case HostKind::kExact:
        if (!common::equalsIgnoreCase(host, e.host)) continue;
        break;
      case HostKind::kWildcard:
        if (host.size() <= e.host.size() ||
            !common::equalsIgnoreCase(host.substr(host.size() - e.host.size()), e.host))
          continue;
        break;
    }
    if (r.path.substr(0, e.pathPrefix.size()) != e.pathPrefix) continue;
    if (e.methods && (r.method >= 64 || !(e.methods & (uint64_t{1} << r.method)))) continue;
    if (!headersMatch(e, r.fields)) continue;
    bool queryOk = true;
    for (const auto& [key, value] : e.query) {
      if (!queryHas(r.query, key, value)) {
        queryOk = false;
        break;
      }
    }
    if (!queryOk) continue;
    return &e;
  }
  return nullptr;
}

}  // namespace sy::routing
