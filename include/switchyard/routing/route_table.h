#pragma once
// Route matching for one listener: first match wins; a route matches when every condition it
// has holds (host, path prefix, headers, methods, query). Hosts compare case-insensitively
// without the port; "*.example.com" matches any name ending in ".example.com" (one or more
// labels). Built on the main thread, then read-only; find() does not allocate.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/geo/cidr_table.h"
#include "switchyard/http/request_head.h"
#include "switchyard/routing/split.h"

namespace sy::routing {

// What route matching reads of a request. Views; `fields` may be null (no header matches).
struct RouteRequest {
  std::string_view host;
  std::string_view path;   // without the query
  std::string_view query;  // after '?', without it; "" when there is none
  uint8_t method = 0;      // llhttp_method_t
  const http::FieldsView* fields = nullptr;
};

class RouteTable {
  enum class HostKind : uint8_t { kAny, kExact, kWildcard };

 public:
  struct Entry {
    HostKind kind;
    std::string host;  // lowercase; for kWildcard the suffix including the dot (".example.com")
    std::string pathPrefix;
    uint64_t methods = 0;  // bit (1 << llhttp_method_t) per allowed method; 0 = any
    std::vector<std::pair<std::string, std::string>> headers;  // name, value or "*"
    std::vector<std::pair<std::string, std::string>> query;    // decoded key, value or "*"
    uint32_t pool;  // index in the snapshot's pool list (the first side of a split)
    // A weighted split (2+ sides) instead of one pool; `splitKey` makes it sticky.
    std::vector<SplitSide> split;
    uint64_t splitTotal = 0;
    std::optional<config::HashKey> splitKey;
    uint32_t index = 0;  // position in the table (per-worker split cursors are kept by it)
    bool rewrite = false;
    std::string rewritePrefix;  // replaces pathPrefix in the upstream target when `rewrite`
    config::HeaderRules requestHeaders;
    config::HeaderRules responseHeaders;
    // routes[].fault (null: none) and its trusted networks (null: none).
    std::shared_ptr<const config::Fault> fault;
    std::shared_ptr<const geo::CidrTable> faultTrusted;
    std::vector<uint32_t> rateLimits;  // routes[].rate_limit: indices into config.rateLimits
  };

  // `poolIndex` is the index of route.pool in the snapshot's pool list.
  void add(const config::RouteMatch& match, uint32_t poolIndex,
           const std::optional<std::string>& rewritePrefix = std::nullopt);
  // `poolIndex(name)` maps a pool name to its index in the snapshot's pool list.
  template <class PoolIndex>
  void add(const config::Route& route, PoolIndex poolIndex) {
    add(route.match, route.split.empty() ? poolIndex(route.pool) : poolIndex(route.split[0].pool),
        route.rewritePrefix);
    Entry& e = routes_.back();
    e.requestHeaders = route.requestHeaders;
    e.responseHeaders = route.responseHeaders;
    for (const config::SplitTarget& t : route.split) {
      e.split.push_back({poolIndex(t.pool), t.weight});
      e.splitTotal += t.weight;
    }
    e.splitKey = route.splitKey;
    addExtras(route);
  }
  // routes[].fault and routes[].rate_limit of the route just added.
  void addExtras(const config::Route& route);
  // The first route that matches, or nullptr.
  const Entry* find(const RouteRequest& r) const;
  const Entry* find(std::string_view host, std::string_view path) const {
    RouteRequest r;
    r.host = host;
    r.path = path;
    return find(r);
  }
  // Index of the pool to use (the first side of a split), or -1 when no route matches.
  int match(std::string_view host, std::string_view path) const {
    const Entry* e = find(host, path);
    return e ? static_cast<int>(e->pool) : -1;
  }
  size_t size() const { return routes_.size(); }
  const std::vector<Entry>& entries() const { return routes_; }

 private:
  std::vector<Entry> routes_;
};

// Whether `encoded` (a query key or value as sent) equals `expected` once percent-decoded, with
// '+' read as a space (HTML form encoding); a '%' not followed by two hex digits stands for
// itself. No allocation.
bool queryEquals(std::string_view encoded, std::string_view expected);
// Whether the query string `query` ("a=1&b=2") has key `key` (decoded) with value `value`
// (decoded; "*" = any value, an empty one included). Any of several occurrences may match.
bool queryHas(std::string_view query, std::string_view key, std::string_view value);

}  // namespace sy::routing
