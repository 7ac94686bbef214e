#include "switchyard/discovery/expand.h"

#include <doctest/doctest.h>

#include "switchyard/config/loader.h"
#include "switchyard/server/snapshot.h"

namespace sy::discovery {
namespace {

config::Config load(const std::string& yaml) {
  auto config = config::loadConfigString(yaml, "t.yaml");
  if (!config) FAIL("unexpected error: " << config.error().format());
  return std::move(*config);
}

constexpr const char* kTwoPools = R"(listeners:
  - listen: 127.0.0.1:0
    routes: [{pool: web}]
regions:
  eu: {lat: 1, lon: 2}
pools:
  - name: web
    discovery: {interval: 5s}
    backends:
      - {name: static, address: 127.0.0.1:9001}
      - {name: app, address: App.Svc:8080, resolve: true, weight: 3, region: eu}
  - name: api
    discovery: {dns: app.svc:9090, interval: 2s, weight: 7}
  - name: other
    discovery: {dns: app.svc:80, resolver: 127.0.0.1:5353}
)";

Endpoints plain(std::initializer_list<const char*> addresses) {
  Endpoints out;
  for (const char* a : addresses) out.push_back(Endpoint{a, 0, 0});
  return out;
}

std::vector<std::string> names(const config::Pool& p) {
  std::vector<std::string> out;
  for (const auto& b : p.backends) out.push_back(b.name + "=" + b.address.text);
  return out;
}

TEST_CASE("targetsOf: one target per name and resolver, the shortest interval") {
  config::Config c = load(kTwoPools);
  std::vector<Target> t = targetsOf(c);
  REQUIRE(t.size() == 2);
  CHECK(t[0].key == "system|app.svc");
  CHECK(t[0].host == "App.Svc");
  CHECK_FALSE(t[0].resolver.has_value());
  CHECK(t[0].interval == std::chrono::seconds(2));
  CHECK(t[0].pools == std::vector<std::string>{"web", "api"});
  CHECK(t[1].pools == std::vector<std::string>{"other"});
  CHECK(t[1].key == "127.0.0.1:5353|app.svc");
  REQUIRE(t[1].resolver.has_value());
  CHECK(t[1].interval == std::chrono::seconds(10));
  CHECK(targetKey("app.svc.", std::nullopt) == "system|app.svc");
  CHECK(targetsOf(load(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
)")).empty());
}

TEST_CASE("expand: one backend per address, deterministic names, template copied") {
  config::Config c = load(kTwoPools);
  Found found{{"system|app.svc", plain({"10.0.0.1", "fd00::2"})}};
  std::vector<std::string> skipped;
  config::Config e = expand(c, found, &skipped);
  CHECK(skipped.empty());
  CHECK(names(e.pools[0]) == std::vector<std::string>{"static=127.0.0.1:9001",
                                                      "app-10.0.0.1=10.0.0.1:8080",
                                                      "app-fd00::2=[fd00::2]:8080"});
  const config::Backend& b = e.pools[0].backends[1];
  CHECK_FALSE(b.resolve);
  CHECK(b.weight == 3);
  CHECK(b.region == "eu");
  CHECK(b.address.addrLen > 0);
  CHECK(b.address.port == 8080);
  CHECK(e.pools[0].backends[2].address.addr.ss_family == AF_INET6);
  CHECK(names(e.pools[1]) == std::vector<std::string>{"api-10.0.0.1=10.0.0.1:9090",
                                                      "api-fd00::2=[fd00::2]:9090"});
  CHECK(e.pools[1].backends[0].weight == 7);
  CHECK(e.pools[2].backends.empty());  // its resolver has not answered
  // The base config is untouched.
  CHECK(c.pools[0].backends.size() == 2);
  CHECK(c.pools[0].backends[1].resolve);
}

TEST_CASE("expand: nothing found yet leaves only the listed backends") {
  config::Config e = expand(load(kTwoPools), {});
  CHECK(names(e.pools[0]) == std::vector<std::string>{"static=127.0.0.1:9001"});
  CHECK(e.pools[1].backends.empty());
}

TEST_CASE("expand: a discovered name that is taken is left out and reported") {
  config::Config c = load(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    discovery: {dns: web.svc:80}
    backends: [{name: web-10.0.0.1, address: 127.0.0.1:9001}]
)");
  std::vector<std::string> skipped;
  config::Config e = expand(c, {{"system|web.svc", plain({"10.0.0.1", "10.0.0.2"})}}, &skipped);
  CHECK(names(e.pools[0]) == std::vector<std::string>{"web-10.0.0.1=127.0.0.1:9001",
                                                      "web-10.0.0.2=10.0.0.2:80"});
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0] == "pool web: discovered backend web-10.0.0.1 (10.0.0.1:80) left out: the "
                      "name is already used by 127.0.0.1:9001");
}

TEST_CASE("expand + buildSnapshot: backends found again keep their identity") {
  config::Config base = load(kTwoPools);
  auto first = std::make_shared<const config::Config>(
      expand(base, {{"system|app.svc", plain({"10.0.0.1", "10.0.0.2"})}}));
  auto s1 = server::buildSnapshot(first, nullptr, 1, 1).value();
  auto second = std::make_shared<const config::Config>(
      expand(base, {{"system|app.svc", plain({"10.0.0.2", "10.0.0.3"})}}));
  auto s2 = server::buildSnapshot(second, s1.get(), 1, 2).value();
  const auto& before = s1->pools[1]->backends;  // api: api-10.0.0.1, api-10.0.0.2
  const auto& after = s2->pools[1]->backends;   // api: api-10.0.0.2, api-10.0.0.3
  REQUIRE(before.size() == 2);
  REQUIRE(after.size() == 2);
  CHECK(after[0] == before[1]);  // the same object: health, counters and pool carry over
  CHECK(after[0]->name() == "api-10.0.0.2");
  CHECK(after[1]->name() == "api-10.0.0.3");
  CHECK(after[1] != before[0]);
  CHECK(s2->pools[0]->backends[0] == s1->pools[0]->backends[0]);  // the static one too
}

TEST_CASE("expand: SRV endpoints bring their port and weight") {
  config::Config c = load(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    discovery: {srv: _http._tcp.Web.svc, dns: web.svc:80, weight: 4}
)");
  std::vector<Target> t = targetsOf(c);
  REQUIRE(t.size() == 2);
  CHECK(t[1].key == "system|SRV _http._tcp.web.svc");
  CHECK(t[1].srv);
  Found found{{"system|SRV _http._tcp.web.svc",
               {Endpoint{"10.0.0.1", 8080, 30}, Endpoint{"fd00::1", 8443, 70}}},
              {"system|web.svc", plain({"10.0.0.1"})}};
  config::Config e = expand(c, found);
  CHECK(names(e.pools[0]) == std::vector<std::string>{"web-10.0.0.1=10.0.0.1:80",
                                                      "web-10.0.0.1:8080=10.0.0.1:8080",
                                                      "web-[fd00::1]:8443=[fd00::1]:8443"});
  CHECK(e.pools[0].backends[0].weight == 4);
  CHECK(e.pools[0].backends[1].weight == 30);
  CHECK(e.pools[0].backends[2].weight == 70);
}

TEST_CASE("normalizeAddresses: IPv4 first, by value, one spelling, no duplicates") {
  CHECK(normalizeAddresses({"10.0.0.10", "fd00::1", "10.0.0.9", "10.0.0.10", "fd00:0::1",
                            "::1", "not-an-ip", "2001:db8::"}) ==
        Addresses{"10.0.0.9", "10.0.0.10", "::1", "2001:db8::", "fd00::1"});
  CHECK(normalizeAddresses({}).empty());
}

}  // namespace
}  // namespace sy::discovery
