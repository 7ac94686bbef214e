// Config cross-checks for the balancing policies and geo resolution.
#include <doctest/doctest.h>

#include "switchyard/config/loader.h"
#include "switchyard/config/units.h"

namespace sy::config {
namespace {

std::string errorOf(const std::string& yaml) {
  auto config = loadConfigString(yaml, "t.yaml");
  REQUIRE_FALSE(config.has_value());
  return config.error().format();
}

constexpr const char* kListener = "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n";

}  // namespace

TEST_CASE("parseHashKey") {
  CHECK(parseHashKey("")->kind == HashKey::Kind::kClientIp);
  CHECK(parseHashKey("ip")->kind == HashKey::Kind::kClientIp);
  CHECK(parseHashKey("path")->kind == HashKey::Kind::kPath);
  auto h = parseHashKey("header:X-User-Id");
  REQUIRE(h.has_value());
  CHECK(h->kind == HashKey::Kind::kHeader);
  CHECK(h->name == "X-User-Id");
  auto c = parseHashKey("cookie:session_id");
  REQUIRE(c.has_value());
  CHECK(c->kind == HashKey::Kind::kCookie);
  CHECK(c->name == "session_id");
  CHECK(parseHashKey("header:").error() ==
        "'header:' must be followed by a header name (letters, digits and !#$%&'*+-.^_`|~)");
  CHECK_FALSE(parseHashKey("cookie:a b").has_value());
  CHECK(parseHashKey("client_ip").error() ==
        "must be \"\" or ip (the client IP), header:NAME, cookie:NAME or path");
}

TEST_CASE("hash_key is validated where it is written") {
  CHECK(errorOf(std::string(kListener) + R"(pools:
  - name: web
    policy: hash
    hash_key: "header: X"
    backends: [{address: 127.0.0.1:9001}]
)") == "t.yaml:5:15: pools[0].hash_key: 'header:' must be followed by a header name (letters, "
       "digits and !#$%&'*+-.^_`|~)");
  auto ok = loadConfigString(std::string(kListener) + R"(pools:
  - name: web
    policy: hash
    hash_key: cookie:sid
    backends: [{address: 127.0.0.1:9001}]
)",
                             "t.yaml");
  REQUIRE(ok.has_value());
  CHECK(ok->pools[0].hashKey.kind == HashKey::Kind::kCookie);
  CHECK(ok->pools[0].hashKey.name == "sid");
}

TEST_CASE("a geo_weighted backend needs a region or a location") {
  const std::string regions = "regions: {eu-west: {lat: 53.35, lon: -6.26}}\n";
  CHECK(errorOf(std::string(kListener) + regions + R"(pools:
  - name: web
    policy: geo_weighted
    backends:
      - {name: a, address: 127.0.0.1:9001, region: eu-west}
      - {name: b, address: 127.0.0.1:9002, zone: z1}
)") == "t.yaml:8:9: pools[0].backends[1]: pool 'web' uses policy geo_weighted: give this "
       "backend a region (region: NAME) or coordinates (location: {lat, lon})");
  // The policy key may come after the backends.
  CHECK(errorOf(std::string(kListener) + regions + R"(pools:
  - name: web
    backends:
      - {name: b, address: 127.0.0.1:9002}
    policy: geo_weighted
)") == "t.yaml:6:9: pools[0].backends[0]: pool 'web' uses policy geo_weighted: give this "
       "backend a region (region: NAME) or coordinates (location: {lat, lon})");
  // Other policies do not need places.
  CHECK(loadConfigString(std::string(kListener) + R"(pools:
  - name: web
    policy: least_conn
    backends: [{address: 127.0.0.1:9001}]
)",
                         "t.yaml")
            .has_value());
}

TEST_CASE("geo.networks may not list one network twice") {
  CHECK(errorOf(std::string(kListener) +
                R"(pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
regions: {eu-west: {lat: 53.35, lon: -6.26}, us-east: {lat: 38.95, lon: -77.45}}
geo:
  networks:
    - {cidr: 10.1.0.0/16, region: eu-west}
    - {cidr: 10.2.0.0/16, region: eu-west}
    - {cidr: 10.1.0.0/16, region: us-east}
)") == "t.yaml:8:14: geo.networks[2].cidr: network 10.1.0.0/16 is listed twice (also "
       "networks[0])");
}

TEST_CASE("geo.database position is recorded for later errors") {
  auto c = loadConfigString(std::string(kListener) +
                                "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n"
                                "geo:\n  database: /var/lib/x.mmdb\n",
                            "t.yaml");
  REQUIRE(c.has_value());
  CHECK(c->geo.databaseMark.line == 4);
  CHECK(c->geo.databaseMark.column == 13);
}

}  // namespace sy::config
