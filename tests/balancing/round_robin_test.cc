#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/balancing/policy.h"
#include "switchyard/balancing/registry.h"
#include "switchyard/balancing/round_robin.h"

using sy::balancing::isCandidate;
using sy::balancing::makePolicy;
using sy::balancing::panicMode;
using sy::balancing::RoundRobin;
using sy::balancing::SelectionContext;
using sy::upstream::AdminState;
using sy::upstream::Backend;
using sy::upstream::BackendSet;

namespace {

struct Spec {
  std::string name;
  uint32_t weight = 1;
};

std::unique_ptr<BackendSet> makeSet(const std::vector<Spec>& specs, double panicThreshold = 0.5) {
  auto set = std::make_unique<BackendSet>();
  set->name = "pool";
  set->cfg.name = "pool";
  set->cfg.policy = sy::config::PolicyKind::kRoundRobin;
  set->cfg.panicThreshold = panicThreshold;
  for (const Spec& s : specs) {
    sy::config::Backend b;
    b.name = s.name;
    b.weight = s.weight;
    set->cfg.backends.push_back(b);
    set->backends.push_back(std::make_shared<Backend>(b, "pool", 1));
  }
  return set;
}

std::string pick(sy::balancing::Policy& p, const SelectionContext& ctx = {}) {
  Backend* b = p.select(ctx);
  return b ? b->name() : "<none>";
}

std::string picks(sy::balancing::Policy& p, int n, const SelectionContext& ctx = {}) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += pick(p, ctx);
  }
  return s;
}

}  // namespace

TEST_CASE("RoundRobin: smooth weighted sequence 5,1,1 (nginx)") {
  auto set = makeSet({{"a", 5}, {"b", 1}, {"c", 1}});
  RoundRobin rr(*set);
  CHECK(picks(rr, 7) == "a a b a c a a");
  // The scores are back at zero after one cycle: the same sequence repeats.
  CHECK(picks(rr, 7) == "a a b a c a a");
  CHECK(picks(rr, 14) == "a a b a c a a a a b a c a a");
}

TEST_CASE("RoundRobin: weights 2,1") {
  auto set = makeSet({{"x", 2}, {"y", 1}});
  RoundRobin rr(*set);
  CHECK(picks(rr, 6) == "x y x x y x");
}

TEST_CASE("RoundRobin: equal weights rotate in config order") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}});
  RoundRobin rr(*set);
  CHECK(picks(rr, 7) == "b1 b2 b3 b1 b2 b3 b1");
}

TEST_CASE("RoundRobin: share of picks follows the weights") {
  auto set = makeSet({{"a", 3}, {"b", 2}, {"c", 5}});
  RoundRobin rr(*set);
  std::map<std::string, int> n;
  for (int i = 0; i < 1000; ++i) ++n[pick(rr)];
  CHECK(n["a"] == 300);
  CHECK(n["b"] == 200);
  CHECK(n["c"] == 500);
}

TEST_CASE("RoundRobin: single backend") {
  auto set = makeSet({{"only", 4}});
  RoundRobin rr(*set);
  CHECK(picks(rr, 3) == "only only only");
}

TEST_CASE("RoundRobin: empty set returns nullptr") {
  auto set = makeSet({});
  RoundRobin rr(*set);
  CHECK(rr.select({}) == nullptr);
  CHECK_FALSE(panicMode(*set));
}

TEST_CASE("RoundRobin: unhealthy, ejected and draining backends are skipped") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}, {"b4"}});
  RoundRobin rr(*set);
  SUBCASE("unhealthy") {
    set->backends[1]->setHealthy(false);
    CHECK_FALSE(panicMode(*set));
    CHECK(picks(rr, 6) == "b1 b3 b4 b1 b3 b4");
    set->backends[1]->setHealthy(true);
    std::map<std::string, int> n;
    for (int i = 0; i < 8; ++i) ++n[pick(rr)];
    CHECK(n["b2"] == 2);
  }
  SUBCASE("ejected") {
    set->backends[0]->setEjected(true);
    CHECK(picks(rr, 3) == "b2 b3 b4");
  }
  SUBCASE("draining") {
    set->backends[3]->setAdminState(AdminState::kDraining);
    CHECK(picks(rr, 6) == "b1 b2 b3 b1 b2 b3");
  }
}

TEST_CASE("RoundRobin: tried backends are skipped") {
  auto set = makeSet({{"a", 5}, {"b", 1}, {"c", 1}});
  RoundRobin rr(*set);
  const Backend* tried[] = {set->backends[0].get()};
  SelectionContext ctx;
  ctx.tried = tried;
  ctx.triedCount = 1;
  for (int i = 0; i < 10; ++i) {
    Backend* b = rr.select(ctx);
    REQUIRE(b != nullptr);
    CHECK(b->name() != "a");
  }
  CHECK(picks(rr, 4, ctx) == "b c b c");
}

TEST_CASE("RoundRobin: nullptr once every backend was tried") {
  auto set = makeSet({{"a"}, {"b"}});
  RoundRobin rr(*set);
  const Backend* tried[] = {set->backends[0].get(), set->backends[1].get()};
  SelectionContext ctx;
  ctx.tried = tried;
  ctx.triedCount = 2;
  CHECK(rr.select(ctx) == nullptr);
  SUBCASE("also in panic mode") {
    set->backends[0]->setHealthy(false);
    set->backends[1]->setHealthy(false);
    REQUIRE(panicMode(*set));
    CHECK(rr.select(ctx) == nullptr);
  }
}

TEST_CASE("RoundRobin: a retry sequence never repeats a backend") {
  auto set = makeSet({{"a", 5}, {"b", 1}, {"c", 1}});
  RoundRobin rr(*set);
  std::vector<const Backend*> tried;
  for (int i = 0; i < 3; ++i) {
    SelectionContext ctx;
    ctx.tried = tried.data();
    ctx.triedCount = static_cast<uint32_t>(tried.size());
    Backend* b = rr.select(ctx);
    REQUIRE(b != nullptr);
    for (const Backend* t : tried) CHECK(t != b);
    tried.push_back(b);
  }
  SelectionContext ctx;
  ctx.tried = tried.data();
  ctx.triedCount = 3;
  CHECK(rr.select(ctx) == nullptr);
}

TEST_CASE("panicMode: threshold") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}, {"b4"}}, 0.5);
  CHECK_FALSE(panicMode(*set));
  set->backends[0]->setHealthy(false);
  set->backends[1]->setEjected(true);
  CHECK_FALSE(panicMode(*set));  // 2 of 4 up: not below 50%
  set->backends[2]->setHealthy(false);
  CHECK(panicMode(*set));  // 1 of 4 up
  SUBCASE("threshold 0 disables panic mode") {
    set->cfg.panicThreshold = 0.0;
    set->backends[3]->setHealthy(false);
    CHECK_FALSE(panicMode(*set));
  }
  SUBCASE("disabled and draining backends do not count") {
    set->backends[0]->setAdminState(AdminState::kDisabled);
    set->backends[1]->setAdminState(AdminState::kDraining);
    set->backends[2]->setAdminState(AdminState::kDisabled);
    CHECK_FALSE(panicMode(*set));  // 1 of 1 enabled is up
  }
}

TEST_CASE("RoundRobin: panic mode routes to every enabled backend") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}}, 0.5);
  RoundRobin rr(*set);
  for (auto& b : set->backends) b->setHealthy(false);
  REQUIRE(panicMode(*set));
  CHECK(picks(rr, 6) == "b1 b2 b3 b1 b2 b3");

  SUBCASE("draining backends stay out even in panic mode") {
    set->backends[1]->setAdminState(AdminState::kDraining);
    CHECK(picks(rr, 4) == "b1 b3 b1 b3");
  }
  SUBCASE("without panic the unhealthy pool has no candidate") {
    set->cfg.panicThreshold = 0.0;
    CHECK_FALSE(panicMode(*set));
    CHECK(rr.select({}) == nullptr);
  }
}

TEST_CASE("RoundRobin: disabled backends are never chosen") {
  auto set = makeSet({{"b1", 3}, {"b2", 1}, {"b3", 1}}, 0.5);
  RoundRobin rr(*set);
  set->backends[0]->setAdminState(AdminState::kDisabled);
  for (int i = 0; i < 10; ++i) CHECK(pick(rr) != "b1");
  SUBCASE("nor in panic mode") {
    set->backends[1]->setHealthy(false);
    set->backends[2]->setHealthy(false);
    REQUIRE(panicMode(*set));
    for (int i = 0; i < 10; ++i) {
      Backend* b = rr.select({});
      REQUIRE(b != nullptr);
      CHECK(b->name() != "b1");
    }
  }
  SUBCASE("all disabled -> nullptr") {
    set->backends[1]->setAdminState(AdminState::kDisabled);
    set->backends[2]->setAdminState(AdminState::kDisabled);
    CHECK(rr.select({}) == nullptr);
  }
}

TEST_CASE("RoundRobin: effective weight is read on each pick (slow start)") {
  auto set = makeSet({{"a", 4}, {"b", 4}});
  RoundRobin rr(*set);
  set->backends[1]->setEffectiveWeight(1);
  std::map<std::string, int> n;
  for (int i = 0; i < 50; ++i) ++n[pick(rr)];
  CHECK(n["a"] == 40);
  CHECK(n["b"] == 10);
  SUBCASE("weight 0 still gets picked (treated as 1)") {
    set->backends[1]->setEffectiveWeight(0);
    std::map<std::string, int> m;
    for (int i = 0; i < 50; ++i) ++m[pick(rr)];
    CHECK(m["b"] == 10);
  }
}

TEST_CASE("isCandidate") {
  auto set = makeSet({{"a"}, {"b"}});
  Backend& a = *set->backends[0];
  SelectionContext none;
  CHECK(isCandidate(a, none, false));
  a.setHealthy(false);
  CHECK_FALSE(isCandidate(a, none, false));
  CHECK(isCandidate(a, none, true));
  const Backend* tried[] = {&a};
  SelectionContext ctx;
  ctx.tried = tried;
  ctx.triedCount = 1;
  CHECK(ctx.wasTried(&a));
  CHECK_FALSE(ctx.wasTried(set->backends[1].get()));
  CHECK_FALSE(isCandidate(a, ctx, true));
  a.setAdminState(AdminState::kDisabled);
  CHECK_FALSE(isCandidate(a, none, true));
}

TEST_CASE("makePolicy: round_robin") {
  auto set = makeSet({{"a", 5}, {"b", 1}, {"c", 1}});
  auto p = makePolicy(*set);
  REQUIRE(p != nullptr);
  CHECK(picks(*p, 7) == "a a b a c a a");
}

TEST_CASE("RoundRobinSchedule: the smooth sequence, computed once") {
  auto set = makeSet({{"a", 5}, {"b", 1}, {"c", 1}});
  sy::balancing::RoundRobinSchedule s(*set);
  std::string seq;
  for (uint32_t i : s.order) seq += set->backends[i]->name();
  CHECK(seq == "aabacaa");
  auto big = makeSet({{"x", 10000}, {"y", 10000}, {"z", 10000}, {"w", 10000}, {"v", 10000},
                      {"u", 10000}, {"t", 10000}});
  sy::balancing::RoundRobinSchedule capped(*big);
  CHECK(capped.order.size() <= sy::balancing::RoundRobinSchedule::kMaxLength);
  CHECK(capped.order.size() >= 7);
}

TEST_CASE("RoundRobin: instances sharing one schedule (workers) draw one smooth sequence") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}});
  set->policyShared = sy::balancing::prepareShared(*set);
  auto w0 = makePolicy(*set);
  auto w1 = makePolicy(*set);
  std::map<std::string, int> n;
  // Any interleaving of the two workers: every 3 picks cover the 3 backends.
  const char* who = "0110100111010";
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 9; ++i) {
      auto& p = who[(round * 9 + i) % 13] == '0' ? *w0 : *w1;
      n[pick(p)]++;
    }
    CHECK(n["b1"] == 3 * (round + 1));
    CHECK(n["b2"] == 3 * (round + 1));
    CHECK(n["b3"] == 3 * (round + 1));
  }
}

TEST_CASE("RoundRobin: a full backend (max_requests) is skipped") {
  auto set = makeSet({{"a"}, {"b"}});
  set->backends[0]->setMaxRequests(1);
  REQUIRE(set->backends[0]->tryAddInFlight());
  CHECK_FALSE(set->backends[0]->tryAddInFlight());
  RoundRobin rr(*set);
  CHECK(picks(rr, 3) == "b b b");
  CHECK(sy::balancing::anyFullCandidate(*set, {}));
  set->backends[0]->releaseInFlight();
  CHECK_FALSE(sy::balancing::anyFullCandidate(*set, {}));
}
