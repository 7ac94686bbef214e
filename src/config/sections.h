#pragma once
// Internal to the config loader: the section readers shared between loader.cc (top level,
// geo), listeners.cc, pools.cc and timeouts.cc. Each records its first error in the Walker and
// returns.

#include <yaml-cpp/yaml.h>

#include <expected>
#include <optional>
#include <string>
#include <utility>

#include "switchyard/config/config.h"
#include "yaml_walk.h"

namespace sy::config::detail {

// Apply the `timeouts:` map of the given map (if any) over `out`; keys not given keep their value
// (timeouts.cc). The listener and pool readers refuse keys that have no effect there.
void readGlobalTimeouts(const MapView& top, Timeouts& out);
void readListenerTimeouts(const MapView& listener, ClientTimeouts& out);
void readPoolTimeouts(const MapView& pool, UpstreamTimeouts& out);

// Applies `protocols:` and `http2:` of a listener map (tls must already be read).
void readListenerProtocols(const MapView& m, Listener& listener);

// Reads `real_ip:` of the given map (top level or a listener) into `out` (real_ip.cc).
void readRealIp(const MapView& parent, std::optional<RealIp>& out);

// Reads match.headers, match.methods and match.query of a route's `match:` map (route_match.cc).
void readRouteMatchConditions(const MapView& match, RouteMatch& out);
// Reads a route's target: `pool:`, or `split:` with its optional `split_key:`; exactly one of
// pool and split (route_match.cc).
void readRouteTarget(const MapView& route, const Config& config, Route& out);

// Records an error at `node` unless `region` names an entry of `config.regions`.
bool checkRegionExists(Walker& w, const Config& config, const YAML::Node& node,
                       const std::string& path, const std::string& region);

// routes[].fault (fault.cc).
std::optional<Fault> loadRouteFault(Walker& w, const YAML::Node& node, const std::string& path);

// Reads the `pools:` list into config.pools. Needs config.timeouts and config.regions loaded.
void loadPools(Walker& w, const YAML::Node& node, const std::string& path, Config& config);

// Reads the `listeners:` list into config.listeners (listeners.cc). Needs config.timeouts,
// config.admin and config.pools loaded.
void loadListeners(Walker& w, const YAML::Node& node, const std::string& path, Config& config);

// Reads `rate_limits:` and `redis:` (rate_limits.cc); before loadListeners.
void loadRateLimits(const MapView& top, Config& config);
// Applies routes[].rate_limit (policy names, resolved to indices into config.rateLimits).
void loadRouteRateLimits(const MapView& route, const Config& config, Route& out);
// "10/s" -> {10, 1s}; "N/m", "N/h".
std::expected<std::pair<uint64_t, Duration>, std::string> parseRate(std::string_view text);

}  // namespace sy::config::detail
