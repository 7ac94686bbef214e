#include "switchyard/health/monitor.h"

#include <doctest/doctest.h>
#include <uv.h>

#include "../uv_test_loop.h"
#include "health_test_util.h"
#include "switchyard/health/slow_start.h"

using sy::health::CheckResult;
using sy::health::kWeightScale;
using sy::health::Monitor;
using sy::health::Outcome;
using sy::health::reportFailure;
using namespace std::chrono_literals;
namespace t = sy::health::testing;

namespace {

const CheckResult kPass{true, 200, ""};
const CheckResult kFail{false, 0, "connect refused"};

// A loop for the monitor's handles (never run until teardown: checks are fed by hand) and a
// manual clock.
struct Fixture {
  UvTestLoop l;
  uv_loop_t& loop = l.loop;
  t::ManualClock clock;
  std::unique_ptr<Monitor> monitor;

  Fixture() {
    monitor = std::make_unique<Monitor>(
        &loop, [this] { return clock.now; }, 42);
  }
  ~Fixture() {
    monitor->close();
    CHECK(l.drain());  // only close callbacks are left
    monitor.reset();
  }
};

sy::config::HealthCheck check(uint32_t rise, uint32_t fall) {
  sy::config::HealthCheck hc;
  hc.interval = 10s;  // never fires: the loop does not run
  hc.healthyThreshold = rise;
  hc.unhealthyThreshold = fall;
  return hc;
}

sy::config::OutlierDetection outlier(uint32_t failures, sy::config::Duration base) {
  sy::config::OutlierDetection od;
  od.consecutiveFailures = failures;
  od.baseEjectionTime = base;
  od.maxEjectionTime = base * 10;
  od.maxEjectionPercent = 0.5;
  return od;
}

sy::upstream::Backend& backend(const sy::server::Snapshot& s, size_t pool, size_t i) {
  return *s.pools[pool]->backends[i];
}

}  // namespace

TEST_CASE("Monitor: active results mark a backend down after fall and up after rise") {
  Fixture f;
  sy::config::Pool p = t::poolConfig("web", 3);
  p.healthCheck = check(2, 3);
  auto snap = t::makeSnapshot({p});
  f.monitor->update(snap);
  CHECK(f.monitor->tracked() == 3);
  CHECK(f.monitor->checked() == 3);
  auto& b2 = backend(*snap, 0, 1);
  CHECK(b2.healthy());  // healthy until its checks fail

  f.monitor->applyCheckResult(b2, kFail);
  f.monitor->applyCheckResult(b2, kFail);
  CHECK(b2.healthy());
  f.monitor->applyCheckResult(b2, kFail);
  CHECK_FALSE(b2.healthy());
  CHECK_FALSE(b2.available());
  f.monitor->applyCheckResult(b2, kPass);
  CHECK_FALSE(b2.healthy());
  f.monitor->applyCheckResult(b2, kPass);
  CHECK(b2.healthy());

  CHECK(b2.health().checksFailed.load() == 3);
  CHECK(b2.health().checksOk.load() == 2);
  CHECK(b2.health().transitions.load() == 2);
  CHECK(backend(*snap, 0, 0).health().checksOk.load() == 0);
}

TEST_CASE("Monitor: ejection timer readmits; a passing active check readmits early") {
  Fixture f;
  sy::config::Pool p = t::poolConfig("web", 4);
  p.outlierDetection = outlier(2, 1s);
  SUBCASE("timer") {
    auto snap = t::makeSnapshot({p});
    f.monitor->update(snap);
    auto& b = backend(*snap, 0, 0);
    reportFailure(b, *snap->pools[0], Outcome::kServerError);
    REQUIRE(reportFailure(b, *snap->pools[0], Outcome::kServerError));
    f.monitor->tick();
    CHECK(b.ejected());
    f.clock.now += 999;
    f.monitor->tick();
    CHECK(b.ejected());
    f.clock.now += 1;
    f.monitor->tick();
    CHECK_FALSE(b.ejected());
    CHECK(b.health().consecutiveFailures.load() == 0);
    // Ejected again right away: twice as long.
    reportFailure(b, *snap->pools[0], Outcome::kTimeout);
    REQUIRE(reportFailure(b, *snap->pools[0], Outcome::kTimeout));
    f.monitor->tick();
    f.clock.now += 1999;
    f.monitor->tick();
    CHECK(b.ejected());
    f.clock.now += 1;
    f.monitor->tick();
    CHECK_FALSE(b.ejected());
    CHECK(b.health().ejections.load() == 2);
  }
  SUBCASE("active check") {
    p.healthCheck = check(2, 3);
    auto snap = t::makeSnapshot({p});
    f.monitor->update(snap);
    auto& b = backend(*snap, 0, 3);
    reportFailure(b, *snap->pools[0], Outcome::kServerError);
    REQUIRE(reportFailure(b, *snap->pools[0], Outcome::kServerError));
    f.monitor->tick();
    f.monitor->applyCheckResult(b, kFail);
    CHECK(b.ejected());
    f.monitor->applyCheckResult(b, kPass);
    CHECK_FALSE(b.ejected());
    CHECK(b.available());
  }
}

TEST_CASE("Monitor: slow start ramps the effective weight after recovery (injected clock)") {
  Fixture f;
  sy::config::Pool p = t::poolConfig("web", 3);
  p.healthCheck = check(1, 1);
  p.slowStart = 1s;
  p.backends[2].weight = 3;
  auto snap = t::makeSnapshot({p});
  f.monitor->update(snap);
  auto& b1 = backend(*snap, 0, 0);
  auto& b3 = backend(*snap, 0, 2);
  // Initial backends do not ramp; weights are scaled in a slow-start pool.
  CHECK(b1.effectiveWeight() == kWeightScale);
  CHECK(b3.effectiveWeight() == 3 * kWeightScale);

  f.monitor->applyCheckResult(b3, kFail);
  CHECK_FALSE(b3.healthy());
  f.clock.now += 5000;
  f.monitor->tick();
  f.monitor->applyCheckResult(b3, kPass);
  CHECK(b3.healthy());
  CHECK(b3.effectiveWeight() == 30);  // 10% of 300
  f.clock.now += 250;
  f.monitor->tick();
  CHECK(b3.effectiveWeight() == 98);  // 10% + 90% x 1/4 = 32.5% of 300
  f.clock.now += 250;
  f.monitor->tick();
  CHECK(b3.effectiveWeight() == 165);
  f.clock.now += 500;
  f.monitor->tick();
  CHECK(b3.effectiveWeight() == 300);
  f.clock.now += 500;
  f.monitor->tick();
  CHECK(b3.effectiveWeight() == 300);
  CHECK(b1.effectiveWeight() == kWeightScale);
}

TEST_CASE("Monitor: slow start after an ejection ends") {
  Fixture f;
  sy::config::Pool p = t::poolConfig("web", 2);
  p.outlierDetection = outlier(1, 1s);
  p.slowStart = 2s;
  auto snap = t::makeSnapshot({p});
  f.monitor->update(snap);
  auto& b = backend(*snap, 0, 1);
  REQUIRE(reportFailure(b, *snap->pools[0], Outcome::kConnectFailure));
  f.monitor->tick();
  f.clock.now += 1000;
  f.monitor->tick();
  CHECK_FALSE(b.ejected());
  CHECK(b.effectiveWeight() == 10);
  f.clock.now += 1000;
  f.monitor->tick();
  CHECK(b.effectiveWeight() == 55);
  f.clock.now += 1000;
  f.monitor->tick();
  CHECK(b.effectiveWeight() == 100);
}

TEST_CASE("Monitor: without slow_start effective weight is the configured weight") {
  Fixture f;
  sy::config::Pool p = t::poolConfig("web", 2);
  p.healthCheck = check(1, 1);
  p.backends[0].weight = 5;
  auto snap = t::makeSnapshot({p});
  f.monitor->update(snap);
  auto& b = backend(*snap, 0, 0);
  f.monitor->applyCheckResult(b, kFail);
  f.monitor->applyCheckResult(b, kPass);
  CHECK(b.effectiveWeight() == 5);
}

TEST_CASE("Monitor: a reload keeps kept backends' state, drops removed ones, starts added ones") {
  Fixture f;
  sy::config::Pool p = t::poolConfig("web", 3);
  p.healthCheck = check(2, 1);
  p.slowStart = 1s;
  auto snap1 = t::makeSnapshot({p});
  f.monitor->update(snap1);
  auto b2 = snap1->pools[0]->backends[1];
  auto b3 = snap1->pools[0]->backends[2];
  f.monitor->applyCheckResult(*b2, kFail);
  REQUIRE_FALSE(b2->healthy());

  sy::config::Pool p2 = p;
  p2.backends.erase(p2.backends.begin() + 2);        // b3 removed
  p2.backends.push_back(t::backendConfig("b4", 4));  // b4 added
  auto snap2 = t::makeSnapshot({p2}, snap1.get());
  REQUIRE(snap2->pools[0]->backends[1] == b2);  // same object: identity survives
  f.monitor->update(snap2);
  CHECK(f.monitor->tracked() == 3);
  CHECK(f.monitor->checked() == 3);
  CHECK_FALSE(b2->healthy());  // kept its state
  f.monitor->applyCheckResult(*b2, kPass);
  CHECK_FALSE(b2->healthy());  // still needs rise = 2 passes
  f.monitor->applyCheckResult(*b2, kPass);
  CHECK(b2->healthy());

  // Removed: no longer followed.
  f.monitor->applyCheckResult(*b3, kFail);
  CHECK(b3->healthy());
  CHECK(b3->health().checksFailed.load() == 0);

  // Added: healthy, ramping.
  auto& b4 = backend(*snap2, 0, 2);
  CHECK(b4.healthy());
  CHECK(b4.effectiveWeight() == 10);
  f.clock.now += 1000;
  f.monitor->tick();
  CHECK(b4.effectiveWeight() == 100);
}

TEST_CASE("Monitor: a reload that changes a ramping backend's weight keeps the ramp") {
  Fixture f;
  sy::config::Pool p = t::poolConfig("web", 2);
  p.slowStart = 1s;
  auto snap1 = t::makeSnapshot({p});
  f.monitor->update(snap1);
  sy::config::Pool p2 = p;
  p2.backends.push_back(t::backendConfig("b3", 3));
  auto snap2 = t::makeSnapshot({p2}, snap1.get());
  f.monitor->update(snap2);
  auto& b3 = backend(*snap2, 0, 2);
  CHECK(b3.effectiveWeight() == 10);
  f.clock.now += 500;
  sy::config::Pool p3 = p2;
  p3.backends[2].weight = 2;
  auto snap3 = t::makeSnapshot({p3}, snap2.get());
  CHECK(b3.effectiveWeight() == 2);  // what buildSnapshot leaves: the raw weight
  f.monitor->update(snap3);
  CHECK(b3.effectiveWeight() == 110);  // 55% of 200
  CHECK(backend(*snap3, 0, 0).effectiveWeight() == 100);
}

TEST_CASE("Monitor: a reload that removes health_check and outlier_detection") {
  Fixture f;
  sy::config::Pool p = t::poolConfig("web", 3);
  p.healthCheck = check(1, 1);
  p.outlierDetection = outlier(1, 60s);
  auto snap1 = t::makeSnapshot({p});
  f.monitor->update(snap1);
  auto& b1 = backend(*snap1, 0, 0);
  auto& b2 = backend(*snap1, 0, 1);
  f.monitor->applyCheckResult(b1, kFail);
  REQUIRE(reportFailure(b2, *snap1->pools[0], Outcome::kServerError));
  f.monitor->tick();
  REQUIRE_FALSE(b1.healthy());
  REQUIRE(b2.ejected());

  sy::config::Pool p2 = p;
  p2.healthCheck.reset();
  p2.outlierDetection.reset();
  auto snap2 = t::makeSnapshot({p2}, snap1.get());
  f.monitor->update(snap2);
  CHECK(f.monitor->checked() == 0);
  CHECK(b1.healthy());  // without checks a backend is considered up
  CHECK_FALSE(b2.ejected());
  CHECK(b2.available());
}

TEST_CASE("Monitor: a pool that disappears stops being followed") {
  Fixture f;
  sy::config::Pool a = t::poolConfig("a", 2);
  sy::config::Pool b = t::poolConfig("b", 2);
  a.healthCheck = check(1, 1);
  b.healthCheck = check(1, 1);
  auto snap1 = t::makeSnapshot({a, b});
  f.monitor->update(snap1);
  CHECK(f.monitor->checked() == 4);
  auto snap2 = t::makeSnapshot({a}, snap1.get());
  f.monitor->update(snap2);
  CHECK(f.monitor->tracked() == 2);
  CHECK(f.monitor->checked() == 2);
}

TEST_CASE("Monitor: real checks on a loop take a refused backend down") {
  UvTestLoop l;
  uv_loop_t& loop = l.loop;
  // A port that refuses connections.
  uint16_t port = 0;
  {
    uv_tcp_t tmp;
    REQUIRE(uv_tcp_init(&loop, &tmp) == 0);
    sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    REQUIRE(uv_tcp_bind(&tmp, reinterpret_cast<const sockaddr*>(&sa), 0) == 0);
    sockaddr_storage bound;
    int len = sizeof bound;
    REQUIRE(uv_tcp_getsockname(&tmp, reinterpret_cast<sockaddr*>(&bound), &len) == 0);
    port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    uv_close(reinterpret_cast<uv_handle_t*>(&tmp), nullptr);
    REQUIRE(l.drain());
  }
  sy::config::Pool p = t::poolConfig("web", 0);
  p.backends.push_back(t::backendConfig("dead", port));
  p.healthCheck = check(2, 3);
  p.healthCheck->interval = 20ms;
  p.healthCheck->timeout = 500ms;
  auto snap = t::makeSnapshot({p});
  Monitor m(&loop);
  m.update(snap);
  auto& b = backend(*snap, 0, 0);
  const uint64_t t0 = uv_hrtime();
  l.runUntil([&] { return !b.healthy(); }, 3000);
  const uint64_t ms = (uv_hrtime() - t0) / 1000000;
  CHECK_FALSE(b.healthy());
  CHECK(b.health().checksFailed.load() == 3);
  // three checks 20 ms (+ up to 2 ms jitter) apart; libuv timers run on the loop's cached
  // millisecond clock, so each interval may end up to 1 ms early against uv_hrtime().
  CHECK(ms >= 38);
  CHECK(ms < 1000);
  m.close();
  CHECK(l.drain());
}
