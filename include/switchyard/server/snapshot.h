#pragma once
// An immutable, validated view of one config version: route tables and backend sets. Built on
// the main thread, then shared read-only by all workers; a request keeps the snapshot it
// started with. Backends that survive a reload (same pool, name and address) are carried over
// from the previous snapshot.

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/balancing/policy.h"
#include "switchyard/config/config.h"
#include "switchyard/geo/locator.h"
#include "switchyard/net/tls.h"
#include "switchyard/ratelimit/limiter.h"
#include "switchyard/proxy/real_ip.h"
#include "switchyard/routing/route_table.h"
#include "switchyard/upstream/backend.h"

namespace sy::server {

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  uint64_t version = 0;
  std::vector<std::unique_ptr<upstream::BackendSet>> pools;  // config.pools order
  std::vector<routing::RouteTable> routes;                    // config.listeners order
  std::shared_ptr<const geo::Locator> geo;  // client location resolution; read-only on workers
  // config.listeners order; null for plain listeners. A reload builds new contexts (new
  // certificates, new ticket keys); connections keep the context they started with.
  std::vector<std::shared_ptr<const net::TlsServerContext>> listenerTls;
  // config.rateLimits order; unchanged policies keep their state across reloads.
  ratelimit::Limiters limiters;
  // config.listeners order; null where the listener has no real_ip (own or top-level).
  std::vector<std::shared_ptr<const proxy::RealIpResolver>> realIp;
};

// Fails (with a config error message, before touching any backend of `previous`) when a
// resource the config names cannot be opened, e.g. geo.database.
std::expected<std::shared_ptr<const Snapshot>, std::string> buildSnapshot(
    std::shared_ptr<const config::Config> cfg, const Snapshot* previous, unsigned workers,
    uint64_t version);

// One worker's instantiation of a snapshot: its own policy objects (cursors) per pool.
// Created and used on that worker only.
struct WorkerView {
  std::shared_ptr<const Snapshot> snap;
  std::vector<std::unique_ptr<balancing::Policy>> policies;  // snap->pools order
  // Smooth cursors of the split routes without split_key: [listener][route index].
  std::vector<std::vector<routing::SmoothSplit>> splits;

  explicit WorkerView(std::shared_ptr<const Snapshot> s);
};

}  // namespace sy::server
