// The loader's side of DNS discovery: pools[].discovery and backends' `resolve: true`.

#include <doctest/doctest.h>

#include "switchyard/config/loader.h"

namespace sy::config {
namespace {

constexpr const char* kHead = R"(listeners:
  - listen: 127.0.0.1:0
    routes: [{pool: web}]
pools:
  - name: web
)";

Config load(const std::string& pool) {
  auto config = loadConfigString(kHead + pool, "t.yaml");
  if (!config) FAIL("unexpected error: " << config.error().format());
  return std::move(*config);
}

std::string errorOf(const std::string& pool) {
  auto config = loadConfigString(kHead + pool, "t.yaml");
  REQUIRE_FALSE(config.has_value());
  return config.error().format();
}

TEST_CASE("discovery keys: defaults") {
  Config c = load("    backends: [{address: 127.0.0.1:9001}]\n");
  const Discovery& d = c.pools[0].discovery;
  CHECK_FALSE(d.dns.has_value());
  CHECK_FALSE(d.srv.has_value());
  CHECK(d.interval == std::chrono::seconds(10));
  CHECK_FALSE(d.resolver.has_value());
  CHECK(d.weight == 1);
  CHECK_FALSE(c.pools[0].backends[0].resolve);
}

TEST_CASE("discovery keys: resolve: true takes a name the loader does not look up") {
  Config c = load(R"(    backends:
      - {name: app, address: app.invalid:8080, resolve: true, weight: 3, zone: a}
      - {address: 127.0.0.1:9001}
)");
  const Backend& b = c.pools[0].backends[0];
  CHECK(b.resolve);
  CHECK(b.name == "app");
  CHECK(b.address.host == "app.invalid");
  CHECK(b.address.port == 8080);
  CHECK(b.address.addrLen == 0);
  CHECK(b.weight == 3);
  // Without resolve the name must resolve at load time, as before.
  CHECK(errorOf("    backends: [{address: app.invalid:8080}]\n").find(
            "t.yaml:6:26: pools[0].backends[0].address: cannot resolve host 'app.invalid'") == 0);
}

TEST_CASE("discovery keys: a pool with discovery.dns needs no listed backends") {
  Config c = load(R"(    discovery:
      dns: web.default.svc.cluster.local.:8080
      interval: 2s
      resolver: 127.0.0.1:5353
      weight: 5
)");
  const Pool& p = c.pools[0];
  CHECK(p.backends.empty());
  REQUIRE(p.discovery.dns.has_value());
  CHECK(p.discovery.dns->host == "web.default.svc.cluster.local.");
  CHECK(p.discovery.dns->port == 8080);
  CHECK(p.discovery.interval == std::chrono::seconds(2));
  REQUIRE(p.discovery.resolver.has_value());
  CHECK(p.discovery.resolver->port == 5353);
  CHECK(p.discovery.resolver->addrLen > 0);
  CHECK(p.discovery.weight == 5);
  CHECK(load("    backends: []\n    discovery: {dns: web:80}\n").pools[0].backends.empty());
  // SRV alone needs no backends either; its name is kept as written.
  Config srv = load("    discovery: {srv: _http._tcp.Web.default.svc.cluster.local.}\n");
  CHECK(srv.pools[0].discovery.srv == "_http._tcp.Web.default.svc.cluster.local.");
  CHECK(srv.pools[0].backends.empty());
  CHECK(load("    backends: [{address: '[fd00::1]:80', resolve: true}]\n")
            .pools[0].backends[0].address.host == "fd00::1");
}

TEST_CASE("discovery keys: errors name file, line, column and key") {
  CHECK(errorOf("    discovery: {dns: web..svc:80}\n") ==
        "t.yaml:6:22: pools[0].discovery.dns: must be name:port with a DNS name, e.g. "
        "web.default.svc.cluster.local:80");
  CHECK(errorOf("    discovery: {dns: web.svc}\n") ==
        "t.yaml:6:22: pools[0].discovery.dns: must be host:port, e.g. 127.0.0.1:8080 or "
        "[::1]:8080");
  CHECK(errorOf("    discovery: {dns: 'web.svc:0'}\n") ==
        "t.yaml:6:22: pools[0].discovery.dns: port must be > 0");
  CHECK(errorOf("    discovery: {dns: 'web svc:80'}\n") ==
        "t.yaml:6:22: pools[0].discovery.dns: must be name:port with a DNS name, e.g. "
        "web.default.svc.cluster.local:80");
  CHECK(errorOf("    discovery: {dns: web:80, interval: 50ms}\n") ==
        "t.yaml:6:40: pools[0].discovery.interval: must be at least 100ms");
  CHECK(errorOf("    discovery: {dns: web:80, interval: 10}\n") ==
        "t.yaml:6:40: pools[0].discovery.interval: needs a unit: ms, s, m or h (e.g. 5s)");
  CHECK(errorOf("    discovery: {dns: web:80, resolver: 127.0.0.1}\n") ==
        "t.yaml:6:40: pools[0].discovery.resolver: must be host:port, e.g. 127.0.0.1:8080 or "
        "[::1]:8080");
  CHECK(errorOf("    discovery: {dns: web:80, weight: 0}\n") ==
        "t.yaml:6:38: pools[0].discovery.weight: must be > 0");
  CHECK(errorOf("    discovery: {dns: web:80, ttl: 5s}\n") ==
        "t.yaml:6:30: pools[0].discovery.ttl: unknown key (expected one of: dns, srv, interval, "
        "resolver, weight)");
  CHECK(errorOf("    discovery: {srv: '_http._tcp.web.svc:80'}\n") ==
        "t.yaml:6:22: pools[0].discovery.srv: must be a DNS name (no port), e.g. "
        "_http._tcp.web.default.svc.cluster.local");
  CHECK(errorOf("    discovery: {srv: [a]}\n") ==
        "t.yaml:6:22: pools[0].discovery.srv: must be a string");
  CHECK(errorOf("    discovery: web:80\n") == "t.yaml:6:16: pools[0].discovery: must be a map");
  CHECK(errorOf("    backends: [{address: 127.0.0.1:9001}]\n    discovery: {interval: 5s}\n") ==
        "t.yaml:7:16: pools[0].discovery: has nothing to resolve: give it `dns: name:port` or "
        "`srv: name`, or mark backends `resolve: true`");
  CHECK(errorOf("    backends: [{address: web:80, resolve: maybe}]\n") ==
        "t.yaml:6:43: pools[0].backends[0].resolve: must be true or false");
  CHECK(errorOf("    backends: [{address: 'web_1.svc:x', resolve: true}]\n") ==
        "t.yaml:6:26: pools[0].backends[0].address: port must be a number between 0 and 65535");
  CHECK(errorOf("    backends: [{address: '[web]:80', resolve: true}]\n") ==
        "t.yaml:6:26: pools[0].backends[0].address: must be name:port with a DNS name, e.g. "
        "web.default.svc.cluster.local:80");
  CHECK(errorOf("    policy: round_robin\n") ==
        "t.yaml:5:5: pools[0]: missing required key 'backends'");
  CHECK(errorOf("    backends: []\n") ==
        "t.yaml:6:15: pools[0].backends: must have at least one backend");
}

TEST_CASE("discovery keys: resolve backends keep unique names") {
  CHECK(errorOf(R"(    backends:
      - {address: web:80, resolve: true}
      - {address: web:80, resolve: true}
)") == "t.yaml:8:9: pools[0].backends[1]: duplicate backend name 'web:80' in pool 'web' (also "
       "backends[0]); a backend's name defaults to its address, so give each backend a "
       "distinct name");
}

}  // namespace
}  // namespace sy::config
