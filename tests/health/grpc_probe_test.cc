// health_check.type: grpc: the hand-encoded grpc.health.v1 messages and the loader's keys. The
// probe itself talks to real grpcio servers in integration/test_grpc_health.py.
#include "switchyard/health/grpc_probe.h"

#include <doctest/doctest.h>

#include <string>

#include "switchyard/config/dump.h"
#include "switchyard/config/loader.h"

using sy::health::decodeHealthCheckResponse;
using sy::health::encodeHealthCheckRequest;
using sy::health::servingStatusName;

namespace {

std::string frame(const std::string& msg) {
  std::string out(1, '\0');
  const auto n = static_cast<uint32_t>(msg.size());
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((n >> s) & 0xff));
  return out + msg;
}

sy::config::Config loadOk(const std::string& hc) {
  auto c = sy::config::loadConfigString(
      "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
      "pools:\n"
      "  - name: web\n"
      "    backends: [{address: 127.0.0.1:9001}]\n"
      "    health_check: {" + hc + "}\n",
      "t.yaml");
  REQUIRE(c.has_value());
  return *c;
}

std::string loadError(const std::string& hc) {
  auto c = sy::config::loadConfigString(
      "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
      "pools:\n"
      "  - name: web\n"
      "    backends: [{address: 127.0.0.1:9001}]\n"
      "    health_check: {" + hc + "}\n",
      "t.yaml");
  REQUIRE_FALSE(c.has_value());
  return c.error().format();
}

}  // namespace

TEST_CASE("HealthCheckRequest encoding") {
  CHECK(encodeHealthCheckRequest("") == std::string("\0\0\0\0\0", 5));
  CHECK(encodeHealthCheckRequest("pkg.Svc") == frame(std::string("\x0a\x07pkg.Svc")));
  const std::string longName(200, 'x');  // a two-byte varint length
  CHECK(encodeHealthCheckRequest(longName) == frame(std::string("\x0a\xc8\x01") + longName));
}

TEST_CASE("HealthCheckResponse decoding") {
  CHECK(decodeHealthCheckResponse(frame("\x08\x01")) == 1);
  CHECK(decodeHealthCheckResponse(frame("\x08\x02")) == 2);
  CHECK(decodeHealthCheckResponse(frame("\x08\x03")) == 3);
  CHECK(decodeHealthCheckResponse(frame("")) == 0);  // proto3 default: UNKNOWN
  // Unknown fields of every wire type are skipped, the last status wins.
  CHECK(decodeHealthCheckResponse(frame(std::string("\x10\x05\x1a\x02hi\x08\x02\x21") +
                                        std::string(8, 'z') + std::string("\x2d\0\0\0\0", 5) +
                                        "\x08\x01")) == 1);
  // Malformed: short prefix, compressed, length mismatch, truncated varint or field, bad wire
  // type, field number 0.
  CHECK_FALSE(decodeHealthCheckResponse(std::string("\0\0\0", 3)).has_value());
  CHECK_FALSE(decodeHealthCheckResponse(std::string("\x01\0\0\0\x02\x08\x01", 7)).has_value());
  CHECK_FALSE(decodeHealthCheckResponse(std::string("\0\0\0\0\x03\x08\x01", 7)).has_value());
  CHECK_FALSE(decodeHealthCheckResponse(frame("\x08")).has_value());
  CHECK_FALSE(decodeHealthCheckResponse(frame("\x08\x81")).has_value());
  CHECK_FALSE(decodeHealthCheckResponse(frame("\x1a\x05hi")).has_value());
  CHECK_FALSE(decodeHealthCheckResponse(frame("\x0b\x01")).has_value());
  CHECK_FALSE(decodeHealthCheckResponse(frame(std::string("\x00\x01", 2))).has_value());
}

TEST_CASE("serving status names") {
  CHECK(servingStatusName(1) == "SERVING");
  CHECK(servingStatusName(2) == "NOT_SERVING");
  CHECK(servingStatusName(3) == "SERVICE_UNKNOWN");
  CHECK(servingStatusName(0) == "UNKNOWN");
  CHECK(servingStatusName(9) == "status 9");
}

TEST_CASE("health_check type grpc and service") {
  auto c = loadOk("type: grpc, service: pkg.Svc");
  CHECK(c.pools.at(0).healthCheck->type == sy::config::HealthCheckType::kGrpc);
  CHECK(c.pools.at(0).healthCheck->service == "pkg.Svc");
  CHECK(loadOk("type: grpc").pools.at(0).healthCheck->service.empty());
  CHECK(loadError("type: http, service: pkg.Svc") ==
        "t.yaml:5:41: pools[0].health_check.service: has no effect unless type is grpc (the "
        "grpc.health.v1 service to ask about)");
  CHECK(loadError("service: x").starts_with("t.yaml:5:29: pools[0].health_check.service:"));
  CHECK(loadError("type: grcp") ==
        "t.yaml:5:26: pools[0].health_check.type: must be one of: http, tcp, grpc");
}
