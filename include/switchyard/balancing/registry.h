#pragma once
// The balancing policies by name: the one table that maps a pool's `policy:` to its kind, to
// the checks a pool using it must pass, and to the factory that builds it. The config loader
// uses it to read and check `policy:`; workers use it (through makePolicy) to build policies.
// Adding a policy = its file pair, a config::PolicyKind value and one row in registry.cc.
// Constant data; any thread.

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "switchyard/config/config.h"

namespace sy::upstream {
struct BackendSet;
}
namespace sy::geo {
class Locator;
}

namespace sy::balancing {

class Policy;
struct PolicyShared;

struct PolicyInfo {
  config::PolicyKind kind;
  std::string_view name;  // as written in the config file
  // Builds the policy for `set` (see makePolicy in policy.h for the lifetime rules).
  std::unique_ptr<Policy> (*make)(const upstream::BackendSet& set, const geo::Locator* geo);
  // What the policy needs of each backend of a pool that uses it: "" when `backend` will do,
  // else a message saying what to add. Called by the loader for every backend it reads, with
  // `pool` holding the pool's name and policy. nullptr = no needs.
  std::string (*checkBackend)(const config::Pool& pool, const config::Backend& backend);
  // Builds the state every worker's instance shares for one snapshot (main thread, once per
  // snapshot and pool); nullptr = the policy shares nothing.
  std::shared_ptr<PolicyShared> (*prepare)(const upstream::BackendSet& set);
};

// Every policy, in the order error messages list them.
std::span<const PolicyInfo> policies();
// The policy called `name`, or nullptr.
const PolicyInfo* findPolicy(std::string_view name);
// The row of `kind` (every kind has one).
const PolicyInfo& policyInfo(config::PolicyKind kind);
inline std::string_view policyName(config::PolicyKind kind) { return policyInfo(kind).name; }
// The shared state set.cfg.policy needs for `set` (nullptr when none); stored by the snapshot
// in set.policyShared before workers build their policies.
std::shared_ptr<PolicyShared> prepareShared(const upstream::BackendSet& set);
// "round_robin, least_conn, ...": for "must be one of: ..." messages.
std::string policyNames();

}  // namespace sy::balancing
