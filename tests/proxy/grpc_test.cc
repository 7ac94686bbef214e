// gRPC helpers of the proxy's local answers: content-type detection, grpc-timeout parsing, the
// HTTP/reason -> grpc-status mapping and grpc-message encoding.
#include <doctest/doctest.h>

#include <string>

#include "switchyard/http/forward.h"
#include "switchyard/proxy/grpc.h"

namespace sy::proxy {

TEST_CASE("grpc content types") {
  CHECK(isGrpcContentType("application/grpc"));
  CHECK(isGrpcContentType("application/grpc+proto"));
  CHECK(isGrpcContentType("Application/GRPC+json"));
  CHECK(isGrpcContentType("application/grpc; charset=utf-8"));
  CHECK_FALSE(isGrpcContentType("application/grpc-web"));
  CHECK_FALSE(isGrpcContentType("application/grpcx"));
  CHECK_FALSE(isGrpcContentType("application/json"));
  CHECK_FALSE(isGrpcContentType("application/grp"));
  CHECK_FALSE(isGrpcContentType(""));
}

TEST_CASE("grpc-timeout: every unit, rounded up to milliseconds") {
  CHECK(parseGrpcTimeoutMs("1H") == 3'600'000u);
  CHECK(parseGrpcTimeoutMs("2M") == 120'000u);
  CHECK(parseGrpcTimeoutMs("3S") == 3000u);
  CHECK(parseGrpcTimeoutMs("200m") == 200u);
  CHECK(parseGrpcTimeoutMs("1500u") == 2u);
  CHECK(parseGrpcTimeoutMs("1000u") == 1u);
  CHECK(parseGrpcTimeoutMs("1n") == 1u);
  CHECK(parseGrpcTimeoutMs("0m") == 0u);
  CHECK(parseGrpcTimeoutMs("99999999H") == 99'999'999ull * 3'600'000ull);
  CHECK(parseGrpcTimeoutMs("00000005S") == 5000u);
}

TEST_CASE("grpc-timeout: malformed values are ignored") {
  for (const char* bad : {"", "m", "5", "5s", "5 m", " 5m", "5m ", "-5m", "+5m", "123456789m",
                          "5x", "1.5S", "5mm", "0x5m"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseGrpcTimeoutMs(bad).has_value());
  }
}

TEST_CASE("HTTP status -> grpc-status (gRPC's http-grpc-status-mapping)") {
  CHECK(grpcStatusOfHttp(400) == 13);
  CHECK(grpcStatusOfHttp(401) == 16);
  CHECK(grpcStatusOfHttp(403) == 7);
  CHECK(grpcStatusOfHttp(404) == 12);
  CHECK(grpcStatusOfHttp(429) == 14);
  CHECK(grpcStatusOfHttp(502) == 14);
  CHECK(grpcStatusOfHttp(503) == 14);
  CHECK(grpcStatusOfHttp(504) == 14);
  CHECK(grpcStatusOfHttp(500) == 2);
  CHECK(grpcStatusOfHttp(413) == 2);
  CHECK(grpcStatusOfHttp(308) == 2);
}

TEST_CASE("local answer reasons -> grpc-status") {
  using metrics::LocalReason;
  CHECK(grpcStatusOf(404, LocalReason::kNoRoute) == 12);
  CHECK(grpcStatusOf(503, LocalReason::kNoBackend) == 14);
  CHECK(grpcStatusOf(502, LocalReason::kConnectFailed) == 14);
  CHECK(grpcStatusOf(503, LocalReason::kOverflow) == 14);
  CHECK(grpcStatusOf(504, LocalReason::kUpstreamTimeout) == 4);
  CHECK(grpcStatusOf(429, LocalReason::kRateLimited) == 8);
  CHECK(grpcStatusOf(502, LocalReason::kUpstreamClosed) == 14);
  CHECK(grpcStatusOf(502, LocalReason::kBadResponse) == 14);
  CHECK(grpcStatusOf(400, LocalReason::kBadRequest) == 13);
  CHECK(grpcStatusOf(413, LocalReason::kPayloadTooLarge) == 2);
  CHECK(grpcStatusOf(403, LocalReason::kFaultInjected) == 7);
  CHECK(grpcStatusOf(500, LocalReason::kInternalError) == 2);
}

TEST_CASE("grpc-message is percent-encoded and bounded") {
  char out[64];
  auto enc = [&](std::string_view in, size_t cap = sizeof out) {
    return std::string(out, encodeGrpcMessage(in, out, cap));
  };
  CHECK(enc("no route for this request\n") == "no route for this request");
  CHECK(enc("100% sure") == "100%25 sure");
  CHECK(enc("caf\xc3\xa9") == "caf%C3%A9");
  CHECK(enc("a\tb") == "a%09b");
  CHECK(enc("") == "");
  CHECK(enc("abcdef", 4) == "abcd");
  CHECK(enc("ab%", 4) == "ab");  // an escape is never cut in half
}

TEST_CASE("grpc-status text") {
  char buf[4];
  CHECK(grpcStatusText(0, buf) == "0");
  CHECK(grpcStatusText(14, buf) == "14");
}

TEST_CASE("GrpcCall reads content-type and grpc-timeout") {
  GrpcCall c;
  http::Field f[] = {{"Content-Type", "application/grpc"}, {"grpc-timeout", "250m"}};
  c.note(http::FieldsView(f, 2));
  CHECK(c.grpc);
  CHECK(c.hasTimeout);
  CHECK(c.timeoutMs == 250u);
  http::Field bad[] = {{"content-type", "application/grpc"}, {"grpc-timeout", "250"}};
  c.note(http::FieldsView(bad, 2));
  CHECK(c.grpc);
  CHECK_FALSE(c.hasTimeout);
  http::Field plain[] = {{"content-type", "text/plain"}, {"grpc-timeout", "1S"}};
  c.note(http::FieldsView(plain, 2));
  CHECK_FALSE(c.grpc);
  CHECK_FALSE(c.hasTimeout);  // only a gRPC call has a grpc-timeout
}

TEST_CASE("grpc-status of a backend's head or trailers") {
  http::Field ok[] = {{"content-type", "application/grpc"}, {"grpc-status", "0"}};
  CHECK(grpcStatusOfFields(http::FieldsView(ok, 2)) == 0);
  http::Field nf[] = {{"Grpc-Status", "5"}, {"grpc-message", "no such thing"}};
  CHECK(grpcStatusOfFields(http::FieldsView(nf, 2)) == 5);
  http::Field last[] = {{"grpc-status", "16"}};
  CHECK(grpcStatusOfFields(http::FieldsView(last, 1)) == 16);
  http::Field none[] = {{"content-type", "application/grpc"}};
  CHECK(grpcStatusOfFields(http::FieldsView(none, 1)) == -1);
  CHECK(grpcStatusOfFields(http::FieldsView()) == -1);
  for (const char* v : {"17", "99", "-1", "", "1x", "014", "abc"}) {
    http::Field bad[] = {{"grpc-status", v}};
    CHECK_MESSAGE(grpcStatusOfFields(http::FieldsView(bad, 1)) == kGrpcUnknown, v);
  }
}

TEST_CASE("the grpc-status a call is counted under") {
  CHECK(grpcResponseStatus(0, 200) == 0);
  CHECK(grpcResponseStatus(14, 200) == 14);
  CHECK(grpcResponseStatus(-1, 200) == kGrpcUnknown);   // a 200 that ended without one
  CHECK(grpcResponseStatus(-1, 503) == kGrpcUnavailable);
  CHECK(grpcResponseStatus(-1, 404) == kGrpcUnimplemented);
  CHECK(grpcResponseStatus(-1, 500) == kGrpcUnknown);
}

TEST_CASE("HTTP/1.1 gRPC answer: 200 with grpc-status headers and no body") {
  char out[512];
  size_t n = http::writeGrpcLocalResponse(14, "no backend", false, out, sizeof out, "rid-1", 3);
  std::string s(out, n);
  CHECK(s.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nGrpc-Status: 14\r\n"
                      "Grpc-Message: no backend\r\nContent-Length: 0\r\n"));
  CHECK(s.find("X-Request-Id: rid-1\r\n") != std::string::npos);
  CHECK(s.find("Retry-After: 3\r\n") != std::string::npos);
  CHECK(s.ends_with("\r\n\r\n"));
  CHECK(http::writeGrpcLocalResponse(14, "x", false, out, 20) == 0);  // overflow
}

}  // namespace sy::proxy
