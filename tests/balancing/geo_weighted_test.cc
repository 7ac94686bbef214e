#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "switchyard/balancing/geo_weighted.h"
#include "switchyard/geo/locator.h"
#include "test_backends.h"

using namespace sy::balancing;
using namespace sy::balancing::test;
using sy::geo::ClientLocation;
using sy::geo::LocationSource;
using sy::upstream::AdminState;
using sy::upstream::Backend;

namespace {

constexpr sy::config::LatLon kEuWest{53.35, -6.26};
constexpr sy::config::LatLon kUsEast{38.95, -77.45};
constexpr sy::config::LatLon kSingapore{1.35, 103.82};

std::shared_ptr<const sy::geo::Locator> regions() {
  sy::config::Config cfg;
  cfg.regions["eu-west"] = kEuWest;
  cfg.regions["us-east"] = kUsEast;
  auto loc = sy::geo::Locator::create(cfg);
  REQUIRE(loc.has_value());
  return *loc;
}

ClientLocation at(const char* region, sy::config::LatLon where, const char* zone = "") {
  ClientLocation c;
  c.source = LocationSource::kHeader;
  c.lat = where.lat;
  c.lon = where.lon;
  c.region = region;
  c.zone = zone;
  return c;
}

SelectionContext from(const ClientLocation& loc) {
  SelectionContext ctx;
  ctx.location = &loc;
  return ctx;
}

// A pool of `eu` backends in eu-west and `us` in us-east (names eu1.., us1..).
std::unique_ptr<sy::upstream::BackendSet> twoRegions(int eu, int us) {
  std::vector<Spec> specs;
  for (int i = 1; i <= eu; ++i) specs.push_back({"eu" + std::to_string(i), 1, "eu-west"});
  for (int i = 1; i <= us; ++i) specs.push_back({"us" + std::to_string(i), 1, "us-east"});
  return makeSet(specs, "geo_weighted");
}

// Counts where 1000 requests go with draws spread evenly over [0, 1): (k + 0.5) / 1000.
std::map<std::string, int> countTiers(GeoWeighted& p, ScriptedRng& rng, const ClientLocation& c) {
  for (int k = 0; k < 1000; ++k) rng.pushUniform((k + 0.5) / 1000);
  std::map<std::string, int> n;
  for (int k = 0; k < 1000; ++k) {
    std::string name = pick(p, from(c));
    ++n[name.substr(0, 2)];
  }
  return n;
}

}  // namespace

TEST_CASE("GeoWeighted::spill: Envoy priority-load arithmetic") {
  auto loads = [](std::vector<double> health) {
    std::vector<double> out(health.size());
    GeoWeighted::spill(health.data(), health.size(), out.data());
    return out;
  };
  auto health = [](double healthyShare) { return std::min(1.0, healthyShare * 1.4); };
  // Tier 0 at 100/70/50/25 % healthy, tier 1 fully healthy, overprovisioning 1.4.
  std::vector<double> l = loads({health(1.0), health(1.0)});
  CHECK(l[0] == doctest::Approx(1.0));
  CHECK(l[1] == doctest::Approx(0.0));
  l = loads({health(0.7), health(1.0)});
  CHECK(l[0] == doctest::Approx(0.98));
  CHECK(l[1] == doctest::Approx(0.02));
  l = loads({health(0.5), health(1.0)});
  CHECK(l[0] == doctest::Approx(0.70));
  CHECK(l[1] == doctest::Approx(0.30));
  l = loads({health(0.25), health(1.0)});
  CHECK(l[0] == doctest::Approx(0.35));
  CHECK(l[1] == doctest::Approx(0.65));
  // Three tiers: the excess passes on in order.
  l = loads({0.35, 0.5, 1.0});
  CHECK(l[0] == doctest::Approx(0.35));
  CHECK(l[1] == doctest::Approx(0.5));
  CHECK(l[2] == doctest::Approx(0.15));
  // Healths adding up to less than 1: traffic split in proportion.
  l = loads({0.2, 0.3});
  CHECK(l[0] == doctest::Approx(0.4));
  CHECK(l[1] == doctest::Approx(0.6));
  l = loads({0.0, 0.0});
  CHECK(l[0] == 0.0);
  CHECK(l[1] == 0.0);
}

TEST_CASE("GeoWeighted: a client goes to its nearest region") {
  auto geo = regions();
  auto set = makeSet({{"eu1", 1, "eu-west"},
                      {"us1", 1, "us-east"},
                      {"eu2", 1, "eu-west"},
                      {"us2", 1, "us-east"},
                      {"sin1", 1, "", "", kSingapore}},
                     "geo_weighted");
  GeoWeighted p(*set, geo.get(), std::make_unique<ScriptedRng>());
  CHECK(p.needs().location);
  ClientLocation eu = at("eu-west", kEuWest);
  CHECK(picks(p, 4, from(eu)) == "eu1 eu2 eu1 eu2");
  ClientLocation us = at("us-east", kUsEast);
  CHECK(picks(p, 4, from(us)) == "us1 us2 us1 us2");
  ClientLocation tokyo = at("", {35.68, 139.69});
  CHECK(picks(p, 2, from(tokyo)) == "sin1 sin1");
  ClientLocation paris = at("", {48.86, 2.35});  // coordinates only: nearest is eu-west
  CHECK(picks(p, 2, from(paris)) == "eu1 eu2");
}

TEST_CASE("GeoWeighted: within a tier, smooth WRR by weight") {
  auto geo = regions();
  auto set = makeSet({{"eu1", 3, "eu-west"}, {"eu2", 1, "eu-west"}, {"us1", 5, "us-east"}},
                     "geo_weighted");
  GeoWeighted p(*set, geo.get(), std::make_unique<ScriptedRng>());
  ClientLocation eu = at("eu-west", kEuWest);
  CHECK(picks(p, 8, from(eu)) == "eu1 eu1 eu2 eu1 eu1 eu1 eu2 eu1");
}

TEST_CASE("GeoWeighted: spill shares at 100/70/50/25 % health follow the formula") {
  auto geo = regions();
  auto set = twoRegions(20, 20);
  auto rng = std::make_unique<ScriptedRng>();
  ScriptedRng& r = *rng;
  GeoWeighted p(*set, geo.get(), std::move(rng));
  ClientLocation eu = at("eu-west", kEuWest);
  auto downEu = [&](int n) {
    for (int i = 0; i < 20; ++i) set->backends[i]->setHealthy(i >= n);
  };
  SUBCASE("100%") {
    auto n = countTiers(p, r, eu);
    CHECK(n["eu"] == 1000);
    CHECK(n["us"] == 0);
  }
  SUBCASE("70%") {
    downEu(6);
    auto n = countTiers(p, r, eu);
    CHECK(n["eu"] == 980);
    CHECK(n["us"] == 20);
  }
  SUBCASE("50%") {
    downEu(10);
    auto n = countTiers(p, r, eu);
    CHECK(n["eu"] == 700);
    CHECK(n["us"] == 300);
  }
  SUBCASE("25%") {
    downEu(15);
    REQUIRE_FALSE(panicMode(*set));  // 25 of 40 healthy overall
    auto n = countTiers(p, r, eu);
    CHECK(n["eu"] == 350);
    CHECK(n["us"] == 650);
  }
  SUBCASE("0%: everything to the next region") {
    downEu(20);
    auto n = countTiers(p, r, eu);
    CHECK(n["us"] == 1000);
  }
  SUBCASE("overprovisioning 1 spills as soon as one backend fails") {
    set->cfg.geoOverprovisioning = 1.0;
    auto rng2 = std::make_unique<ScriptedRng>();
    ScriptedRng& r2 = *rng2;
    GeoWeighted p2(*set, geo.get(), std::move(rng2));
    downEu(2);
    auto n = countTiers(p2, r2, eu);
    CHECK(n["eu"] == 900);
    CHECK(n["us"] == 100);
  }
}

TEST_CASE("GeoWeighted: healthy share counts weights; draining backends leave the tier") {
  auto geo = regions();
  auto set = makeSet(
      {{"eu1", 3, "eu-west"}, {"eu2", 1, "eu-west"}, {"us1", 1, "us-east"}, {"us2", 1, "us-east"}},
      "geo_weighted");
  auto rng = std::make_unique<ScriptedRng>();
  ScriptedRng& r = *rng;
  GeoWeighted p(*set, geo.get(), std::move(rng));
  ClientLocation eu = at("eu-west", kEuWest);
  SUBCASE("the heavy backend down: 1/4 of the weight healthy -> 35% stays") {
    set->backends[0]->setHealthy(false);
    auto n = countTiers(p, r, eu);
    CHECK(n["eu"] == 350);
  }
  SUBCASE("draining is out of the denominator") {
    set->backends[0]->setAdminState(AdminState::kDraining);
    auto n = countTiers(p, r, eu);
    CHECK(n["eu"] == 1000);
  }
}

TEST_CASE("GeoWeighted: a retry moves on when the drawn tier is exhausted") {
  auto geo = regions();
  auto set = twoRegions(2, 2);
  GeoWeighted p(*set, geo.get(), std::make_unique<ScriptedRng>());
  ClientLocation eu = at("eu-west", kEuWest);
  const Backend* tried[] = {set->backends[0].get(), set->backends[1].get()};
  SelectionContext ctx = from(eu);
  ctx.tried = tried;
  ctx.triedCount = 1;
  CHECK(pick(p, ctx) == "eu2");
  ctx.triedCount = 2;
  CHECK(picks(p, 2, ctx) == "us1 us2");
}

TEST_CASE("GeoWeighted: the client's zone is a tier of its own, before its region") {
  auto geo = regions();
  auto set = makeSet({{"eu1a", 1, "eu-west", "eu-west-1a"},
                      {"eu1b", 1, "eu-west", "eu-west-1b"},
                      {"eu2b", 1, "eu-west", "eu-west-1b"},
                      {"us1", 1, "us-east", "us-east-1a"}},
                     "geo_weighted", 0.0);
  auto rng = std::make_unique<ScriptedRng>();
  ScriptedRng& r = *rng;
  GeoWeighted p(*set, geo.get(), std::move(rng));
  ClientLocation c = at("eu-west", kEuWest, "eu-west-1a");
  CHECK(picks(p, 3, from(c)) == "eu1a eu1a eu1a");
  set->backends[0]->setHealthy(false);
  auto n = countTiers(p, r, c);
  CHECK(n["eu"] == 1000);  // the rest of eu-west, not us-east
  CHECK(picks(p, 2, from(c)) == "eu1b eu2b");
}

TEST_CASE("GeoWeighted: an unplaced client gets a plain weighted choice") {
  auto geo = regions();
  auto set = makeSet({{"eu1", 2, "eu-west"}, {"us1", 1, "us-east"}}, "geo_weighted");
  GeoWeighted p(*set, geo.get(), std::make_unique<ScriptedRng>());
  CHECK(picks(p, 6) == "eu1 us1 eu1 eu1 us1 eu1");
}

TEST_CASE("GeoWeighted: panic mode routes to the nearest tier whatever its health") {
  auto geo = regions();
  auto set = twoRegions(2, 2);
  GeoWeighted p(*set, geo.get(), std::make_unique<SplitMix64>(5));
  for (auto& b : set->backends) b->setHealthy(false);
  set->backends[3]->setHealthy(true);  // 1 of 4 healthy: below 50%
  REQUIRE(panicMode(*set));
  ClientLocation eu = at("eu-west", kEuWest);
  CHECK(picks(p, 4, from(eu)) == "eu1 eu2 eu1 eu2");
  SUBCASE("without panic, only the healthy backend") {
    set->cfg.panicThreshold = 0;
    CHECK(picks(p, 3, from(eu)) == "us2 us2 us2");
  }
}

TEST_CASE("GeoWeighted: backends at the same coordinates share a tier") {
  auto geo = regions();
  auto set = makeSet({{"eu1", 1, "eu-west"}, {"eu2", 1, "", "", kEuWest}, {"us1", 1, "us-east"}},
                     "geo_weighted");
  GeoWeighted p(*set, geo.get(), std::make_unique<ScriptedRng>());
  ClientLocation eu = at("eu-west", kEuWest);
  CHECK(picks(p, 4, from(eu)) == "eu1 eu2 eu1 eu2");
}

TEST_CASE("makePolicy: geo_weighted") {
  auto geo = regions();
  auto set = twoRegions(1, 1);
  auto p = makePolicy(*set, geo.get());
  REQUIRE(dynamic_cast<GeoWeighted*>(p.get()) != nullptr);
  CHECK(p->needs().location);
  CHECK(p->needs().hashKey == nullptr);
  ClientLocation us = at("us-east", kUsEast);
  CHECK(pick(*p, from(us)) == "us1");
}
