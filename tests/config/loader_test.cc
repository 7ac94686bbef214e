// The config loader: errors' format, the shipped config files, reading a file, the defaults of a
// minimal config, null values and value forms, watch:. The other loader_*_test.cc files hold
// every key read, the structural errors and the bad values.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "loader_util.h"

namespace sy::config {
namespace {

using namespace test;

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
