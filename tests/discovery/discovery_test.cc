// c-ares lookups and the Discovery follower on a real libuv loop, against a fake DNS server on
// loopback (dns_test_util.h) and the system resolver with numeric names (hermetic). SRV, TCP
// fallback and search domains are tested against dnsmasq (integration/test_discovery*.py).

#include "switchyard/discovery/discovery.h"

#include <doctest/doctest.h>

#include <optional>

#include "../uv_test_loop.h"
#include "dns_test_util.h"
#include "switchyard/common/log.h"
#include "switchyard/config/loader.h"
#include "switchyard/config/units.h"
#include "switchyard/discovery/resolv_conf.h"
#include "switchyard/discovery/resolver.h"

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

// Runs one lookup to its end on a fresh Resolver (closed afterwards); nullopt when `done` never
// ran within `ms`.
std::optional<AnswerResult> lookUp(UvTestLoop& l, const std::string& name,
                                   const std::optional<config::SocketAddress>& server,
                                   uint64_t ms = 5000, const ResolvConf* conf = nullptr) {
  std::optional<AnswerResult> got;
  auto r = Resolver::create(&l.loop, server, conf);
  if (!r) return AnswerResult(std::unexpected(r.error()));
  (*r)->lookUpAddresses(name, [&](AnswerResult a) { got.emplace(std::move(a)); });
  l.runUntil([&] { return got.has_value(); }, ms);
  (*r)->close();
  return got;
}

Endpoints plain(std::initializer_list<const char*> addresses) {
  Endpoints out;
  for (const char* a : addresses) out.push_back(Endpoint{a, 0, 0});
  return out;
}

TEST_CASE_FIXTURE(LoopFixture, "c-ares lookup: A and AAAA together, sorted, with the TTL") {
  FakeDnsServer dns(&loop);
  dns.records["web.svc"] = {"10.0.0.2", "fd00::1", "10.0.0.1"};
  dns.ttl = 7;
  dns.strayFirst = true;  // c-ares ignores a reply with another id
  auto r = lookUp(*this, "web.svc", addr(dns.address()));
  REQUIRE(r.has_value());
  REQUIRE_MESSAGE(r->has_value(), r->error());
  CHECK((*r)->endpoints == plain({"10.0.0.1", "10.0.0.2", "fd00::1"}));
  CHECK((*r)->ttl == 7s);
  CHECK(dns.queries == 2);
  dns.close();
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "c-ares lookup: NXDOMAIN, NODATA, SERVFAIL, silence, dead port") {
  FakeDnsServer dns(&loop);
  auto server = addr(dns.address());
  auto r = lookUp(*this, "missing.svc.", server);
  REQUIRE(r.has_value());
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error() == "no such name (NXDOMAIN)");

  dns.records["empty.svc"] = {};
  r = lookUp(*this, "empty.svc.", server);
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error() == "no A or AAAA records");

  dns.rcode = 2;
  r = lookUp(*this, "web.svc.", server);
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error() == "server failure (SERVFAIL)");

  dns.rcode = 0;
  dns.silent = true;
  uint64_t t0 = uv_now(&loop);
  r = lookUp(*this, "web.svc.", server);
  REQUIRE(r.has_value());
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error() == "timed out");
  // One try of kTimeoutMs, then one of twice that.
  CHECK(uv_now(&loop) - t0 >= 3 * Resolver::kTimeoutMs - 50);
  CHECK(uv_now(&loop) - t0 < 3 * Resolver::kTimeoutMs + 1000);
  dns.close();
  uv_run(&loop, UV_RUN_NOWAIT);  // runs the close callback: the port is free now

  // Nothing listens on the port any more: the ICMP error ends the lookup before any timeout.
  t0 = uv_now(&loop);
  r = lookUp(*this, "web.svc.", server);
  REQUIRE(r.has_value());
  REQUIRE_FALSE(r->has_value());
  CHECK(r->error() == "connection refused by the DNS server");
  CHECK(uv_now(&loop) - t0 < Resolver::kTimeoutMs);
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "c-ares SRV: lowest priority, weights, targets resolved") {
  FakeDnsServer dns(&loop);
  dns.ttl = 9;
  dns.srv["_http._tcp.web.svc"] = {{0, 10, 8080, "a.web.svc"},
                                   {0, 0, 8080, "b.web.svc"},      // weight 0 counts as 1
                                   {0, 60000, 9090, "a.web.svc"},  // capped at 10000
                                   {0, 5, 8080, "alias.web.svc"},  // same address as a: adds up
                                   {0, 7, 8080, "gone.web.svc"},   // NXDOMAIN: left out
                                   {1, 50, 7070, "c.web.svc"}};    // a higher priority value
  dns.records["a.web.svc"] = {"10.0.0.1"};
  dns.records["alias.web.svc"] = {"10.0.0.1"};
  dns.records["b.web.svc"] = {"fd00::2"};
  dns.records["c.web.svc"] = {"10.0.0.3"};
  auto r = Resolver::create(&loop, addr(dns.address()));
  REQUIRE(r.has_value());
  std::optional<AnswerResult> got;
  (*r)->lookUpSrv("_http._tcp.web.svc.", [&](AnswerResult a) { got.emplace(std::move(a)); });
  REQUIRE(runUntil([&] { return got.has_value(); }, 5000));
  REQUIRE_MESSAGE(got->has_value(), got->error());
  CHECK((*got)->endpoints == Endpoints{{"10.0.0.1", 8080, 15}, {"10.0.0.1", 9090, 10000},
                                       {"fd00::2", 8080, 1}});
  CHECK((*got)->ttl == 9s);

  // Only a record whose target does not resolve: a failure naming it.
  dns.srv["_grpc._tcp.web.svc"] = {{0, 1, 9000, "gone.web.svc"}};
  got.reset();
  (*r)->lookUpSrv("_grpc._tcp.web.svc.", [&](AnswerResult a) { got.emplace(std::move(a)); });
  REQUIRE(runUntil([&] { return got.has_value(); }, 5000));
  REQUIRE_FALSE(got->has_value());
  CHECK(got->error() == "no SRV target resolved: gone.web.svc: no such name (NXDOMAIN)");
  (*r)->close();
  dns.close();
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "system resolver: numeric names answer without any DNS") {
  auto r = lookUp(*this, "127.0.0.1", std::nullopt);
  REQUIRE(r.has_value());
  REQUIRE_MESSAGE(r->has_value(), r->error());
  CHECK((*r)->endpoints == plain({"127.0.0.1"}));
  r = lookUp(*this, "::1", std::nullopt);
  REQUIRE(r.has_value());
  REQUIRE_MESSAGE(r->has_value(), r->error());
  CHECK((*r)->endpoints == plain({"::1"}));
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "ResolvConf: one read of the system's settings serves every channel") {
  ResolvConf conf(Resolver::kTimeoutMs, Resolver::kTries);
  CHECK(conf.generation() == 0);
  CHECK(conf.refresh(1) == 1);  // read
  CHECK(conf.refresh(1) == 1);  // the same loop turn: not looked at again
  CHECK(conf.refresh(2) == 1);  // looked at, unchanged: not read again
  // Channels made from it: the system's (numeric names), and one server asked directly.
  auto r = lookUp(*this, "127.0.0.1", std::nullopt, 5000, &conf);
  REQUIRE(r.has_value());
  REQUIRE_MESSAGE(r->has_value(), r->error());
  CHECK((*r)->endpoints == plain({"127.0.0.1"}));
  FakeDnsServer dns(&loop);
  dns.records["web.svc"] = {"10.0.0.1"};
  r = lookUp(*this, "web.svc", addr(dns.address()), 5000, &conf);
  REQUIRE(r.has_value());
  REQUIRE_MESSAGE(r->has_value(), r->error());
  CHECK((*r)->endpoints == plain({"10.0.0.1"}));
  CHECK(dns.queries >= 1);  // asked there, not at the system's servers
  dns.close();
  CHECK(drain());
}

TEST_CASE_FIXTURE(LoopFixture, "close: done never runs and every handle is released") {
  FakeDnsServer dns(&loop);
  dns.silent = true;
  bool called = false;
  auto r = Resolver::create(&loop, addr(dns.address()));
  REQUIRE(r.has_value());
  (*r)->lookUpAddresses("web.svc", [&](AnswerResult) { called = true; });
  (*r)->lookUpSrv("_http._tcp.web.svc", [&](AnswerResult) { called = true; });
  REQUIRE(runUntil([&] { return dns.queries >= 3; }, 3000));  // in flight
  (*r)->close();
  runUntil([] { return false; }, 100);
  CHECK_FALSE(called);
  dns.close();
  CHECK(drain());
}

TEST_CASE("nextLookupIn: the TTL within [floor, interval]") {
  CHECK(Discovery::nextLookupIn(10s, 5s) == 5s);
  CHECK(Discovery::nextLookupIn(10s, 300s) == 10s);
  CHECK(Discovery::nextLookupIn(10s, 0s) == Discovery::kTtlFloor);
  CHECK(Discovery::nextLookupIn(200ms, 0s) == 200ms);  // a shorter interval wins over the floor
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

TEST_CASE_FIXTURE(LoopFixture, "Discovery: a short TTL brings the next lookup forward") {
  FakeDnsServer dns(&loop);
  dns.records["web.svc"] = {"10.0.0.1"};
  dns.ttl = 0;  // looked up again after kTtlFloor, not after the 10 s interval
  int changes = 0;
  Discovery d(&loop, [&] { ++changes; });
  auto base = std::make_shared<const config::Config>(discoveryConfig(dns.address(), "10s"));
  d.update(*base);
  REQUIRE(runUntil([&] { return changes == 1; }, 3000));
  uint64_t t0 = uv_now(&loop);
  dns.records["web.svc"] = {"10.0.0.2"};
  REQUIRE(runUntil([&] { return changes == 2; }, 3000));
  CHECK(uv_now(&loop) - t0 >= 900);  // not before the floor
  CHECK(backendNames(*d.expand(base)) == std::vector<std::string>{"fixed", "web-10.0.0.2"});
  CHECK(d.stats().lookups.load() == 2);
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
