#include <doctest/doctest.h>

#include <map>

#include "switchyard/balancing/p2c.h"
#include "test_backends.h"

using namespace sy::balancing;
using namespace sy::balancing::test;
using sy::upstream::Backend;

namespace {

// A PowerOfTwo whose draws are scripted: pair(i, j) queues a first draw of candidate i and a
// second of candidate j (candidates with weight 1 each, `n` of them).
struct ScriptedP2c {
  ScriptedRng* rng;
  PowerOfTwo policy;
  explicit ScriptedP2c(const sy::upstream::BackendSet& set)
      : ScriptedP2c(set, std::make_unique<ScriptedRng>()) {}
  ScriptedP2c(const sy::upstream::BackendSet& set, std::unique_ptr<ScriptedRng> r)
      : rng(r.get()), policy(set, std::move(r)) {}
  void pair(uint64_t i, uint64_t j, uint64_t n) {
    rng->pushBelow(i, n);
    rng->pushBelow(j < i ? j : j - 1, n - 1);  // the second draw skips the first candidate
  }
};

}  // namespace

TEST_CASE("PowerOfTwo: of the two drawn, the less loaded wins") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}}, "p2c");
  ScriptedP2c p(*set);
  set->backends[0]->addInFlight(5);
  set->backends[2]->addInFlight(1);
  p.pair(0, 1, 3);
  CHECK(pick(p.policy) == "b2");
  p.pair(1, 0, 3);
  CHECK(pick(p.policy) == "b2");
  p.pair(0, 2, 3);
  CHECK(pick(p.policy) == "b3");
  p.pair(2, 1, 3);
  CHECK(pick(p.policy) == "b2");
}

TEST_CASE("PowerOfTwo: equal load keeps the first draw") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}}, "p2c");
  ScriptedP2c p(*set);
  p.pair(2, 0, 3);
  CHECK(pick(p.policy) == "b3");
  p.pair(1, 2, 3);
  CHECK(pick(p.policy) == "b2");
}

TEST_CASE("PowerOfTwo: load is compared per unit of weight") {
  auto set = makeSet({{"heavy", 4}, {"light", 1}}, "p2c");
  ScriptedP2c p(*set);
  set->backends[0]->addInFlight(3);  // 3/4 < 1/1
  set->backends[1]->addInFlight(1);
  p.rng->pushBelow(4, 5);  // weight position 4 = light
  p.rng->pushBelow(0, 4);  // the rest is heavy's span
  CHECK(pick(p.policy) == "heavy");
}

TEST_CASE("PowerOfTwo: the most loaded backend is never chosen") {
  auto set = makeSet({{"b1"}, {"b2"}, {"b3"}, {"b4"}}, "p2c");
  PowerOfTwo p(*set, std::make_unique<SplitMix64>(42));
  set->backends[2]->addInFlight(7);
  std::map<std::string, int> n;
  for (int i = 0; i < 3000; ++i) ++n[pick(p)];
  CHECK(n["b3"] == 0);
  for (const char* name : {"b1", "b2", "b4"}) {
    CHECK(n[name] > 850);
    CHECK(n[name] < 1150);
  }
}

TEST_CASE("PowerOfTwo: draws follow the weights when the load is even") {
  auto set = makeSet({{"a", 3}, {"b", 1}}, "p2c");
  PowerOfTwo p(*set, std::make_unique<SplitMix64>(7));
  std::map<std::string, int> n;
  for (int i = 0; i < 4000; ++i) ++n[pick(p)];
  CHECK(n["a"] > 2800);
  CHECK(n["a"] < 3200);
}

TEST_CASE("PowerOfTwo: a simulated load prefers the fast backend") {
  auto set = makeSet({{"slow"}, {"fast1"}, {"fast2"}}, "p2c");
  PowerOfTwo p(*set, std::make_unique<SplitMix64>(3));
  std::map<std::string, int> n;
  for (int i = 0; i < 300; ++i) {
    Backend* b = p.select({});
    REQUIRE(b != nullptr);
    ++n[b->name()];
    if (b->name() == "slow") b->addInFlight(1);  // never answers within the test
  }
  CHECK(n["slow"] <= 2);
}

TEST_CASE("PowerOfTwo: one candidate, none, tried, unhealthy") {
  auto set = makeSet({{"b1"}, {"b2"}}, "p2c");
  PowerOfTwo p(*set, std::make_unique<SplitMix64>(1));
  const Backend* tried[] = {set->backends[0].get()};
  SelectionContext ctx;
  ctx.tried = tried;
  ctx.triedCount = 1;
  for (int i = 0; i < 5; ++i) CHECK(pick(p, ctx) == "b2");
  set->backends[1]->setHealthy(false);
  set->cfg.panicThreshold = 0;
  for (int i = 0; i < 5; ++i) CHECK(pick(p) == "b1");
  CHECK(p.select(ctx) == nullptr);
}

TEST_CASE("makePolicy: p2c") {
  auto set = makeSet({{"a"}, {"b"}}, "p2c");
  auto p = makePolicy(*set);
  CHECK(dynamic_cast<PowerOfTwo*>(p.get()) != nullptr);
  CHECK(p->select({}) != nullptr);
}
