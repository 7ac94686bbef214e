#pragma once
// GET /status: a JSON document describing the running server — config version, listeners, and
// every pool with its backends (health, ejection, admin state, weights, in-flight requests,
// connection and request totals). Main thread only.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/metrics/stats.h"
#include "switchyard/upstream/backend.h"

namespace sy::admin {

struct ListenerInfo {
  std::string name;
  std::string address;  // as configured
};

struct StatusInput {
  uint64_t configVersion = 0;
  std::string configPath;
  bool draining = false;
  unsigned workers = 0;
  double uptimeSeconds = 0;
  const std::vector<ListenerInfo>* listeners = nullptr;  // by metrics slot
  const std::vector<std::unique_ptr<upstream::BackendSet>>* pools = nullptr;
  const metrics::StatsBlock* server = nullptr;
};

void writeStatus(const StatusInput& in, std::string& out);

}  // namespace sy::admin
