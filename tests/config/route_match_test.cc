// routes[].match.{headers,methods,query}, routes[].split / split_key, listeners[].proxy_protocol
// and real_ip (top level and per listener).
#include <doctest/doctest.h>

#include "switchyard/config/loader.h"

namespace sy::config {
namespace {

const char* kPools =
    "pools:\n"
    "  - {name: stable, backends: [{address: 127.0.0.1:9001}]}\n"
    "  - {name: canary, backends: [{address: 127.0.0.1:9002}]}\n";

std::string withRoute(const std::string& route, const std::string& top = "",
                      const std::string& listener = "") {
  return std::string(kPools) + top +
         "listeners:\n"
         "  - listen: 127.0.0.1:0\n" +
         listener + "    routes:\n      - " + route + "\n";
}

Config load(const std::string& yaml) {
  auto c = loadConfigString(yaml, "t.yaml");
  if (!c) FAIL("unexpected error: " << c.error().format());
  return std::move(*c);
}

std::string errorOf(const std::string& yaml) {
  auto c = loadConfigString(yaml, "t.yaml");
  REQUIRE_FALSE(c.has_value());
  return c.error().format();
}

}  // namespace

TEST_CASE("match.headers, methods and query are read") {
  Config c = load(withRoute(
      "{match: {headers: {X-Env: beta, X-Token: \"*\"}, methods: [GET, POST], "
      "query: {v: \"2\", debug: \"*\"}}, pool: canary}"));
  const RouteMatch& m = c.listeners[0].routes[0].match;
  REQUIRE(m.headers.size() == 2);
  CHECK(m.headers[0] == std::pair<std::string, std::string>{"X-Env", "beta"});
  CHECK(m.headers[1].second == "*");
  CHECK(m.methods == std::vector<std::string>{"GET", "POST"});
  REQUIRE(m.query.size() == 2);
  CHECK(m.query[0].first == "v");
}

TEST_CASE("bad match conditions are refused with their place") {
  CHECK(errorOf(withRoute("{match: {methods: [get]}, pool: stable}")).find(
            "t.yaml:7:28: listeners[0].routes[0].match.methods[0]: unknown method 'get'") == 0);
  CHECK(errorOf(withRoute("{match: {methods: []}, pool: stable}")).find("at least one") !=
        std::string::npos);
  CHECK(errorOf(withRoute("{match: {methods: [GET, GET]}, pool: stable}")).find("twice") !=
        std::string::npos);
  CHECK(errorOf(withRoute("{match: {headers: {\"a b\": x}}, pool: stable}")).find("header name") !=
        std::string::npos);
  CHECK(errorOf(withRoute("{match: {headers: {X-A: x, x-a: y}}, pool: stable}")).find(
            "match.headers.x-a: given twice") != std::string::npos);
  CHECK(errorOf(withRoute("{match: {query: [a]}, pool: stable}")).find("must be a map") !=
        std::string::npos);
  CHECK(errorOf(withRoute("{match: {cookies: {a: b}}, pool: stable}")).find("cookies") !=
        std::string::npos);
}

TEST_CASE("split: exactly one of pool and split, weights, pools and split_key") {
  Config c = load(withRoute(
      "{split: [{pool: stable, weight: 95}, {pool: canary, weight: 5}], split_key: "
      "\"header:X-User\"}"));
  const Route& r = c.listeners[0].routes[0];
  CHECK(r.pool.empty());
  REQUIRE(r.split.size() == 2);
  CHECK(r.split[0].pool == "stable");
  CHECK(r.split[1].weight == 5);
  REQUIRE(r.splitKey.has_value());
  CHECK(r.splitKey->kind == HashKey::Kind::kHeader);
  CHECK(r.splitKey->name == "X-User");
  CHECK_FALSE(load(withRoute("{split: [{pool: stable, weight: 1}, {pool: canary, weight: 1}]}"))
                  .listeners[0].routes[0].splitKey.has_value());

  CHECK(errorOf(withRoute("{pool: stable, split: [{pool: stable, weight: 1}]}"))
            .find("either pool or split") != std::string::npos);
  CHECK(errorOf(withRoute("{match: {path_prefix: /}}")).find("missing required key 'pool'") !=
        std::string::npos);
  CHECK(errorOf(withRoute("{split: [{pool: stable, weight: 1}, {pool: nope, weight: 1}]}"))
            .find("listeners[0].routes[0].split[1].pool: unknown pool 'nope'") != std::string::npos);
  CHECK(errorOf(withRoute("{split: [{pool: stable, weight: 0}, {pool: canary, weight: 1}]}"))
            .find("split[0].weight") != std::string::npos);
  CHECK(errorOf(withRoute("{split: [{pool: stable, weight: 1}, {pool: stable, weight: 1}]}"))
            .find("twice") != std::string::npos);
  CHECK(errorOf(withRoute("{split: [{pool: stable}, {pool: canary, weight: 1}]}"))
            .find("missing required key 'weight'") != std::string::npos);
  CHECK(errorOf(withRoute("{split: [{pool: stable, weight: 1}]}")).find("at least two") !=
        std::string::npos);
  CHECK(errorOf(withRoute("{pool: stable, split_key: ip}")).find("only with split") !=
        std::string::npos);
  CHECK(errorOf(withRoute("{split: [{pool: stable, weight: 1}, {pool: canary, weight: 1}], "
                          "split_key: \"bogus\"}"))
            .find("split_key") != std::string::npos);
}

TEST_CASE("proxy_protocol and real_ip: top level, per-listener override, checks") {
  Config c = load(withRoute("{pool: stable}", "real_ip: {trusted: [10.0.0.0/8, \"::1\"]}\n",
                            "    proxy_protocol: true\n"));
  CHECK(c.listeners[0].proxyProtocol);
  REQUIRE(c.listeners[0].realIp.has_value());
  CHECK(c.listeners[0].realIp->header == "X-Forwarded-For");
  CHECK(c.listeners[0].realIp->trusted == std::vector<std::string>{"10.0.0.0/8", "::1"});

  c = load(withRoute("{pool: stable}", "real_ip: {trusted: [10.0.0.0/8]}\n",
                     "    real_ip: {header: X-Real-IP, trusted: [192.0.2.0/24]}\n"));
  CHECK(c.listeners[0].realIp->header == "X-Real-IP");
  CHECK(c.listeners[0].realIp->trusted == std::vector<std::string>{"192.0.2.0/24"});
  CHECK_FALSE(load(withRoute("{pool: stable}")).listeners[0].realIp.has_value());
  CHECK_FALSE(load(withRoute("{pool: stable}")).listeners[0].proxyProtocol);

  CHECK(errorOf(withRoute("{pool: stable}", "real_ip: {trusted: [10.0.0.0/33]}\n"))
            .find("real_ip.trusted[0]") != std::string::npos);
  CHECK(errorOf(withRoute("{pool: stable}", "real_ip: {header: X-Forwarded-For}\n"))
            .find("missing required key 'trusted'") != std::string::npos);
  CHECK(errorOf(withRoute("{pool: stable}", "real_ip: {trusted: []}\n")).find("at least one") !=
        std::string::npos);
  CHECK(errorOf(withRoute("{pool: stable}", "real_ip: {header: \"a b\", trusted: [::1]}\n"))
            .find("header name") != std::string::npos);
  CHECK(errorOf(withRoute("{pool: stable}", "", "    proxy_protocol: yes please\n"))
            .find("proxy_protocol") != std::string::npos);
}

}  // namespace sy::config
