// Lookups and the Discovery follower on a real libuv loop, against a fake DNS server on
// loopback (dns_test_util.h) and the system resolver with numeric names (hermetic).

#include "switchyard/discovery/discovery.h"

#include <doctest/doctest.h>

#include <optional>

#include "../uv_test_loop.h"
#include "dns_test_util.h"
#include "switchyard/common/log.h"
#include "switchyard/config/loader.h"
#include "switchyard/config/units.h"
#include "switchyard/discovery/lookup.h"

namespace sy::discovery {
namespace {

using testing::FakeDnsServer;
using namespace std::chrono_literals;

// A fresh loop that fails the test on leftover handles; Discovery's log lines are kept out of
// the test output.
struct LoopFixture : UvTestLoop {
  log::Level level = log::level();
  LoopFixture() { log::setLevel(log::Level::kError); }
  ~LoopFixture() { log::setLevel(level); }
};

config::SocketAddress addr(const std::string& text) { return *config::parseSocketAddress(text); }

// Runs one lookup to its end; nullopt when `done` never ran within `ms`.
std::optional<LookupResult> lookUp(UvTestLoop& l, const std::string& name,
                                   const config::SocketAddress* resolver,
                                   config::Duration timeout = 2s, uint64_t ms = 3000) {
  std::optional<LookupResult> got;
  auto started = startLookup(&l.loop, name, resolver, timeout, [&](LookupResult r) { got = r; });
  if (!started) return LookupResult(std::unexpected(started.error()));
  l.runUntil([&] { return got.has_value(); }, ms);
  return got;
}

TEST_CASE_FIXTURE(LoopFixture, "UDP lookup: A and AAAA together, sorted; stray replies ignored") {
  FakeDnsServer dns(&loop);
  dns.records["web.svc"] = {"10.0.0.2", "fd00::1", "10.0.0.1"};
  dns.strayFirst = true;
  config::SocketAddress resolver = addr(dns.address());
  auto r = lookUp(*this, "web.svc", &resolver);
  REQUIRE(r.has_value());
  REQUIRE_MESSAGE(r->has_value(), r->error());
  CHECK(**r == Addresses{"10.0.0.1", "10.0.0.2", "fd00::1"});
  CHECK(dns.queries == 2);
  dns.close();
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "UDP lookup: NXDOMAIN, SERVFAIL, silence and a dead port fail") {
  FakeDnsServer dns(&loop);
  config::SocketAddress resolver = addr(dns.address());
  auto r = lookUp(*this, "missing.svc", &resolver);
  REQUIRE(r.has_value());
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error() == "no such name (NXDOMAIN)");

  dns.records["v4only.svc"] = {};
  r = lookUp(*this, "v4only.svc", &resolver);
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error() == "no A or AAAA records");

  dns.rcode = 2;
  r = lookUp(*this, "web.svc", &resolver);
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error().find("SERVFAIL") != std::string::npos);
  CHECK(r->error().find("resolver " + dns.address()) == 0);

  dns.rcode = 0;
  dns.silent = true;
  dns.queries = 0;
  uint64_t t0 = uv_now(&loop);
  r = lookUp(*this, "web.svc", &resolver, 300ms);
  REQUIRE(r.has_value());
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error() == "no answer from resolver " + dns.address() + " within 300ms");
  CHECK(uv_now(&loop) - t0 >= 290);
  CHECK(dns.queries == 6);  // A and AAAA, sent three times
  dns.close();
  uv_run(&loop, UV_RUN_NOWAIT);  // runs the close callback: the port is free now

  // Nothing listens on the port any more: the ICMP error ends the lookup before the timeout.
  t0 = uv_now(&loop);
  r = lookUp(*this, "web.svc", &resolver, 2s);
  REQUIRE(r.has_value());
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error().find("ECONNREFUSED") != std::string::npos);
  CHECK(uv_now(&loop) - t0 < 1000);
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "system lookup: numeric names answer without any DNS") {
  auto r = lookUp(*this, "127.0.0.1", nullptr);
  REQUIRE(r.has_value());
  REQUIRE_MESSAGE(r->has_value(), r->error());
  CHECK(**r == Addresses{"127.0.0.1"});
  r = lookUp(*this, "::1", nullptr);
  REQUIRE(r.has_value());
  REQUIRE_MESSAGE(r->has_value(), r->error());
  CHECK(**r == Addresses{"::1"});
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "cancel: done never runs and every handle is released") {
  FakeDnsServer dns(&loop);
  dns.silent = true;
  config::SocketAddress resolver = addr(dns.address());
  bool called = false;
  auto udp = startLookup(&loop, "web.svc", &resolver, 200ms, [&](LookupResult) { called = true; });
  REQUIRE(udp.has_value());
  auto sys = startLookup(&loop, "127.0.0.1", nullptr, 200ms, [&](LookupResult) { called = true; });
  REQUIRE(sys.has_value());
  (*udp)->cancel();
  (*sys)->cancel();
  runUntil([] { return false; }, 300);
  CHECK_FALSE(called);
  dns.close();
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "startLookup: a name DNS cannot carry fails at once") {
  config::SocketAddress resolver = addr("127.0.0.1:53");
  bool called = false;
  auto r = startLookup(&loop, "a..b", &resolver, 1s, [&](LookupResult) { called = true; });
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == "'a..b' is not a valid DNS name");
  CHECK_FALSE(called);
  CHECK(drain());
}

config::Config discoveryConfig(const std::string& resolver, const std::string& interval) {
  auto c = config::loadConfigString(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    discovery: {dns: web.svc:8080, interval: )" + interval + ", resolver: " + resolver + R"(}
    backends: [{name: fixed, address: 127.0.0.1:9001}]
)",
                                    "t.yaml");
  if (!c) FAIL(c.error().format());
  return std::move(*c);
}

std::vector<std::string> backendNames(const config::Config& c) {
  std::vector<std::string> out;
  for (const auto& b : c.pools[0].backends) out.push_back(b.name);
  return out;
}

TEST_CASE_FIXTURE(LoopFixture, "Discovery: follows changes, keeps the last answer on failure") {
  FakeDnsServer dns(&loop);
  dns.records["web.svc"] = {"10.0.0.1", "10.0.0.2"};
  int changes = 0;
  Discovery d(&loop, [&] { ++changes; });
  auto base = std::make_shared<const config::Config>(discoveryConfig(dns.address(), "100ms"));
  d.update(*base);
  CHECK_FALSE(d.settled());
  REQUIRE(runUntil([&] { return d.settled(); }, 3000));
  CHECK(changes == 1);
  CHECK(backendNames(*d.expand(base)) ==
        std::vector<std::string>{"fixed", "web-10.0.0.1", "web-10.0.0.2"});
  REQUIRE(d.failuresByPool().size() == 1);
  CHECK(d.failuresByPool().at("web") == 0);  // exported from the start

  // A record appears and one vanishes: one change, seen at the next interval.
  dns.records["web.svc"] = {"10.0.0.2", "10.0.0.3"};
  REQUIRE(runUntil([&] { return changes == 2; }, 3000));
  CHECK(backendNames(*d.expand(base)) ==
        std::vector<std::string>{"fixed", "web-10.0.0.2", "web-10.0.0.3"});

  // The same answer again is no change.
  uint64_t lookups = d.stats().lookups.load();
  REQUIRE(runUntil([&] { return d.stats().lookups.load() >= lookups + 2; }, 3000));
  CHECK(changes == 2);

  // Failures keep the last good answer and are counted.
  dns.rcode = 2;
  REQUIRE(runUntil([&] { return d.stats().failures.load() >= 2; }, 3000));
  CHECK(changes == 2);
  CHECK(backendNames(*d.expand(base)) ==
        std::vector<std::string>{"fixed", "web-10.0.0.2", "web-10.0.0.3"});
  dns.rcode = 0;
  dns.records.erase("web.svc");  // NXDOMAIN is a failure too: the pool is not emptied
  uint64_t failures = d.stats().failures.load();
  REQUIRE(runUntil([&] { return d.stats().failures.load() > failures; }, 3000));
  CHECK(backendNames(*d.expand(base)).size() == 3);
  CHECK(d.stats().changes.load() == 2);
  CHECK(d.failuresByPool().at("web") == d.stats().failures.load());

  d.close();
  dns.close();
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "Discovery: update keeps known names and drops the others") {
  FakeDnsServer dns(&loop);
  dns.records["web.svc"] = {"10.0.0.1"};
  int changes = 0;
  Discovery d(&loop, [&] { ++changes; });
  auto base = std::make_shared<const config::Config>(discoveryConfig(dns.address(), "10s"));
  d.update(*base);
  REQUIRE(runUntil([&] { return d.settled(); }, 3000));
  // A reload with the same name: the answer is kept, no new lookup is needed to expand it.
  auto same = std::make_shared<const config::Config>(discoveryConfig(dns.address(), "5s"));
  d.update(*same);
  CHECK(d.settled());
  CHECK(backendNames(*d.expand(same)) == std::vector<std::string>{"fixed", "web-10.0.0.1"});
  // A config without discovery: expand() hands the same config back.
  auto plain = std::make_shared<const config::Config>(
      *config::loadConfigString(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
)",
                                "t.yaml"));
  d.update(*plain);
  CHECK(d.expand(plain) == plain);
  CHECK(changes == 1);
  d.close();
  dns.close();
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "Discovery: close() with a lookup in flight releases it") {
  FakeDnsServer dns(&loop);
  dns.silent = true;
  Discovery d(&loop, nullptr);
  d.update(discoveryConfig(dns.address(), "1s"));
  REQUIRE(runUntil([&] { return dns.queries >= 2; }, 3000));  // the lookup is in flight
  d.close();
  dns.close();
  CHECK(drain());
}

}  // namespace
}  // namespace sy::discovery
