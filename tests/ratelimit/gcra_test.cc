#include "switchyard/ratelimit/gcra.h"

#include <doctest/doctest.h>

#include "../../src/config/sections.h"

using namespace sy::ratelimit;
using namespace std::chrono_literals;

namespace {
constexpr uint64_t kSec = 1'000'000'000;
}

TEST_CASE("rate limit: rate parsing") {
  using sy::config::detail::parseRate;
  auto r = parseRate("10/s");
  REQUIRE(r);
  CHECK(r->first == 10);
  CHECK(r->second == 1s);
  CHECK(parseRate("5/m")->second == 60s);
  CHECK(parseRate("2/h")->second == 3600s);
  for (const char* bad : {"", "10", "/s", "0/s", "10/d", "10/sec", "-1/s", "1.5/s", "10 /s", "x/s"})
    CHECK_MESSAGE(!parseRate(bad), bad);
}

TEST_CASE("rate limit: GCRA allows burst + 1 at once, then one per interval") {
  for (uint32_t burst : {0u, 1u, 5u}) {
    Gcra g = Gcra::of(10, kSec, burst);  // 10/s: T = 100 ms
    CHECK(g.interval == 100'000'000);
    CHECK(g.tolerance == burst * g.interval);
    uint64_t tat = 0, now = 1000 * kSec;
    for (uint32_t i = 0; i <= burst; ++i) {
      Decision d = decide(g, tat, now, &tat);
      CHECK(d.allowed);
      CHECK(d.remaining == burst - i);
    }
    Decision d = decide(g, tat, now, &tat);
    CHECK_FALSE(d.allowed);
    CHECK(d.retryAfterNs == g.interval);
    // Exactly one interval later one more passes, not two.
    now += g.interval;
    CHECK(decide(g, tat, now, &tat).allowed);
    CHECK_FALSE(decide(g, tat, now, &tat).allowed);
  }
}

TEST_CASE("rate limit: retry-after and reset round up to whole seconds") {
  Gcra g = Gcra::of(1, 60 * kSec, 0);  // 1/m
  uint64_t tat = 0, now = 5 * kSec;
  CHECK(decide(g, tat, now, &tat).allowed);
  now += kSec / 2;
  Decision d = decide(g, tat, now, &tat);
  REQUIRE_FALSE(d.allowed);
  CHECK(d.retryAfterNs == 59 * kSec + kSec / 2);
  CHECK(ceilSeconds(d.retryAfterNs) == 60);
  CHECK(ceilSeconds(d.resetNs) == 60);
  CHECK(ceilSeconds(0) == 0);
  CHECK(ceilSeconds(1) == 1);
  CHECK(ceilSeconds(kSec) == 1);
  CHECK(ceilSeconds(kSec + 1) == 2);
}

TEST_CASE("rate limit: a refused request does not move the state") {
  Gcra g = Gcra::of(2, kSec, 0);
  uint64_t tat = 0, now = kSec;
  decide(g, tat, now, &tat);
  uint64_t before = tat;
  for (int i = 0; i < 10; ++i) CHECK_FALSE(decide(g, tat, now, &tat).allowed);
  CHECK(tat == before);
}

TEST_CASE("rate limit: store answers give the same decision as local steps") {
  Gcra g = Gcra::of(10, kSec, 3);
  uint64_t tat = 0, now = 7 * kSec;
  for (int i = 0; i < 6; ++i) {
    uint64_t next = 0;
    Decision local = decide(g, tat, now, &next);
    uint64_t ahead = (local.allowed ? next : tat) > now ? (local.allowed ? next : tat) - now : 0;
    Decision remote = fromAhead(g, local.allowed, ahead);
    CHECK(remote.allowed == local.allowed);
    CHECK(remote.remaining == local.remaining);
    CHECK(remote.retryAfterNs == local.retryAfterNs);
    CHECK(remote.resetNs == local.resetNs);
    tat = next;
  }
}
