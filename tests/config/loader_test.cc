#include "switchyard/config/loader.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "../tls_util.h"

namespace sy::config {
namespace {

using std::chrono::milliseconds;

// A small valid config; tests append sections to it or write their own.
constexpr const char* kMinimal = R"(listeners:
  - listen: 127.0.0.1:0
    routes: [{pool: web}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
)";

Config load(const std::string& yaml) {
  auto config = loadConfigString(yaml, "t.yaml");
  if (!config) FAIL("unexpected error: " << config.error().format());
  return std::move(*config);
}

// The formatted error for `yaml`, which must not load.
std::string errorOf(const std::string& yaml) {
  auto config = loadConfigString(yaml, "t.yaml");
  REQUIRE_FALSE(config.has_value());
  return config.error().format();
}

// The repository's config/ directory, wherever the test runs from.
std::filesystem::path configDir() {
  std::vector<std::filesystem::path> candidates = {
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "config",
      "config", "../config", "../../config"};
  if (const char* root = std::getenv("MESON_SOURCE_ROOT")) {
    candidates.insert(candidates.begin(), std::filesystem::path(root) / "config");
  }
  for (const auto& dir : candidates) {
    if (std::filesystem::exists(dir / "switchyard.yaml")) return dir;
  }
  FAIL("cannot find config/switchyard.yaml from " << std::filesystem::current_path());
  return {};
}

TEST_CASE("ConfigError::format leaves out unknown parts") {
  CHECK(ConfigError{"c.yaml", 12, 17, "pools[1].backends[0].weight", "must be > 0"}.format() ==
        "c.yaml:12:17: pools[1].backends[0].weight: must be > 0");
  CHECK(ConfigError{"c.yaml", 3, 0, "", "bad"}.format() == "c.yaml:3: bad");
  CHECK(ConfigError{"c.yaml", 0, 0, "workers", "bad"}.format() == "c.yaml: workers: bad");
  CHECK(ConfigError{"", 0, 0, "", "bad"}.format() == "bad");
}

TEST_CASE("the shipped config files load") {
  std::filesystem::path dir = configDir();

  auto demo = loadConfigFile((dir / "switchyard.yaml").string());
  REQUIRE_MESSAGE(demo.has_value(), demo.error().format());
  CHECK(demo->workers == 0);
  CHECK(demo->admin.listen.text == "127.0.0.1:9901");
  REQUIRE(demo->listeners.size() == 1);
  CHECK(demo->listeners[0].name == "public");
  CHECK(demo->listeners[0].listen.text == "0.0.0.0:8080");
  REQUIRE(demo->listeners[0].routes.size() == 1);
  CHECK(demo->listeners[0].routes[0].match.pathPrefix == "/");
  CHECK(demo->listeners[0].routes[0].pool == "web");
  REQUIRE(demo->pools.size() == 1);
  CHECK(demo->pools[0].policy == PolicyKind::kRoundRobin);
  REQUIRE(demo->pools[0].backends.size() == 3);
  CHECK(demo->pools[0].backends[2].name == "web3");
  CHECK(demo->pools[0].backends[2].address.port == 9003);

  auto example = loadConfigFile((dir / "switchyard.example.yaml").string());
  REQUIRE_MESSAGE(example.has_value(), example.error().format());
  CHECK(example->sourcePath == (dir / "switchyard.example.yaml").string());
  CHECK(example->pools.size() == 4);
  CHECK(example->findPool("grpc")->discovery.srv ==
        "_grpc._tcp.grpc-headless.default.svc.cluster.local");
  CHECK(example->regions.size() == 2);
  CHECK(example->findPool("api")->backends[2].location.has_value());
}

TEST_CASE("loadConfigFile: unreadable file") {
  auto config = loadConfigFile("/nonexistent/switchyard.yaml");
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().format() ==
        "/nonexistent/switchyard.yaml: cannot read file: No such file or directory");
}

TEST_CASE("defaults of a minimal config") {
  Config c = load(kMinimal);
  CHECK(c.sourcePath == "t.yaml");
  CHECK(c.workers == 0);
  CHECK(c.admin.listen.text == "127.0.0.1:9901");
  CHECK(c.admin.listen.port == 9901);
  CHECK(c.admin.listen.addr.ss_family == AF_INET);
  CHECK_FALSE(c.admin.tokenFile.has_value());
  CHECK(c.accessLog.path == "stdout");
  CHECK(c.accessLog.format == "json");
  CHECK(c.timeouts.clientHeader == 10s);
  CHECK(c.timeouts.clientBody == 60s);
  CHECK(c.timeouts.clientIdle == 60s);
  CHECK(c.timeouts.upstreamConnect == 3s);
  CHECK(c.timeouts.upstreamResponse == 30s);
  CHECK(c.timeouts.upstreamIdle == 60s);
  CHECK(c.timeouts.tunnelIdle == 1h);
  CHECK(c.timeouts.shutdown == 30s);
  CHECK(c.limits.maxConnections == 10000);
  CHECK(c.limits.maxHeaderBytes == 32 * 1024);
  CHECK(c.limits.maxHeaders == 100);
  CHECK(c.limits.maxBodyBytes == 100ull * 1024 * 1024);
  CHECK(c.regions.empty());
  CHECK(c.geo.trustedProxies == std::vector<std::string>{"127.0.0.0/8", "::1"});
  CHECK(c.geo.clientHeader == "X-Client-Region");
  CHECK(c.geo.networks.empty());
  CHECK_FALSE(c.geo.database.has_value());
  CHECK_FALSE(c.geo.defaultRegion.has_value());

  REQUIRE(c.listeners.size() == 1);
  const Listener& l = c.listeners[0];
  CHECK(l.name == "listener0");
  CHECK(l.listen.port == 0);
  CHECK_FALSE(l.tls.has_value());
  CHECK(l.mark.line == 2);
  CHECK(l.mark.column == 5);
  REQUIRE(l.routes.size() == 1);
  CHECK(l.routes[0].match.host.empty());
  CHECK(l.routes[0].match.pathPrefix.empty());
  CHECK(l.routes[0].pool == "web");
  CHECK(l.timeouts.clientHeader == 10s);

  REQUIRE(c.pools.size() == 1);
  const Pool& p = c.pools[0];
  CHECK(p.name == "web");
  CHECK(p.policy == PolicyKind::kRoundRobin);
  CHECK_FALSE(p.healthCheck.has_value());
  CHECK_FALSE(p.outlierDetection.has_value());
  CHECK(p.slowStart == 0s);
  CHECK(p.panicThreshold == doctest::Approx(0.5));
  CHECK(p.retries.attempts == 2);
  CHECK(p.retries.on == kRetryConnectFailure);
  CHECK(p.geoOverprovisioning == doctest::Approx(1.4));
  CHECK(p.hashKey.kind == HashKey::Kind::kClientIp);
  CHECK(p.hashKey.name.empty());
  CHECK(p.timeouts.upstreamConnect == 3s);
  REQUIRE(p.backends.size() == 1);
  const Backend& b = p.backends[0];
  CHECK(b.name == "127.0.0.1:9001");
  CHECK(b.address.port == 9001);
  CHECK(b.weight == 1);
  CHECK(b.region.empty());
  CHECK(b.zone.empty());
  CHECK_FALSE(b.location.has_value());
  CHECK(b.mark.line == 6);
}

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

TEST_CASE("null values take the default") {
  Config c = load(std::string(kMinimal) + R"(
workers:
admin: {listen: ~, token_file: null}
access_log:
timeouts: {client_header: null}
geo: {trusted_proxies: ~, default_region: null}
)");
  CHECK(c.workers == 0);
  CHECK(c.admin.listen.text == "127.0.0.1:9901");
  CHECK(c.timeouts.clientHeader == 10s);
  CHECK(c.geo.trustedProxies == std::vector<std::string>{"127.0.0.0/8", "::1"});
}

TEST_CASE("value forms") {
  SUBCASE("workers") {
    CHECK(load(std::string(kMinimal) + "workers: auto\n").workers == 0);
    CHECK(load(std::string(kMinimal) + "workers: 1\n").workers == 1);
    CHECK(load(std::string(kMinimal) + "workers: 256\n").workers == 256);
  }
  SUBCASE("max_ejection_percent: percent, fraction or Envoy-style number") {
    auto percent = [](const std::string& value) {
      Config c = load(R"(
listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
    outlier_detection: {max_ejection_percent: )" +
                      value + "}\n");
      return c.pools[0].outlierDetection->maxEjectionPercent;
    };
    CHECK(percent("50") == doctest::Approx(0.5));
    CHECK(percent("100") == doctest::Approx(1.0));
    CHECK(percent("\"30%\"") == doctest::Approx(0.3));
    CHECK(percent("0.1") == doctest::Approx(0.1));
    CHECK(percent("0") == 0);
  }
  SUBCASE("sizes may be YAML integers") {
    Config c = load(std::string(kMinimal) + "limits: {max_header_bytes: 2048}\n");
    CHECK(c.limits.maxHeaderBytes == 2048);
  }
  SUBCASE("slow_start may be 0") {
    Config c = load(R"(
listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools: [{name: web, slow_start: 0, backends: [{address: 127.0.0.1:9001}]}]
)");
    CHECK(c.pools[0].slowStart == 0s);
  }
  SUBCASE("listeners on the same port 0 do not collide") {
    Config c = load(R"(
listeners:
  - {listen: 127.0.0.1:0, routes: [{pool: web}]}
  - {listen: 127.0.0.1:0, routes: [{pool: web}]}
pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
)");
    CHECK(c.listeners[1].name == "listener1");
  }
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

TEST_CASE("bad values") {
  // The canonical example from CONFIG.md.
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
  - name: api
    backends:
      - name: api1
        address: 127.0.0.1:9002
        weight: 0
)") == "t.yaml:9:17: pools[1].backends[0].weight: must be > 0");

  // Small helpers: `pool` goes into the only pool, `top` is appended to the minimal config.
  auto poolError = [](const std::string& pool) {
    return errorOf(
        "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
        "pools:\n"
        "  - name: web\n"
        "    backends: [{address: 127.0.0.1:9001}]\n" +
        pool);
  };
  auto topError = [](const std::string& top) { return errorOf(std::string(kMinimal) + top); };

  CHECK(poolError("    policy: random\n") ==
        "t.yaml:5:13: pools[0].policy: must be one of: round_robin, least_conn, geo_weighted, "
        "p2c, hash");
  CHECK(poolError("    slow_start: 5\n") ==
        "t.yaml:5:17: pools[0].slow_start: needs a unit: ms, s, m or h (e.g. 5s)");
  CHECK(poolError("    panic_threshold: 150%\n") ==
        "t.yaml:5:22: pools[0].panic_threshold: must be at most 100%");
  CHECK(poolError("    panic_threshold: 2\n") ==
        "t.yaml:5:22: pools[0].panic_threshold: must be between 0 and 1, or a percentage like "
        "50%");
  CHECK(poolError("    health_check: {type: udp}\n") ==
        "t.yaml:5:26: pools[0].health_check.type: must be one of: http, tcp, grpc");
  CHECK(poolError("    health_check: {interval: 0}\n") ==
        "t.yaml:5:30: pools[0].health_check.interval: must be > 0");
  CHECK(poolError("    health_check: {path: healthz}\n") ==
        "t.yaml:5:26: pools[0].health_check.path: must start with '/'");
  CHECK(poolError("    health_check: {healthy_threshold: 0}\n") ==
        "t.yaml:5:39: pools[0].health_check.healthy_threshold: must be > 0");
  CHECK(poolError("    health_check: {expected_statuses: [200, \"600\"]}\n") ==
        "t.yaml:5:45: pools[0].health_check.expected_statuses[1]: must be a status code like 204 "
        "or a range like \"200-399\", within 100-599");
  CHECK(poolError("    health_check: {expected_statuses: [\"399-200\"]}\n") ==
        "t.yaml:5:40: pools[0].health_check.expected_statuses[0]: must be a status code like 204 "
        "or a range like \"200-399\", within 100-599");
  CHECK(poolError("    health_check: {expected_statuses: []}\n") ==
        "t.yaml:5:39: pools[0].health_check.expected_statuses: must list at least one status or "
        "range");
  CHECK(poolError("    outlier_detection: {max_ejection_percent: 150}\n") ==
        "t.yaml:5:47: pools[0].outlier_detection.max_ejection_percent: must be at most 100%");
  CHECK(poolError("    outlier_detection: {base_ejection_time: 10m, max_ejection_time: 5m}\n") ==
        "t.yaml:5:69: pools[0].outlier_detection.max_ejection_time: max_ejection_time (5m) must "
        "be >= base_ejection_time (10m)");
  CHECK(poolError("    retries: {on: [connect_failure, slow]}\n") ==
        "t.yaml:5:37: pools[0].retries.on[1]: must be one of: connect_failure, reset, timeout, "
        "429, 500, 502, 503, 504, 5xx, unavailable");
  CHECK(poolError("    retries: {attempts: -1}\n") ==
        "t.yaml:5:25: pools[0].retries.attempts: must be between 0 and 15");
  CHECK(poolError("    geo: {overprovisioning: 0.5}\n") ==
        "t.yaml:5:29: pools[0].geo.overprovisioning: must be >= 1");

  auto backendError = [](const std::string& backend) {
    return errorOf(
        "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
        "pools:\n"
        "  - name: web\n"
        "    backends:\n"
        "      - " +
        backend + "\n");
  };
  CHECK(backendError("{address: 127.0.0.1:9001, weight: 10001}") ==
        "t.yaml:5:43: pools[0].backends[0].weight: must be between 1 and 10000");
  CHECK(backendError("{address: 127.0.0.1:9001, weight: 99999999999999999999}") ==
        "t.yaml:5:43: pools[0].backends[0].weight: must be between 1 and 10000");
  CHECK(backendError("{address: 127.0.0.1:9001, weight: -3}") ==
        "t.yaml:5:43: pools[0].backends[0].weight: must be > 0");
  CHECK(backendError("{address: 127.0.0.1:0}") ==
        "t.yaml:5:19: pools[0].backends[0].address: port must be > 0");
  CHECK(backendError("{address: 127.0.0.1}") ==
        "t.yaml:5:19: pools[0].backends[0].address: must be host:port, e.g. 127.0.0.1:8080 or "
        "[::1]:8080");
  CHECK(backendError("{address: 127.0.0.1:9001, name: web 1}") ==
        "t.yaml:5:41: pools[0].backends[0].name: must be 1-64 characters from A-Z a-z 0-9 . _ - :");
  CHECK(backendError("{address: 127.0.0.1:9001, location: {lat: 91, lon: 0}}") ==
        "t.yaml:5:51: pools[0].backends[0].location.lat: must be between -90 and 90");

  CHECK(topError("workers: 0\n") ==
        "t.yaml:7:10: workers: must be auto or a number between 1 "
        "and 256");
  CHECK(topError("workers: 300\n") ==
        "t.yaml:7:10: workers: must be auto or a number between 1 "
        "and 256");
  CHECK(topError("workers: many\n") ==
        "t.yaml:7:10: workers: must be auto or a number between 1 "
        "and 256");
  CHECK(topError("access_log: {format: text}\n") ==
        "t.yaml:7:22: access_log.format: must be one of: json, combined");
  CHECK(topError("access_log: {path: \"\"}\n") ==
        "t.yaml:7:20: access_log.path: must be stdout, stderr, off or a file path");
  CHECK(topError("limits: {max_header_bytes: 512}\n") ==
        "t.yaml:7:28: limits.max_header_bytes: must be between 1KiB and 1MiB");
  CHECK(topError("limits: {max_header_bytes: 2MiB}\n") ==
        "t.yaml:7:28: limits.max_header_bytes: must be between 1KiB and 1MiB");
  CHECK(topError("limits: {max_connections: 0}\n") ==
        "t.yaml:7:27: limits.max_connections: must be > 0");
  CHECK(topError("limits: {max_body_bytes: 10XB}\n") ==
        "t.yaml:7:26: limits.max_body_bytes: unknown unit 'XB' (use B, KiB, MiB, GiB, KB, MB or "
        "GB)");
  CHECK(topError("timeouts: {upstream_connect: 0}\n") ==
        "t.yaml:7:30: timeouts.upstream_connect: must be > 0");
  CHECK(topError("admin: {listen: localhost}\n") ==
        "t.yaml:7:17: admin.listen: must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
  CHECK(topError("admin: {listen: 0.0.0.0:9901}\n") ==
        "t.yaml:7:17: admin.listen: 0.0.0.0:9901 is reachable from other hosts: set "
        "admin.token_file (every POST then needs the token) or listen on a loopback address "
        "such as 127.0.0.1:9901");
  CHECK(topError("admin: {listen: \"[::]:9901\"}\n").find("admin.listen: [::]:9901 is reachable") !=
        std::string::npos);
  CHECK(topError("admin: {listen: 10.1.2.3:9901}\n").find("t.yaml:7:17:") == 0);
  for (const char* ok : {"admin: {listen: 0.0.0.0:9901, token_file: /run/secrets/t}\n",
                         "admin: {listen: 127.0.0.2:9901}\n", "admin: {listen: \"[::1]:9901\"}\n",
                         "admin: {listen: \"[::ffff:127.0.0.1]:9901\"}\n"})
    CHECK(loadConfigString(std::string(kMinimal) + ok, "t.yaml").has_value());
  CHECK(topError("geo: {trusted_proxies: [10.0.0.1/8]}\n") ==
        "t.yaml:7:25: geo.trusted_proxies[0]: has host bits set; did you mean 10.0.0.0/8?");
  CHECK(topError("geo: {client_header: \"X Region\"}\n") ==
        "t.yaml:7:22: geo.client_header: must be an HTTP header name like X-Client-Region (\"\" "
        "disables it)");
}

TEST_CASE("listener values") {
  sy::testing::CertDir certs;
  auto listenerError = [](const std::string& listener) {
    return errorOf(
        "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n"
        "listeners:\n"
        "  - listen: 127.0.0.1:0\n" +
        listener);
  };
  CHECK(listenerError("    routes: [{pool: web, match: {path_prefix: api}}]\n") ==
        "t.yaml:4:47: listeners[0].routes[0].match.path_prefix: must start with '/' and contain "
        "no spaces, '?' or '#'");
  CHECK(listenerError("    routes: [{pool: web, match: {path_prefix: /a}, rewrite_prefix: b}]\n") ==
        "t.yaml:4:68: listeners[0].routes[0].rewrite_prefix: must start with '/' and contain "
        "no spaces, '?' or '#'");
  CHECK(listenerError("    routes: [{pool: web, rewrite_prefix: /b}]\n") ==
        "t.yaml:4:42: listeners[0].routes[0].rewrite_prefix: needs match.path_prefix (the part "
        "of the path it replaces)");
  CHECK(listenerError("    routes: [{pool: web, request_headers: {set: {Content-Length: 1}}}]\n") ==
        "t.yaml:4:50: listeners[0].routes[0].request_headers.set.Content-Length: Content-Length is "
        "managed by the proxy (framing or hop-by-hop) and cannot be set or removed");
  CHECK(listenerError("    routes: [{pool: web, request_headers: {remove: [Host]}}]\n") ==
        "t.yaml:4:53: listeners[0].routes[0].request_headers.remove[0]: Host cannot be removed "
        "(set it instead)");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: {X-A: 1, x-a: 2}}}]\n") ==
        "t.yaml:4:59: listeners[0].routes[0].response_headers.set.x-a: duplicate header name");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: {X-A: 1}, remove: [X-A]}}]\n") ==
        "t.yaml:4:69: listeners[0].routes[0].response_headers.remove[0]: header already set or "
        "removed by this route");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: {\"X A\": 1}}}]\n") ==
        "t.yaml:4:51: listeners[0].routes[0].response_headers.set.X A: must be an HTTP header name "
        "like X-Env");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: {X-A: \"a\\nb\"}}}]\n") ==
        "t.yaml:4:56: listeners[0].routes[0].response_headers.set.X-A: header values cannot "
        "contain control characters (CR, LF, NUL...)");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: [X-A]}}]\n") ==
        "t.yaml:4:50: listeners[0].routes[0].response_headers.set: must be a map of header name "
        "-> value");
  CHECK(listenerError("    routes: [{pool: web, match: {host: \"a b.com\"}}]\n") ==
        "t.yaml:4:40: listeners[0].routes[0].match.host: must be a host name like "
        "api.example.com or *.example.com (no port)");
  CHECK(listenerError("    routes: [{pool: web, match: {host: \"api.*.com\"}}]\n") ==
        "t.yaml:4:40: listeners[0].routes[0].match.host: must be a host name like "
        "api.example.com or *.example.com (no port)");
  CHECK(listenerError("    routes: [{pool: web, match: {host: \"example.com:80\"}}]\n") ==
        "t.yaml:4:40: listeners[0].routes[0].match.host: must be a host name like "
        "api.example.com or *.example.com (no port)");
  CHECK(listenerError("    routes: []\n") ==
        "t.yaml:4:13: listeners[0].routes: must have at least one route");
  CHECK(listenerError("    routes: [{pool: web}]\n    tls: {certificates: []}\n") ==
        "t.yaml:5:25: listeners[0].tls.certificates: must have at least one certificate");
  CHECK(listenerError("    routes: [{pool: web}]\n    tls: {certificates: [{cert: a.crt}]}\n") ==
        "t.yaml:5:26: listeners[0].tls.certificates[0]: missing required key 'key'");
  CHECK(listenerError("    routes: [{pool: web}]\n"
                      "    tls: {certificates: [{cert: a.crt, key: a.key}], min_version: 1.1}\n") ==
        "t.yaml:5:67: listeners[0].tls.min_version: must be \"1.2\" or \"1.3\"");
  CHECK(listenerError("    routes: [{pool: web}]\n    timeouts: {client_idle: 1x}\n") ==
        "t.yaml:5:29: listeners[0].timeouts.client_idle: unknown unit 'x' (use ms, s, m or h)");
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

TEST_CASE("errors from a file name the file") {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / "switchyard_loader_test.yaml";
  {
    std::ofstream out(path);
    out << kMinimal << "limits:\n  max_headers: 0\n";
  }
  auto config = loadConfigFile(path.string());
  std::filesystem::remove(path);
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().file == path.string());
  CHECK(config.error().line == 8);
  CHECK(config.error().column == 16);
  CHECK(config.error().keyPath == "limits.max_headers");
  CHECK(config.error().message == "must be > 0");
}

TEST_CASE("watch: boolean, default off") {
  auto off = loadConfigString(std::string(kMinimal), "t.yaml");
  REQUIRE(off.has_value());
  CHECK_FALSE(off->watch);
  auto on = loadConfigString(std::string(kMinimal) + "watch: true\n", "t.yaml");
  REQUIRE(on.has_value());
  CHECK(on->watch);
  CHECK(errorOf(std::string(kMinimal) + "watch: maybe\n") == "t.yaml:7:8: watch: must be true or false");
}

}  // namespace
}  // namespace sy::config

namespace sy::config {
namespace {

TEST_CASE("tls files are checked at load time, with the certificate entry's position") {
  sy::testing::CertDir certs;
  auto listener = [](const std::string& tls) {
    return "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n"
           "listeners:\n"
           "  - listen: 127.0.0.1:0\n"
           "    routes: [{pool: web}]\n"
           "    tls:\n"
           "      certificates:\n"
           "        - {cert: a.crt, key: a.key}\n" +
           tls;
  };
  CHECK(load(listener("")).listeners[0].tls->certificates.size() == 1);
  CHECK(errorOf(listener("        - {cert: missing.crt, key: a.key}\n")) ==
        "t.yaml:8:11: listeners[0].tls.certificates[1]: cannot read missing.crt: No such file or "
        "directory");
  CHECK(errorOf(listener("        - {cert: a.crt, key: b.key}\n")) ==
        "t.yaml:8:11: listeners[0].tls.certificates[1]: the key in b.key does not match the "
        "certificate in a.crt");
  std::ofstream("junk.pem") << "not a certificate\n";
  CHECK(errorOf(listener("        - {cert: junk.pem, key: a.key}\n")) ==
        "t.yaml:8:11: listeners[0].tls.certificates[1]: junk.pem: not a PEM certificate");
  CHECK(errorOf(listener("        - {cert: a.crt, key: junk.pem}\n")) ==
        "t.yaml:8:11: listeners[0].tls.certificates[1]: junk.pem: not a PEM private key "
        "(encrypted keys are not supported)");
  CHECK(errorOf(listener("    redirect_https: 443\n")) ==
        "t.yaml:8:21: listeners[0].redirect_https: only for plain HTTP listeners (this one has "
        "tls:)");
}

TEST_CASE("redirect_https and pools[].tls") {
  sy::testing::CertDir certs;
  Config c = load(R"(listeners:
  - listen: 127.0.0.1:0
    redirect_https: 8443
    routes: [{pool: web}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
    tls: {ca: a.crt, sni: a.test, cert: b.crt, key: b.key}
  - name: plain
    backends: [{address: 127.0.0.1:9002}]
    tls: {enabled: false}
  - name: insecure
    backends: [{address: 127.0.0.1:9003}]
    tls: {verify: false}
)");
  CHECK(c.listeners[0].redirectHttps == 8443);
  REQUIRE(c.pools[0].tls.has_value());
  CHECK(c.pools[0].tls->ca == "a.crt");
  CHECK(c.pools[0].tls->sni == "a.test");
  CHECK(c.pools[0].tls->verify);
  CHECK(c.pools[0].tls->cert == "b.crt");
  CHECK_FALSE(c.pools[1].tls.has_value());
  REQUIRE(c.pools[2].tls.has_value());
  CHECK_FALSE(c.pools[2].tls->verify);
  CHECK(c.pools[2].tls->ca.empty());

  auto poolError = [](const std::string& tls) {
    return errorOf("listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
                   "pools:\n"
                   "  - name: web\n"
                   "    backends: [{address: 127.0.0.1:9001}]\n"
                   "    tls: " + tls + "\n");
  };
  CHECK(poolError("{ca: nope.pem}") ==
        "t.yaml:5:15: pools[0].tls.ca: cannot read nope.pem: No such file or directory");
  CHECK(poolError("{cert: a.crt}") ==
        "t.yaml:5:10: pools[0].tls: cert and key go together: give both or neither");
  CHECK(poolError("{cert: a.crt, key: b.key}") ==
        "t.yaml:5:17: pools[0].tls.cert: the key in b.key does not match the certificate in a.crt");
  CHECK(poolError("{verify: maybe}").starts_with("t.yaml:5:19: pools[0].tls.verify:"));
}

}  // namespace
}  // namespace sy::config
