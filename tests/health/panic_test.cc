#include <doctest/doctest.h>

#include "health_test_util.h"
#include "switchyard/balancing/policy.h"
#include "switchyard/health/outlier.h"

using sy::balancing::isCandidate;
using sy::balancing::panicMode;
using sy::balancing::SelectionContext;
namespace t = sy::health::testing;

TEST_CASE("panic: below panic_threshold every enabled backend is a candidate") {
  sy::config::Pool p = t::poolConfig("web", 3);
  p.panicThreshold = 0.5;
  auto set = t::makeSet(p);
  auto& b = set->backends;
  b[0]->setHealthy(false);
  CHECK_FALSE(panicMode(*set));  // 2 of 3 up
  CHECK_FALSE(isCandidate(*b[0], {}, panicMode(*set)));
  b[1]->setEjected(true);  // ejected counts as not up
  CHECK(panicMode(*set));  // 1 of 3
  for (const auto& x : b) CHECK(isCandidate(*x, {}, true));
}

TEST_CASE("panic: the threshold is a share, exactly at it is not panic") {
  sy::config::Pool p = t::poolConfig("web", 4);
  p.panicThreshold = 0.75;
  auto set = t::makeSet(p);
  set->backends[0]->setHealthy(false);
  CHECK_FALSE(panicMode(*set));  // 3 of 4 = 75%
  set->backends[1]->setHealthy(false);
  CHECK(panicMode(*set));
  SUBCASE("100%: any backend down means panic") {
    set->cfg.panicThreshold = 1.0;
    set->backends[1]->setHealthy(true);
    CHECK(panicMode(*set));
  }
  SUBCASE("0%: never panic, so nothing is a candidate when all are down") {
    set->cfg.panicThreshold = 0.0;
    for (auto& x : set->backends) x->setHealthy(false);
    CHECK_FALSE(panicMode(*set));
    for (auto& x : set->backends) CHECK_FALSE(isCandidate(*x, {}, false));
  }
}

TEST_CASE("panic: everything down still routes (fail open), but never to a tried backend") {
  sy::config::Pool p = t::poolConfig("web", 2);
  auto set = t::makeSet(p);
  for (auto& x : set->backends) x->setHealthy(false);
  REQUIRE(panicMode(*set));
  const sy::upstream::Backend* tried[] = {set->backends[0].get()};
  SelectionContext ctx;
  ctx.tried = tried;
  ctx.triedCount = 1;
  CHECK_FALSE(isCandidate(*set->backends[0], ctx, true));
  CHECK(isCandidate(*set->backends[1], ctx, true));
}
