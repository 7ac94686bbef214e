#pragma once
// DNS service discovery, the pure part: which names a config follows, and the config with the
// addresses found for them in place of the entries that asked. Any thread.
//
// Two ways to ask (config/README.md, pools[].discovery):
//   - a backend with `resolve: true` stands for one backend per address of its host name,
//     named "<name>-<address>", with the entry's port, weight, region, zone and location;
//   - a pool's `discovery.dns: name:port` adds one backend per address, "<pool>-<address>",
//     after the backends listed;
//   - a pool's `discovery.srv: name` adds one backend per address and port of its SRV records,
//     "<pool>-<address>:<port>" (IPv6 in brackets), with the record's weight, after those.
// Names are deterministic, so a backend found again keeps its identity (pool, name, address)
// across re-resolutions and reloads (server/snapshot.cc).

#include <map>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/config/config.h"

namespace sy::discovery {

// Numeric addresses as inet_ntop writes them.
using Addresses = std::vector<std::string>;

// One address found. port and weight are those of an SRV record; 0 for A/AAAA answers (the
// config gives them).
struct Endpoint {
  std::string address;
  uint16_t port = 0;
  uint32_t weight = 0;
  auto operator<=>(const Endpoint&) const = default;
};
using Endpoints = std::vector<Endpoint>;

// `name` as DNS compares it: lowercase, without a final dot.
std::string canonicalName(std::string_view name);

// One name to follow.
struct Target {
  std::string key;  // identity across reloads: resolver, kind and lowercased name (targetKey)
  std::string host;
  bool srv = false;  // SRV records (`discovery.srv`), else A and AAAA
  std::optional<config::SocketAddress> resolver;  // nullopt = the system resolver
  config::Duration interval{};                    // the shortest of the pools asking
  std::vector<std::string> pools;                 // the pools asking, in config order
};

std::string targetKey(const std::string& host,
                      const std::optional<config::SocketAddress>& resolver, bool srv = false);

// The names `cfg` asks to follow, each once (in config order).
std::vector<Target> targetsOf(const config::Config& cfg);

// Last good answer per Target::key.
using Found = std::map<std::string, Endpoints>;

// `base` with the discovered backends substituted (see the top of this file): in each pool the
// listed backends come first, then those found for `resolve: true` entries, then those of
// `discovery.dns`, then those of `discovery.srv`. A name without an entry in `found` contributes no backend. A discovered
// backend whose name is already used in its pool is left out; `skipped` (if given) receives a
// line about each.
config::Config expand(const config::Config& base, const Found& found,
                      std::vector<std::string>* skipped = nullptr);

// Sorted (IPv4 before IPv6, then by address bytes) and without duplicates; entries that are
// not numeric addresses are dropped.
Addresses normalizeAddresses(Addresses in);

}  // namespace sy::discovery
