// The config loader's structural errors, each with file:line:column: YAML syntax, the document's
// shape, unknown and duplicate keys, wrong types, missing required keys, references to pools and
// regions, duplicate names and addresses.
#include <doctest/doctest.h>

#include "loader_util.h"

namespace sy::config {
namespace {

using namespace test;

TEST_CASE("YAML syntax errors give line and column") {
  CHECK(errorOf("listeners:\n  - listen: 127.0.0.1:8080\n     routes: x\n") ==
        "t.yaml:3:12: invalid YAML: illegal map value");
  CHECK(errorOf("pools: [\n") == "t.yaml:2:1: invalid YAML: end of sequence flow not found");
}

TEST_CASE("document shape errors") {
  CHECK(errorOf("") == "t.yaml: config is empty; it needs at least listeners and pools");
  CHECK(errorOf("# only a comment\n") ==
        "t.yaml: config is empty; it needs at least listeners and pools");
  CHECK(errorOf("- a\n- b\n") == "t.yaml:1:1: the top level must be a map of settings");
  CHECK(errorOf("workers: 2\n") == "t.yaml:1:1: missing required key 'listeners'");
  CHECK(errorOf("listeners: []\n") == "t.yaml:1:1: missing required key 'pools'");
  CHECK(errorOf("listeners: []\npools: [{name: web, backends: [{address: 127.0.0.1:1}]}]\n") ==
        "t.yaml:1:12: listeners: must have at least one listener");
  CHECK(errorOf("listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\npools: []\n") ==
        "t.yaml:2:8: pools: must have at least one pool");
}

TEST_CASE("unknown keys") {
  CHECK(errorOf(std::string(kMinimal) + "listners: []\n") ==
        "t.yaml:7:1: listners: unknown key (expected one of: workers, io_uring, watch, admin, "
        "access_log, timeouts, limits, listeners, pools, regions, geo, rate_limits, redis, "
        "real_ip)");
  CHECK(errorOf(R"(listeners:
  - listen: 127.0.0.1:8443
    tls:
      certificates: [{cert: a.crt, key: a.key}]
      min_versoin: "1.3"
    routes: [{pool: web}]
pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
)") == "t.yaml:5:7: listeners[0].tls.min_versoin: unknown key (expected one of: certificates, "
       "min_version)");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends:
      - {address: 127.0.0.1:9001, wieght: 2}
)") == "t.yaml:5:35: pools[0].backends[0].wieght: unknown key (expected one of: name, address, "
       "weight, region, zone, location, resolve, max_requests)");
  CHECK(errorOf(std::string(kMinimal) + "timeouts: {client_headers: 5s}\n") ==
        "t.yaml:7:12: timeouts.client_headers: unknown key (expected one of: client_header, "
        "client_body, client_idle, client_send, upstream_connect, upstream_response, upstream_idle, "
        "tunnel_idle, shutdown, request)");
}

TEST_CASE("duplicate YAML keys") {
  CHECK(errorOf(std::string(kMinimal) + "workers: 2\nworkers: 3\n") ==
        "t.yaml:8:1: workers: duplicate key");
  CHECK(errorOf(std::string(kMinimal) +
                "regions:\n  eu: {lat: 1, lon: 2}\n  eu: {lat: 1, lon: 2}\n") ==
        "t.yaml:9:3: regions.eu: duplicate key");
}

TEST_CASE("wrong types") {
  CHECK(errorOf(std::string(kMinimal) + "timeouts: 5s\n") ==
        "t.yaml:7:11: timeouts: must be a map");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends: {address: 127.0.0.1:9001}
)") == "t.yaml:4:15: pools[0].backends: must be a list");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001, weight: heavy}]
)") == "t.yaml:4:50: pools[0].backends[0].weight: must be an integer");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: [web]
    backends: [{address: 127.0.0.1:9001}]
)") == "t.yaml:3:11: pools[0].name: must be a string");
  CHECK(errorOf(std::string(kMinimal) + "limits: {max_connections: 1.5}\n") ==
        "t.yaml:7:27: limits.max_connections: must be an integer");
  CHECK(errorOf(std::string(kMinimal) + "regions: {eu: {lat: north, lon: 1}}\n") ==
        "t.yaml:7:21: regions.eu.lat: must be a number");
  CHECK(errorOf(std::string(kMinimal) + "regions: [eu]\n") ==
        "t.yaml:7:10: regions: must be a map of region name -> {lat, lon}");
  CHECK(errorOf(std::string(kMinimal) + "timeouts: {shutdown: [1s]}\n") ==
        "t.yaml:7:22: timeouts.shutdown: must be a duration like 250ms, 5s, 2m or 1h");
}

TEST_CASE("missing required keys point at the enclosing map") {
  CHECK(errorOf(R"(pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
listeners:
  - name: public
    routes: [{pool: web}]
)") == "t.yaml:3:5: listeners[0]: missing required key 'listen'");
  CHECK(errorOf(R"(pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
listeners:
  - listen: 127.0.0.1:0
)") == "t.yaml:3:5: listeners[0]: missing required key 'routes'");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - policy: least_conn
    backends: [{address: 127.0.0.1:9001}]
)") == "t.yaml:3:5: pools[0]: missing required key 'name'");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
)") == "t.yaml:3:5: pools[0]: missing required key 'backends'");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends:
      - {name: web1, weight: 2}
)") == "t.yaml:5:9: pools[0].backends[0]: missing required key 'address'");
  CHECK(errorOf(R"(pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
listeners:
  - listen: 127.0.0.1:0
    routes:
      - match: {path_prefix: /}
)") == "t.yaml:5:9: listeners[0].routes[0]: missing required key 'pool'");
  CHECK(errorOf(std::string(kMinimal) + "regions: {eu: {lat: 1}}\n") ==
        "t.yaml:7:15: regions.eu: missing required key 'lon'");
  CHECK(errorOf(std::string(kMinimal) + "geo: {networks: [{cidr: 10.0.0.0/8}]}\n") ==
        "t.yaml:7:18: geo.networks[0]: missing required key 'region'");
}

TEST_CASE("references") {
  CHECK(errorOf(R"(pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
  - name: api
    backends: [{address: 127.0.0.1:9002}]
listeners:
  - listen: 127.0.0.1:0
    routes:
      - pool: web
      - pool: apii
)") == "t.yaml:10:15: listeners[0].routes[1].pool: unknown pool 'apii' (pools: web, api)");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001, region: mars}]
regions:
  eu-west: {lat: 53.35, lon: -6.26}
)") == "t.yaml:4:50: pools[0].backends[0].region: unknown region 'mars' (regions: eu-west)");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001, region: mars}]
)") == "t.yaml:4:50: pools[0].backends[0].region: unknown region 'mars' (no regions are defined "
       "under `regions:`)");
  CHECK(errorOf(std::string(kMinimal) + "geo: {networks: [{cidr: 10.0.0.0/8, region: eu}]}\n") ==
        "t.yaml:7:45: geo.networks[0].region: unknown region 'eu' (no regions are defined under "
        "`regions:`)");
  CHECK(errorOf(std::string(kMinimal) +
                "regions: {eu: {lat: 1, lon: 2}}\ngeo: {default_region: us}\n") ==
        "t.yaml:8:23: geo.default_region: unknown region 'us' (regions: eu)");
}

TEST_CASE("duplicate names and addresses") {
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
  - name: web
    backends: [{address: 127.0.0.1:9002}]
)") == "t.yaml:5:11: pools[1].name: duplicate pool name 'web' (also pools[0])");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends:
      - {name: b1, address: 127.0.0.1:9001}
      - {name: b1, address: 127.0.0.1:9002}
)") == "t.yaml:6:16: pools[0].backends[1].name: duplicate backend name 'b1' in pool 'web' (also "
       "backends[0])");
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends:
      - {address: 127.0.0.1:9001}
      - {address: 127.0.0.1:9001}
)") == "t.yaml:6:9: pools[0].backends[1]: duplicate backend name '127.0.0.1:9001' in pool 'web' "
       "(also backends[0]); a backend's name defaults to its address, so give each backend a "
       "distinct name");
  // The same backend name in two pools is fine.
  CHECK(load(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: a}]}]
pools:
  - {name: a, backends: [{name: b1, address: 127.0.0.1:9001}]}
  - {name: b, backends: [{name: b1, address: 127.0.0.1:9001}]}
)")
            .pools.size() == 2);
  CHECK(errorOf(R"(pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
listeners:
  - {name: public, listen: 127.0.0.1:8080, routes: [{pool: web}]}
  - {name: public, listen: 127.0.0.1:8081, routes: [{pool: web}]}
)") == "t.yaml:4:12: listeners[1].name: duplicate listener name 'public' (also listeners[0])");
  CHECK(errorOf(R"(pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
listeners:
  - {listen: 127.0.0.1:8080, routes: [{pool: web}]}
  - {name: listener0, listen: 127.0.0.1:8081, routes: [{pool: web}]}
)") == "t.yaml:4:12: listeners[1].name: duplicate listener name 'listener0' (also listeners[0])");
  CHECK(errorOf(R"(pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
listeners:
  - {name: a, listen: 127.0.0.1:8080, routes: [{pool: web}]}
  - {name: b, listen: "127.0.0.1:8080", routes: [{pool: web}]}
)") == "t.yaml:4:23: listeners[1].listen: address 127.0.0.1:8080 is already used by listener "
       "'a'");
  CHECK(errorOf(R"(pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
listeners:
  - {listen: 127.0.0.1:9901, routes: [{pool: web}]}
)") == "t.yaml:3:14: listeners[0].listen: address 127.0.0.1:9901 is already used by "
       "admin.listen");
}

}  // namespace
}  // namespace sy::config
