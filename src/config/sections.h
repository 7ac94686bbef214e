#pragma once
// Internal to the config loader: the section readers shared between loader.cc (top level,
// listeners, geo) and pools.cc. Each records its first error in the Walker and returns.

#include <yaml-cpp/yaml.h>

#include <string>

#include "switchyard/config/config.h"
#include "yaml_walk.h"

namespace sy::config::detail {

// Applies the `timeouts:` map of `parent` (if any) over `out`; keys not given keep their value.
// Used for the global timeouts and for a listener's or pool's overrides.
void readTimeouts(const MapView& parent, Timeouts& out);

// Applies `protocols:` and `http2:` of a listener map (tls must already be read).
void readListenerProtocols(const MapView& m, Listener& listener);

// Records an error at `node` unless `region` names an entry of `config.regions`.
bool checkRegionExists(Walker& w, const Config& config, const YAML::Node& node,
                       const std::string& path, const std::string& region);

// Reads the `pools:` list into config.pools. Needs config.timeouts and config.regions loaded.
void loadPools(Walker& w, const YAML::Node& node, const std::string& path, Config& config);

}  // namespace sy::config::detail
