#include "switchyard/health/slow_start.h"

#include <doctest/doctest.h>

#include <map>

#include "health_test_util.h"
#include "switchyard/balancing/round_robin.h"

using sy::health::kWeightScale;
using sy::health::slowStartWeight;
using sy::health::steadyWeight;
using namespace std::chrono_literals;
namespace t = sy::health::testing;

TEST_CASE("slowStartWeight: linear from 10% to full over the window") {
  CHECK(slowStartWeight(1, 0, 10000) == 10);
  CHECK(slowStartWeight(1, 5000, 10000) == 55);
  CHECK(slowStartWeight(1, 9999, 10000) == 100);
  CHECK(slowStartWeight(1, 10000, 10000) == 100);
  CHECK(slowStartWeight(1, 50000, 10000) == 100);
  CHECK(slowStartWeight(4, 0, 2000) == 40);
  CHECK(slowStartWeight(4, 1000, 2000) == 220);
  CHECK(slowStartWeight(10000, 0, 1000) == 100000);
  CHECK(slowStartWeight(3, 0, 0) == 300);  // no window: full at once
  // Monotonic over the whole ramp.
  uint32_t prev = 0;
  for (uint64_t ms = 0; ms <= 3000; ms += 7) {
    uint32_t w = slowStartWeight(2, ms, 3000);
    CHECK(w >= prev);
    CHECK(w >= 1);
    prev = w;
  }
}

TEST_CASE("steadyWeight: scaled only in pools with slow_start") {
  sy::config::Pool p;
  CHECK(steadyWeight(3, p) == 3);
  p.slowStart = 5s;
  CHECK(steadyWeight(3, p) == 3 * kWeightScale);
}

TEST_CASE(
    "slow start: a weight-1 backend at the start of its ramp gets about a tenth of a peer's "
    "share") {
  sy::config::Pool p = t::poolConfig("web", 2);
  p.slowStart = 10s;
  auto set = t::makeSet(p);
  set->backends[0]->setEffectiveWeight(steadyWeight(1, p));
  set->backends[1]->setEffectiveWeight(slowStartWeight(1, 0, 10000));
  sy::balancing::RoundRobin rr(*set);
  std::map<std::string, int> n;
  for (int i = 0; i < 110; ++i) ++n[rr.select({})->name()];
  CHECK(n["b1"] == 100);
  CHECK(n["b2"] == 10);
}
