#include "switchyard/balancing/registry.h"

#include "switchyard/balancing/consistent_hash.h"
#include "switchyard/balancing/geo_weighted.h"
#include "switchyard/balancing/least_conn.h"
#include "switchyard/balancing/p2c.h"
#include "switchyard/balancing/policy.h"
#include "switchyard/balancing/rng.h"
#include "switchyard/balancing/round_robin.h"

namespace sy::balancing {
namespace {

using config::PolicyKind;

std::unique_ptr<Policy> makeRoundRobin(const upstream::BackendSet& set, const geo::Locator*) {
  return std::make_unique<RoundRobin>(set);
}
std::unique_ptr<Policy> makeLeastConn(const upstream::BackendSet& set, const geo::Locator*) {
  return std::make_unique<LeastConn>(set);
}
std::unique_ptr<Policy> makeGeoWeighted(const upstream::BackendSet& set,
                                        const geo::Locator* geo) {
  return std::make_unique<GeoWeighted>(set, geo, makeRng());
}
std::unique_ptr<Policy> makeP2c(const upstream::BackendSet& set, const geo::Locator*) {
  return std::make_unique<PowerOfTwo>(set, makeRng());
}
std::unique_ptr<Policy> makeHash(const upstream::BackendSet& set, const geo::Locator*) {
  return std::make_unique<ConsistentHash>(set);
}

std::shared_ptr<PolicyShared> prepareRoundRobin(const upstream::BackendSet& set) {
  return std::make_shared<RoundRobinSchedule>(set);
}
std::shared_ptr<PolicyShared> prepareHash(const upstream::BackendSet& set) {
  return std::make_shared<HashRing>(set);
}

// geo_weighted places each backend in a locality tier; without a place it could only guess.
std::string needsPlace(const config::Pool& pool, const config::Backend& b) {
  if (!b.region.empty() || b.location) return "";
  return "pool '" + pool.name +
         "' uses policy geo_weighted: give this backend a region (region: NAME) or coordinates "
         "(location: {lat, lon})";
}

// Indexed by PolicyKind (checked below); the order is also the one messages list.
constexpr PolicyInfo kPolicies[] = {
    {PolicyKind::kRoundRobin, "round_robin", makeRoundRobin, nullptr, prepareRoundRobin},
    {PolicyKind::kLeastConn, "least_conn", makeLeastConn, nullptr, nullptr},
    {PolicyKind::kGeoWeighted, "geo_weighted", makeGeoWeighted, needsPlace, nullptr},
    {PolicyKind::kP2c, "p2c", makeP2c, nullptr, nullptr},
    {PolicyKind::kHash, "hash", makeHash, nullptr, prepareHash},
};

constexpr bool indexedByKind() {
  for (size_t i = 0; i < std::size(kPolicies); ++i)
    if (static_cast<size_t>(kPolicies[i].kind) != i) return false;
  return std::size(kPolicies) == static_cast<size_t>(PolicyKind::kHash) + 1;
}
static_assert(indexedByKind(), "kPolicies must have one row per PolicyKind, in enum order");

}  // namespace

std::span<const PolicyInfo> policies() { return kPolicies; }

const PolicyInfo* findPolicy(std::string_view name) {
  for (const PolicyInfo& p : kPolicies)
    if (p.name == name) return &p;
  return nullptr;
}

const PolicyInfo& policyInfo(config::PolicyKind kind) {
  return kPolicies[static_cast<size_t>(kind)];
}

std::string policyNames() {
  std::string out;
  for (const PolicyInfo& p : kPolicies) out.append(out.empty() ? "" : ", ").append(p.name);
  return out;
}

std::shared_ptr<PolicyShared> prepareShared(const upstream::BackendSet& set) {
  const PolicyInfo& info = policyInfo(set.cfg.policy);
  return info.prepare ? info.prepare(set) : nullptr;
}

std::unique_ptr<Policy> makePolicy(const upstream::BackendSet& set, const geo::Locator* geo) {
  return policyInfo(set.cfg.policy).make(set, geo);
}

}  // namespace sy::balancing
