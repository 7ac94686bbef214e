// The config loader reads every key, listener and pool timeouts override the global ones, and
// YAML anchors and merge keys work.
#include <doctest/doctest.h>

#include "../tls_util.h"
#include "loader_util.h"

namespace sy::config {
namespace {

using namespace test;

TEST_CASE("every key is read") {
  sy::testing::CertDir certs;  // a.crt, b.crt, ... in the current directory
  Config c = load(R"(
workers: 4
admin: {listen: "[::1]:9902", token_file: /etc/switchyard/token}
access_log: {path: /var/log/switchyard.log, format: combined}
timeouts:
  client_header: 1s
  client_body: 2s
  client_idle: 3s
  upstream_connect: 4s
  upstream_response: 5s
  upstream_idle: 6s
  tunnel_idle: 90m
  shutdown: 7s
limits: {max_connections: 5, max_header_bytes: 8KiB, max_headers: 50, max_body_bytes: 0}
listeners:
  - name: edge
    listen: 127.0.0.1:0
    tls:
      certificates:
        - {cert: a.crt, key: a.key}
        - {cert: b.crt, key: b.key}
      min_version: 1.3
    routes:
      - match: {host: API.Example.com, path_prefix: /v1/}
        pool: api
        rewrite_prefix: /
        request_headers: {set: {Host: api.internal, X-Env: prod}, remove: [Cookie]}
        response_headers: {remove: [Server, Via]}
      - match: {host: "*.Example.COM"}
        pool: api
      - match: {}
        pool: api
pools:
  - name: api
    policy: geo_weighted
    backends:
      - {name: dub1, address: "127.0.0.1:9001", weight: 7, region: eu-west, zone: a}
      - {address: "127.0.0.2:9002", location: {lat: 1.35, lon: 103.82}}
    health_check:
      type: tcp
      path: /ready
      host: health.internal
      interval: 5s
      timeout: 500ms
      jitter: 0.2
      healthy_threshold: 1
      unhealthy_threshold: 4
      expected_statuses: [204, "300-308"]
    outlier_detection:
      consecutive_failures: 3
      base_ejection_time: 10s
      max_ejection_time: 1m
      max_ejection_percent: 25%
    slow_start: 30s
    panic_threshold: 0.25
    retries: {attempts: 0, on: [reset, 5xx]}
    geo: {overprovisioning: 2}
    hash_key: header:X-User
regions:
  eu-west: {lat: 53.35, lon: -6.26}
geo:
  trusted_proxies: [10.0.0.0/8, "fd00::/8", 192.168.1.1]
  client_header: X-Geo
  networks:
    - {cidr: 10.1.0.0/16, region: eu-west}
  database: /var/lib/GeoLite2-City.mmdb
  default_region: eu-west
)");
  CHECK(c.workers == 4);
  CHECK(c.admin.listen.host == "::1");
  CHECK(c.admin.listen.port == 9902);
  CHECK(c.admin.listen.addr.ss_family == AF_INET6);
  CHECK(c.admin.tokenFile == "/etc/switchyard/token");
  CHECK(c.accessLog.path == "/var/log/switchyard.log");
  CHECK(c.accessLog.format == "combined");
  CHECK(c.timeouts.clientHeader == 1s);
  CHECK(c.timeouts.clientBody == 2s);
  CHECK(c.timeouts.clientIdle == 3s);
  CHECK(c.timeouts.upstreamConnect == 4s);
  CHECK(c.timeouts.upstreamResponse == 5s);
  CHECK(c.timeouts.upstreamIdle == 6s);
  CHECK(c.timeouts.tunnelIdle == 90min);
  CHECK(c.timeouts.shutdown == 7s);
  CHECK(c.limits.maxConnections == 5);
  CHECK(c.limits.maxHeaderBytes == 8192);
  CHECK(c.limits.maxHeaders == 50);
  CHECK(c.limits.maxBodyBytes == 0);

  const Listener& l = c.listeners.at(0);
  CHECK(l.name == "edge");
  REQUIRE(l.tls.has_value());
  CHECK(l.tls->minVersion == TlsVersion::kTls13);
  REQUIRE(l.tls->certificates.size() == 2);
  CHECK(l.tls->certificates[1].cert == "b.crt");
  CHECK(l.tls->certificates[1].key == "b.key");
  REQUIRE(l.routes.size() == 3);
  CHECK(l.routes[0].match.host == "api.example.com");
  CHECK(l.routes[0].match.pathPrefix == "/v1/");
  CHECK(l.routes[0].rewritePrefix == std::optional<std::string>("/"));
  CHECK(l.routes[0].requestHeaders.set ==
        std::vector<std::pair<std::string, std::string>>{{"Host", "api.internal"}, {"X-Env", "prod"}});
  CHECK(l.routes[0].requestHeaders.remove == std::vector<std::string>{"Cookie"});
  CHECK(l.routes[0].responseHeaders.remove == std::vector<std::string>{"Server", "Via"});
  CHECK(l.routes[0].responseHeaders.touches("via"));
  CHECK_FALSE(l.routes[0].responseHeaders.touches("vias"));
  CHECK(l.routes[1].requestHeaders.empty());
  CHECK_FALSE(l.routes[1].rewritePrefix.has_value());
  CHECK(l.routes[1].match.host == "*.example.com");
  CHECK(l.routes[1].match.pathPrefix.empty());
  CHECK(l.routes[2].match.host.empty());
  CHECK(l.timeouts.clientHeader == 1s);

  const Pool& p = c.pools.at(0);
  CHECK(p.policy == PolicyKind::kGeoWeighted);
  REQUIRE(p.backends.size() == 2);
  CHECK(p.backends[0].name == "dub1");
  CHECK(p.backends[0].weight == 7);
  CHECK(p.backends[0].region == "eu-west");
  CHECK(p.backends[0].zone == "a");
  CHECK(p.backends[1].name == "127.0.0.2:9002");
  REQUIRE(p.backends[1].location.has_value());
  CHECK(p.backends[1].location->lat == doctest::Approx(1.35));
  CHECK(p.backends[1].location->lon == doctest::Approx(103.82));
  REQUIRE(p.healthCheck.has_value());
  CHECK(p.healthCheck->type == HealthCheckType::kTcp);
  CHECK(p.healthCheck->path == "/ready");
  CHECK(p.healthCheck->host == "health.internal");
  CHECK(p.healthCheck->interval == 5s);
  CHECK(p.healthCheck->timeout == 500ms);
  CHECK(p.healthCheck->jitter == doctest::Approx(0.2));
  CHECK(p.healthCheck->healthyThreshold == 1);
  CHECK(p.healthCheck->unhealthyThreshold == 4);
  CHECK(p.healthCheck->expectedStatuses ==
        std::vector<std::pair<int, int>>{{204, 204}, {300, 308}});
  REQUIRE(p.outlierDetection.has_value());
  CHECK(p.outlierDetection->consecutiveFailures == 3);
  CHECK(p.outlierDetection->baseEjectionTime == 10s);
  CHECK(p.outlierDetection->maxEjectionTime == 60s);
  CHECK(p.outlierDetection->maxEjectionPercent == doctest::Approx(0.25));
  CHECK(p.slowStart == 30s);
  CHECK(p.panicThreshold == doctest::Approx(0.25));
  CHECK(p.retries.attempts == 0);
  CHECK(p.retries.on == (kRetryReset | kRetry500 | kRetry502 | kRetry503 | kRetry504));
  CHECK(p.geoOverprovisioning == doctest::Approx(2.0));
  CHECK(p.hashKey.kind == HashKey::Kind::kHeader);
  CHECK(p.hashKey.name == "X-User");

  REQUIRE(c.regions.size() == 1);
  CHECK(c.regions.at("eu-west").lat == doctest::Approx(53.35));
  CHECK(c.regions.at("eu-west").lon == doctest::Approx(-6.26));
  CHECK(c.geo.trustedProxies == std::vector<std::string>{"10.0.0.0/8", "fd00::/8", "192.168.1.1"});
  CHECK(c.geo.clientHeader == "X-Geo");
  REQUIRE(c.geo.networks.size() == 1);
  CHECK(c.geo.networks[0].cidr == "10.1.0.0/16");
  CHECK(c.geo.networks[0].region == "eu-west");
  CHECK(c.geo.database == "/var/lib/GeoLite2-City.mmdb");
  CHECK(c.geo.defaultRegion == "eu-west");
}

TEST_CASE("listener and pool timeouts override the global ones") {
  // The global map comes last in the file: overrides still start from it.
  Config c = load(R"(
listeners:
  - name: a
    listen: 127.0.0.1:0
    routes: [{pool: web}]
    timeouts: {client_header: 5s, client_idle: 90s}
  - name: b
    listen: 127.0.0.1:0
    routes: [{pool: web}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
    timeouts: {upstream_connect: 250ms}
  - name: other
    backends: [{address: 127.0.0.1:9002}]
timeouts:
  client_header: 20s
  upstream_connect: 2s
  shutdown: 1m
)");
  CHECK(c.timeouts.clientHeader == 20s);
  CHECK(c.timeouts.shutdown == 60s);
  const ClientTimeouts& a = c.listeners.at(0).timeouts;
  CHECK(a.clientHeader == 5s);
  CHECK(a.clientIdle == 90s);
  CHECK(a.clientBody == 60s);  // built-in default
  const ClientTimeouts& b = c.listeners.at(1).timeouts;
  CHECK(b.clientHeader == 20s);
  CHECK(b.clientIdle == 60s);
  const UpstreamTimeouts& web = c.pools.at(0).timeouts;
  CHECK(web.upstreamConnect == 250ms);
  CHECK(web.upstreamResponse == 30s);  // built-in default
  CHECK(c.pools.at(1).timeouts.upstreamConnect == 2s);  // global
}

TEST_CASE("YAML anchors and merge keys") {
  Config c = load(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    health_check: &hc {interval: 5s, timeout: 2s}
    backends:
      - &b {address: 127.0.0.1:9001, weight: 3, zone: a}
      - <<: *b
        address: 127.0.0.1:9002
        name: two
  - name: api
    health_check: {<<: *hc, timeout: 3s}
    backends: [{<<: [*b], name: api1}]
)");
  const Backend& two = c.pools.at(0).backends.at(1);
  CHECK(two.name == "two");
  CHECK(two.address.port == 9002);
  CHECK(two.weight == 3);
  CHECK(two.zone == "a");
  const Pool& api = c.pools.at(1);
  CHECK(api.healthCheck->interval == 5s);
  CHECK(api.healthCheck->timeout == 3s);
  CHECK(api.backends.at(0).name == "api1");
  CHECK(api.backends.at(0).address.port == 9001);

  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    <<: 5
    backends: [{address: 127.0.0.1:9001}]
)") == "t.yaml:4:9: pools[0].<<: a merge key needs a map or a list of maps");
  // An unknown key in a merged map is reported where it is written, under the merging path.
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
    health_check: {<<: {intervall: 5s}}
)") == "t.yaml:5:25: pools[0].health_check.intervall: unknown key (expected one of: type, path, "
       "host, interval, timeout, jitter, healthy_threshold, unhealthy_threshold, "
       "expected_statuses, service)");
}

}  // namespace
}  // namespace sy::config
