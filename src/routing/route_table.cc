#include "switchyard/routing/route_table.h"

#include "switchyard/common/ascii.h"

namespace sy::routing {

void RouteTable::add(const config::RouteMatch& m, uint32_t poolIndex,
                     const std::optional<std::string>& rewritePrefix) {
  Entry e;
  e.pool = poolIndex;
  e.pathPrefix = m.pathPrefix;
  e.rewrite = rewritePrefix.has_value();
  if (rewritePrefix) e.rewritePrefix = *rewritePrefix;
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

void RouteTable::add(const config::Route& route, uint32_t poolIndex) {
  add(route.match, poolIndex, route.rewritePrefix);
  routes_.back().requestHeaders = route.requestHeaders;
  routes_.back().responseHeaders = route.responseHeaders;
  if (route.fault) {
    routes_.back().fault = std::make_shared<const config::Fault>(*route.fault);
    if (!route.fault->trusted.empty()) {
      auto table = std::make_shared<geo::CidrTable>();
      // The loader validated each CIDR; a network listed twice is the same trust.
      for (const std::string& cidr : route.fault->trusted) (void)table->add(cidr, 1);
      routes_.back().faultTrusted = std::move(table);
    }
  }
  routes_.back().rateLimits = route.rateLimits;
}

const RouteTable::Entry* RouteTable::find(std::string_view host, std::string_view path) const {
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
    if (path.substr(0, e.pathPrefix.size()) != e.pathPrefix) continue;
    return &e;
  }
  return nullptr;
}

}  // namespace sy::routing
