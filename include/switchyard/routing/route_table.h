#pragma once
// Route matching for one listener: first match wins; a route matches when every condition it
// has holds. Hosts compare case-insensitively without the port; "*.example.com" matches any
// name ending in ".example.com" (one or more labels). Built on the main thread, then read-only.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/geo/cidr_table.h"

namespace sy::routing {

class RouteTable {
  enum class HostKind : uint8_t { kAny, kExact, kWildcard };

 public:
  struct Entry {
    HostKind kind;
    std::string host;  // lowercase; for kWildcard the suffix including the dot (".example.com")
    std::string pathPrefix;
    uint32_t pool;  // index in the snapshot's pool list
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
  void add(const config::Route& route, uint32_t poolIndex);
  // The first route that matches, or nullptr.
  const Entry* find(std::string_view host, std::string_view path) const;
  // Index of the pool to use, or -1 when no route matches.
  int match(std::string_view host, std::string_view path) const {
    const Entry* e = find(host, path);
    return e ? static_cast<int>(e->pool) : -1;
  }
  size_t size() const { return routes_.size(); }

 private:
  std::vector<Entry> routes_;
};

}  // namespace sy::routing
