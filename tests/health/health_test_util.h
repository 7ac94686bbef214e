#pragma once
// Helpers for the health unit tests: pools of fake backends (never connected to) and a manual
// clock.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/server/snapshot.h"
#include "switchyard/upstream/backend.h"

namespace sy::health::testing {

struct ManualClock {
  uint64_t now = 1000;
  uint64_t operator()() const { return now; }
};

inline config::Backend backendConfig(const std::string& name, uint16_t port, uint32_t weight = 1) {
  config::Backend b;
  b.name = name;
  b.weight = weight;
  b.address.text = "127.0.0.1:" + std::to_string(port);
  b.address.host = "127.0.0.1";
  b.address.port = port;
  auto* sin = reinterpret_cast<sockaddr_in*>(&b.address.addr);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  b.address.addrLen = sizeof(sockaddr_in);
  return b;
}

// A pool named `name` with backends b1..bn (weights 1) on ports 1..n (never contacted).
inline config::Pool poolConfig(const std::string& name, size_t n) {
  config::Pool p;
  p.name = name;
  for (size_t i = 0; i < n; ++i)
    p.backends.push_back(backendConfig("b" + std::to_string(i + 1), static_cast<uint16_t>(i + 1)));
  return p;
}

inline std::unique_ptr<upstream::BackendSet> makeSet(const config::Pool& pool) {
  auto set = std::make_unique<upstream::BackendSet>();
  set->name = pool.name;
  set->cfg = pool;
  for (const auto& b : pool.backends)
    set->backends.push_back(std::make_shared<upstream::Backend>(b, pool.name, 1));
  return set;
}

// A snapshot of the given pools, carrying over backends from `previous` like a reload does.
inline std::shared_ptr<const server::Snapshot> makeSnapshot(
    const std::vector<config::Pool>& pools, const server::Snapshot* previous = nullptr) {
  auto cfg = std::make_shared<config::Config>();
  cfg->pools = pools;
  static uint64_t version = 0;
  return server::buildSnapshot(cfg, previous, 1, ++version).value();
}

}  // namespace sy::health::testing
