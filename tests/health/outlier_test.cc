#include "switchyard/health/outlier.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "health_test_util.h"

using sy::config::Duration;
using sy::config::OutlierDetection;
using sy::health::ejectionTime;
using sy::health::EjectionTimer;
using sy::health::maxEjected;
using sy::health::Outcome;
using sy::health::reportFailure;
using sy::health::reportSuccess;
using namespace std::chrono_literals;
namespace t = sy::health::testing;

namespace {

OutlierDetection od(uint32_t failures, Duration base, Duration max, double percent) {
  OutlierDetection o;
  o.consecutiveFailures = failures;
  o.baseEjectionTime = base;
  o.maxEjectionTime = max;
  o.maxEjectionPercent = percent;
  return o;
}

std::unique_ptr<sy::upstream::BackendSet> pool(size_t n, OutlierDetection o) {
  sy::config::Pool p = t::poolConfig("web", n);
  p.outlierDetection = o;
  return t::makeSet(p);
}

size_t ejectedCount(const sy::upstream::BackendSet& set) {
  size_t n = 0;
  for (const auto& b : set.backends) n += b->ejected() ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("maxEjected: share of the pool, rounded down, at least one") {
  CHECK(maxEjected(10, 0.5) == 5);
  CHECK(maxEjected(3, 0.5) == 1);
  CHECK(maxEjected(4, 0.5) == 2);
  CHECK(maxEjected(3, 1.0) == 3);
  CHECK(maxEjected(3, 0.0) == 1);  // at least one may always be ejected
  CHECK(maxEjected(1, 0.1) == 1);
  CHECK(maxEjected(10, 0.3) == 3);  // no floating-point undershoot (10 * 0.3 = 2.9999...)
  CHECK(maxEjected(0, 0.5) == 1);
}

TEST_CASE("ejectionTime: base x multiplier, capped at max") {
  OutlierDetection o = od(5, 30s, 300s, 0.5);
  CHECK(ejectionTime(o, 1) == 30s);
  CHECK(ejectionTime(o, 2) == 60s);
  CHECK(ejectionTime(o, 10) == 300s);
  CHECK(ejectionTime(o, 11) == 300s);
  CHECK(ejectionTime(o, 4000000000u) == 300s);  // no overflow
  CHECK(ejectionTime(o, 0) == 30s);
  CHECK(ejectionTime(od(5, 1s, 2500ms, 0.5), 3) == 2500ms);
}

TEST_CASE("reportFailure: consecutive failures eject at the threshold") {
  auto set = pool(4, od(3, 1s, 10s, 0.5));
  auto& b = *set->backends[0];
  CHECK_FALSE(reportFailure(b, *set, Outcome::kConnectFailure));
  CHECK_FALSE(reportFailure(b, *set, Outcome::kServerError));
  CHECK_FALSE(b.ejected());
  CHECK(b.health().consecutiveFailures.load() == 2);
  CHECK(reportFailure(b, *set, Outcome::kTimeout));
  CHECK(b.ejected());
  CHECK_FALSE(b.available());
  CHECK(b.health().ejections.load() == 1);
  CHECK(static_cast<Outcome>(b.health().lastFailure.load()) == Outcome::kTimeout);
  CHECK_FALSE(reportFailure(b, *set, Outcome::kTimeout));  // already ejected
  CHECK(b.health().ejections.load() == 1);
}

TEST_CASE("reportSuccess: a success in between resets the streak") {
  auto set = pool(4, od(3, 1s, 10s, 0.5));
  auto& b = *set->backends[1];
  reportFailure(b, *set, Outcome::kReset);
  reportFailure(b, *set, Outcome::kReset);
  reportSuccess(b);
  CHECK(b.health().consecutiveFailures.load() == 0);
  CHECK_FALSE(reportFailure(b, *set, Outcome::kReset));
  CHECK_FALSE(reportFailure(b, *set, Outcome::kReset));
  CHECK_FALSE(b.ejected());
  CHECK(reportFailure(b, *set, Outcome::kReset));
}

TEST_CASE("reportFailure: without outlier_detection nothing is ejected") {
  auto set = t::makeSet(t::poolConfig("web", 2));
  auto& b = *set->backends[0];
  for (int i = 0; i < 100; ++i) CHECK_FALSE(reportFailure(b, *set, Outcome::kConnectFailure));
  CHECK_FALSE(b.ejected());
  CHECK(b.health().consecutiveFailures.load() == 0);
}

TEST_CASE("reportFailure: max_ejection_percent caps ejections in a pool") {
  auto set = pool(4, od(1, 1s, 10s, 0.5));  // at most 2 of 4
  CHECK(reportFailure(*set->backends[0], *set, Outcome::kServerError));
  CHECK(reportFailure(*set->backends[1], *set, Outcome::kServerError));
  CHECK_FALSE(reportFailure(*set->backends[2], *set, Outcome::kServerError));
  CHECK_FALSE(set->backends[2]->ejected());
  CHECK(ejectedCount(*set) == 2);
  CHECK(set->backends[2]->health().ejections.load() == 0);

  SUBCASE("a refused ejection happens on the next failure once there is room") {
    set->backends[0]->setEjected(false);  // readmitted
    CHECK(reportFailure(*set->backends[2], *set, Outcome::kServerError));
    CHECK(ejectedCount(*set) == 2);
  }
}

TEST_CASE("reportFailure: at least one backend may always be ejected") {
  SUBCASE("two backends at 10%") {
    auto set = pool(2, od(1, 1s, 10s, 0.1));
    CHECK(reportFailure(*set->backends[0], *set, Outcome::kConnectFailure));
    CHECK_FALSE(reportFailure(*set->backends[1], *set, Outcome::kConnectFailure));
  }
  SUBCASE("a single backend") {
    auto set = pool(1, od(2, 1s, 10s, 0.5));
    reportFailure(*set->backends[0], *set, Outcome::kConnectFailure);
    CHECK(reportFailure(*set->backends[0], *set, Outcome::kConnectFailure));
  }
}

TEST_CASE("reportFailure: racing workers never leave more than the cap ejected") {
  for (int round = 0; round < 50; ++round) {
    auto set = pool(8, od(1, 1s, 10s, 0.25));  // at most 2 of 8
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (size_t i = 0; i < set->backends.size(); ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) {
        }
        for (int k = 0; k < 20; ++k) reportFailure(*set->backends[i], *set, Outcome::kServerError);
      });
    }
    go.store(true);
    for (auto& th : threads) th.join();
    CHECK(ejectedCount(*set) <= 2);
    CHECK(ejectedCount(*set) >= 1);
    uint64_t ejections = 0;
    for (const auto& b : set->backends) ejections += b->health().ejections.load();
    CHECK(ejections == ejectedCount(*set));
  }
}

TEST_CASE("EjectionTimer: backoff grows with each ejection and is capped") {
  auto set = pool(3, od(1, 1s, 3500ms, 0.5));
  const OutlierDetection& o = *set->cfg.outlierDetection;
  auto& b = *set->backends[0];
  EjectionTimer timer;
  uint64_t now = 10000;
  CHECK(timer.tick(b, o, now) == EjectionTimer::Event::kNone);

  const uint64_t expected[] = {1000, 2000, 3000, 3500, 3500};
  for (uint64_t len : expected) {
    REQUIRE(reportFailure(b, *set, Outcome::kServerError));
    CHECK(timer.tick(b, o, now) == EjectionTimer::Event::kEjected);
    CHECK(timer.until() == now + len);
    CHECK(timer.tick(b, o, now + len - 1) == EjectionTimer::Event::kNone);
    CHECK(timer.tick(b, o, now + len) == EjectionTimer::Event::kExpired);
    now += len;
    b.setEjected(false);  // what Monitor::readmit does
    b.health().consecutiveFailures.store(0);
    timer.readmitted(now);
    now += 10;  // fails again right away
  }
  CHECK(timer.multiplier() <= 5);
}

TEST_CASE("EjectionTimer: the multiplier decays while the backend stays admitted") {
  auto set = pool(3, od(1, 1s, 10s, 0.5));
  const OutlierDetection& o = *set->cfg.outlierDetection;
  auto& b = *set->backends[0];
  EjectionTimer timer;
  uint64_t now = 0;
  auto ejectAndExpire = [&] {
    REQUIRE(reportFailure(b, *set, Outcome::kServerError));
    REQUIRE(timer.tick(b, o, now) == EjectionTimer::Event::kEjected);
    now = timer.until();
    REQUIRE(timer.tick(b, o, now) == EjectionTimer::Event::kExpired);
    b.setEjected(false);
    b.health().consecutiveFailures.store(0);
    timer.readmitted(now);
  };
  ejectAndExpire();
  ejectAndExpire();
  ejectAndExpire();
  CHECK(timer.multiplier() == 3);
  // 2 s healthy: two steps down.
  timer.tick(b, o, now + 999);
  CHECK(timer.multiplier() == 3);
  timer.tick(b, o, now + 1000);
  CHECK(timer.multiplier() == 2);
  timer.tick(b, o, now + 2000);
  CHECK(timer.multiplier() == 1);
  now += 2000;
  ejectAndExpire();
  CHECK(timer.multiplier() == 2);
}

TEST_CASE("EjectionTimer: a claim rolled back for the cap is not taken for an ejection") {
  auto set = pool(3, od(1, 1s, 10s, 0.5));
  const OutlierDetection& o = *set->cfg.outlierDetection;
  auto& b = *set->backends[0];
  EjectionTimer timer;
  b.setEjected(true);  // a claim in flight: the ejection counter has not moved
  CHECK(timer.tick(b, o, 100) == EjectionTimer::Event::kNone);
  CHECK_FALSE(timer.ejected());
  b.setEjected(false);
  CHECK(timer.tick(b, o, 200) == EjectionTimer::Event::kNone);
}

TEST_CASE("EjectionTimer: readmitted early by an active check") {
  auto set = pool(3, od(1, 10s, 100s, 0.5));
  const OutlierDetection& o = *set->cfg.outlierDetection;
  auto& b = *set->backends[2];
  EjectionTimer timer;
  REQUIRE(reportFailure(b, *set, Outcome::kServerError));
  CHECK(timer.tick(b, o, 0) == EjectionTimer::Event::kEjected);
  b.setEjected(false);
  timer.readmitted(500);
  CHECK_FALSE(timer.ejected());
  CHECK(timer.tick(b, o, 10499) == EjectionTimer::Event::kNone);
  CHECK(timer.multiplier() == 1);
  CHECK(timer.tick(b, o, 10500) == EjectionTimer::Event::kNone);
  CHECK(timer.multiplier() == 0);  // 10 s admitted = one base_ejection_time
}
