// The policy registry: one row per policy, found by the name the config file uses; the loader
// checks names and per-backend needs with it, makePolicy builds through it.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "switchyard/balancing/consistent_hash.h"
#include "switchyard/balancing/geo_weighted.h"
#include "switchyard/balancing/least_conn.h"
#include "switchyard/balancing/p2c.h"
#include "switchyard/balancing/registry.h"
#include "switchyard/balancing/round_robin.h"
#include "test_backends.h"

using namespace sy::balancing;
using namespace sy::balancing::test;
using sy::config::PolicyKind;

TEST_CASE("registry: every kind has one row, found by its config name") {
  std::set<std::string_view> names;
  for (const PolicyInfo& p : policies()) {
    CAPTURE(p.name);
    CHECK(names.insert(p.name).second);
    CHECK(findPolicy(p.name) == &p);
    CHECK(&policyInfo(p.kind) == &p);
    CHECK(policyName(p.kind) == p.name);
  }
  CHECK(names.size() == 5);
  CHECK(findPolicy("least_conn")->kind == PolicyKind::kLeastConn);
  CHECK(findPolicy("hash")->kind == PolicyKind::kHash);
  CHECK(findPolicy("random") == nullptr);
  CHECK(findPolicy("Round_Robin") == nullptr);
  CHECK(findPolicy("") == nullptr);
  CHECK(policyNames() == "round_robin, least_conn, geo_weighted, p2c, hash");
}

template <class Expected>
bool builds(const char* name) {
  auto set = makeSet({{"a"}, {"b"}}, name);
  std::unique_ptr<Policy> policy = makePolicy(*set);
  return dynamic_cast<Expected*>(policy.get()) != nullptr;
}

TEST_CASE("registry: makePolicy builds the policy the pool names") {
  CHECK(builds<RoundRobin>("round_robin"));
  CHECK(builds<LeastConn>("least_conn"));
  CHECK(builds<GeoWeighted>("geo_weighted"));
  CHECK(builds<PowerOfTwo>("p2c"));
  CHECK(builds<ConsistentHash>("hash"));
  CHECK_FALSE(builds<RoundRobin>("least_conn"));
}

TEST_CASE("registry: only geo_weighted asks each backend for a place") {
  sy::config::Pool pool;
  pool.name = "web";
  sy::config::Backend placeless;
  placeless.name = "b1";
  for (const PolicyInfo& p : policies()) {
    CAPTURE(p.name);
    if (p.kind == PolicyKind::kGeoWeighted) {
      REQUIRE(static_cast<bool>(p.checkBackend));
      CHECK(p.checkBackend(pool, placeless) ==
            "pool 'web' uses policy geo_weighted: give this backend a region (region: NAME) or "
            "coordinates (location: {lat, lon})");
      sy::config::Backend inRegion = placeless;
      inRegion.region = "eu-west";
      CHECK(p.checkBackend(pool, inRegion).empty());
      sy::config::Backend located = placeless;
      located.location = sy::config::LatLon{1, 2};
      CHECK(p.checkBackend(pool, located).empty());
    } else {
      CHECK_FALSE(static_cast<bool>(p.checkBackend));
    }
  }
}
