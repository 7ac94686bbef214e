#include <doctest/doctest.h>

#include <map>

#include "switchyard/balancing/least_conn.h"
#include "test_backends.h"

using namespace sy::balancing;
using namespace sy::balancing::test;
using sy::upstream::AdminState;
using sy::upstream::Backend;

TEST_CASE("LeastConn: idle pool rotates by smooth WRR (ties), weights 5,1,1") {
  auto set = makeSet({{"a", 5}, {"b", 1}, {"c", 1}}, "least_conn");
  LeastConn lc(*set);
  CHECK(picks(lc, 7) == "a a b a c a a");
  CHECK(picks(lc, 7) == "a a b a c a a");
}

TEST_CASE("LeastConn: equal weights and equal load rotate in config order") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}}, "least_conn");
  LeastConn lc(*set);
  CHECK(picks(lc, 6) == "b1 b2 b3 b1 b2 b3");
  // Same load everywhere (not zero): still a tie, still rotating.
  for (auto& b : set->backends) b->addInFlight(4);
  CHECK(picks(lc, 3) == "b1 b2 b3");
}

TEST_CASE("LeastConn: picks the idle backend") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}}, "least_conn");
  LeastConn lc(*set);
  set->backends[0]->addInFlight(3);
  set->backends[2]->addInFlight(2);
  for (int i = 0; i < 5; ++i) CHECK(pick(lc) == "b2");
  set->backends[1]->addInFlight(2);  // b2 and b3 tie at 2; b1 has 3
  CHECK(picks(lc, 4) == "b2 b3 b2 b3");
}

TEST_CASE("LeastConn: compares in_flight / weight by cross-multiplication") {
  auto set = makeSet({{"heavy", 4}, {"light", 1}}, "least_conn");
  LeastConn lc(*set);
  set->backends[0]->addInFlight(3);  // 3/4 = 0.75
  set->backends[1]->addInFlight(1);  // 1/1 = 1
  CHECK(pick(lc) == "heavy");
  set->backends[0]->addInFlight(2);  // 5/4 > 1
  CHECK(pick(lc) == "light");
  set->backends[0]->addInFlight(-1);  // 4/4 == 1/1: tie -> WRR 4:1 among both
  std::map<std::string, int> n;
  for (int i = 0; i < 10; ++i) ++n[pick(lc)];
  CHECK(n["heavy"] == 8);
  CHECK(n["light"] == 2);
}

TEST_CASE("LeastConn: in flight requests steer a simulated load") {
  // Each pick holds a request; every third pick one request on b1 finishes (b1 is fast).
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}}, "least_conn");
  LeastConn lc(*set);
  std::map<std::string, int> n;
  for (int i = 0; i < 30; ++i) {
    Backend* b = lc.select({});
    REQUIRE(b != nullptr);
    ++n[b->name()];
    b->addInFlight(1);
    if (b->name() == "b1") b->addInFlight(-1);  // answered at once
  }
  // b1 stays at 0 in flight, so it gets every request once the others hold one.
  CHECK(n["b2"] == 1);
  CHECK(n["b3"] == 1);
  CHECK(n["b1"] == 28);
}

TEST_CASE("LeastConn: skips unhealthy, ejected, draining and tried backends") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}, {"b4"}}, "least_conn");
  LeastConn lc(*set);
  set->backends[3]->addInFlight(10);
  SUBCASE("unhealthy") {
    set->backends[0]->setHealthy(false);
    CHECK(picks(lc, 4) == "b2 b3 b2 b3");
  }
  SUBCASE("ejected") {
    set->backends[1]->setEjected(true);
    CHECK(picks(lc, 4) == "b1 b3 b1 b3");
  }
  SUBCASE("draining") {
    set->backends[2]->setAdminState(AdminState::kDraining);
    CHECK(picks(lc, 4) == "b1 b2 b1 b2");
  }
  SUBCASE("tried") {
    const Backend* tried[] = {set->backends[0].get(), set->backends[1].get(),
                              set->backends[2].get()};
    SelectionContext ctx;
    ctx.tried = tried;
    ctx.triedCount = 3;
    CHECK(pick(lc, ctx) == "b4");  // the only one left, however loaded
    ctx.triedCount = 4;
    const Backend* all[] = {tried[0], tried[1], tried[2], set->backends[3].get()};
    ctx.tried = all;
    CHECK(lc.select(ctx) == nullptr);
  }
}

TEST_CASE("LeastConn: panic mode considers every enabled backend") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}}, "least_conn");
  LeastConn lc(*set);
  for (auto& b : set->backends) b->setHealthy(false);
  set->backends[0]->addInFlight(1);
  REQUIRE(panicMode(*set));
  CHECK(picks(lc, 4) == "b2 b3 b2 b3");
  set->cfg.panicThreshold = 0;
  CHECK(lc.select({}) == nullptr);
}

TEST_CASE("LeastConn: effective weight (slow start) counts") {
  auto set = makeSet({{"a", 4}, {"b", 4}}, "least_conn");
  LeastConn lc(*set);
  set->backends[1]->setEffectiveWeight(1);
  std::map<std::string, int> n;
  for (int i = 0; i < 50; ++i) ++n[pick(lc)];
  CHECK(n["a"] == 40);
  CHECK(n["b"] == 10);
}

TEST_CASE("makePolicy: least_conn") {
  auto set = makeSet({{"a", 5}, {"b", 1}, {"c", 1}}, "least_conn");
  auto p = makePolicy(*set);
  CHECK(dynamic_cast<LeastConn*>(p.get()) != nullptr);
  CHECK_FALSE(p->needs().location);
  CHECK(p->needs().hashKey == nullptr);
  CHECK(picks(*p, 7) == "a a b a c a a");
}
