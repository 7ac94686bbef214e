// Values the loader parses once into typed form (policy, health check type, TLS min_version,
// hash_key), so nothing parses them again at use; the YAML spellings and messages stay.
#include <doctest/doctest.h>

#include <string>

#include "../tls_util.h"
#include "switchyard/config/loader.h"

namespace sy::config {
namespace {

constexpr const char* kListener = "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n";

// The pool `web` with `extra` (indented pool keys) appended.
Pool poolWith(const std::string& extra) {
  auto c = loadConfigString(std::string(kListener) +
                                "regions: {eu: {lat: 1, lon: 2}}\n"
                                "pools:\n"
                                "  - name: web\n"
                                "    backends: [{address: 127.0.0.1:9001, region: eu}]\n" +
                                extra,
                            "t.yaml");
  REQUIRE_MESSAGE(c.has_value(), c.error().format());
  return c->pools.at(0);
}

std::string poolError(const std::string& extra) {
  auto c = loadConfigString(std::string(kListener) +
                                "pools:\n"
                                "  - name: web\n"
                                "    backends: [{address: 127.0.0.1:9001}]\n" +
                                extra,
                            "t.yaml");
  REQUIRE_FALSE(c.has_value());
  return c.error().format();
}

TEST_CASE("io_uring: off, auto or on") {
  const std::string pools = "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n";
  auto mode = [&](const std::string& line) {
    auto c = loadConfigString(line + kListener + pools, "t.yaml");
    REQUIRE_MESSAGE(c.has_value(), c.error().format());
    return c->ioUring;
  };
  CHECK(mode("") == IoUring::kOff);
  CHECK(mode("io_uring: off\n") == IoUring::kOff);
  CHECK(mode("io_uring: auto\n") == IoUring::kAuto);
  CHECK(mode("io_uring: on\n") == IoUring::kOn);
  auto bad = loadConfigString(std::string(kListener) + pools + "io_uring: yes please\n", "t.yaml");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().format() == "t.yaml:3:11: io_uring: must be off, auto or on");
}

}  // namespace

TEST_CASE("policy names load as policy kinds") {
  CHECK(poolWith("").policy == PolicyKind::kRoundRobin);
  CHECK(poolWith("    policy: round_robin\n").policy == PolicyKind::kRoundRobin);
  CHECK(poolWith("    policy: least_conn\n").policy == PolicyKind::kLeastConn);
  CHECK(poolWith("    policy: geo_weighted\n").policy == PolicyKind::kGeoWeighted);
  CHECK(poolWith("    policy: p2c\n").policy == PolicyKind::kP2c);
  CHECK(poolWith("    policy: hash\n").policy == PolicyKind::kHash);
  // Names are exact: no case folding, no aliases.
  CHECK(poolError("    policy: Round_Robin\n") ==
        "t.yaml:5:13: pools[0].policy: must be one of: round_robin, least_conn, geo_weighted, "
        "p2c, hash");
  CHECK(poolError("    policy: \"\"\n") ==
        "t.yaml:5:13: pools[0].policy: must be one of: round_robin, least_conn, geo_weighted, "
        "p2c, hash");
}

TEST_CASE("health_check.type loads as a HealthCheckType") {
  CHECK(poolWith("    health_check: {}\n").healthCheck->type == HealthCheckType::kHttp);
  CHECK(poolWith("    health_check: {type: http}\n").healthCheck->type == HealthCheckType::kHttp);
  CHECK(poolWith("    health_check: {type: tcp}\n").healthCheck->type == HealthCheckType::kTcp);
  CHECK(poolError("    health_check: {type: TCP}\n") ==
        "t.yaml:5:26: pools[0].health_check.type: must be one of: http, tcp, grpc");
  CHECK(std::string(healthCheckTypeName(HealthCheckType::kHttp)) == "http");
  CHECK(std::string(healthCheckTypeName(HealthCheckType::kTcp)) == "tcp");
}

TEST_CASE("hash_key loads as a parsed HashKey") {
  const Pool none = poolWith("    policy: hash\n");
  CHECK(none.hashKey.kind == HashKey::Kind::kClientIp);
  CHECK(poolWith("    hash_key: ip\n").hashKey.kind == HashKey::Kind::kClientIp);
  CHECK(poolWith("    hash_key: \"\"\n").hashKey.kind == HashKey::Kind::kClientIp);
  CHECK(poolWith("    hash_key: path\n").hashKey.kind == HashKey::Kind::kPath);
  const HashKey header = poolWith("    hash_key: header:X-Tenant\n").hashKey;
  CHECK(header.kind == HashKey::Kind::kHeader);
  CHECK(header.name == "X-Tenant");
  const HashKey cookie = poolWith("    hash_key: cookie:sid\n").hashKey;
  CHECK(cookie.kind == HashKey::Kind::kCookie);
  CHECK(cookie.name == "sid");
  CHECK(poolError("    hash_key: query:q\n") ==
        "t.yaml:5:15: pools[0].hash_key: must be \"\" or ip (the client IP), header:NAME, "
        "cookie:NAME or path");
}

TEST_CASE("listeners[].tls.min_version loads as a TlsVersion") {
  sy::testing::CertDir certs;  // a.crt / a.key in the current directory
  auto listenerTls = [](const std::string& tls) {
    const std::string yaml =
        "listeners:\n"
        "  - listen: 127.0.0.1:0\n"
        "    routes: [{pool: web}]\n"
        "    tls: {certificates: [{cert: a.crt, key: a.key}]" +
        tls +
        "}\n"
        "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n";
    return loadConfigString(yaml, "t.yaml");
  };
  auto byDefault = listenerTls("");
  REQUIRE_MESSAGE(byDefault.has_value(), byDefault.error().format());
  CHECK(byDefault->listeners[0].tls->minVersion == TlsVersion::kTls12);
  auto v12 = listenerTls(", min_version: \"1.2\"");
  REQUIRE_MESSAGE(v12.has_value(), v12.error().format());
  CHECK(v12->listeners[0].tls->minVersion == TlsVersion::kTls12);
  auto v13 = listenerTls(", min_version: 1.3");  // a YAML number reads the same
  REQUIRE_MESSAGE(v13.has_value(), v13.error().format());
  CHECK(v13->listeners[0].tls->minVersion == TlsVersion::kTls13);
  auto bad = listenerTls(", min_version: \"1.0\"");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().format() ==
        "t.yaml:4:67: listeners[0].tls.min_version: must be \"1.2\" or \"1.3\"");
}

}  // namespace sy::config
