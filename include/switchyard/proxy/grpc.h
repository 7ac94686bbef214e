#pragma once
// gRPC over the proxy's own answers: which requests are gRPC calls, the client's grpc-timeout,
// and the grpc-status a local answer carries. A gRPC client cannot read an HTML or text body:
// the proxy answers it with HTTP 200 "trailers-only" (the status in the one header block) and
// `grpc-status`/`grpc-message` (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
// and doc/http-grpc-status-mapping.md). Pure functions and a small per-request record: any
// thread; GrpcCall belongs to its request (worker thread).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "switchyard/http/request_head.h"
#include "switchyard/metrics/local_responses.h"

namespace sy::proxy {

// gRPC status codes the proxy answers with (the full set is 0..16).
enum GrpcStatus : uint8_t {
  kGrpcUnknown = 2,
  kGrpcDeadlineExceeded = 4,
  kGrpcPermissionDenied = 7,
  kGrpcResourceExhausted = 8,
  kGrpcUnimplemented = 12,
  kGrpcInternal = 13,
  kGrpcUnavailable = 14,
  kGrpcUnauthenticated = 16,
};

// `content-type` of a gRPC call: "application/grpc" alone or followed by "+proto", ";..." etc.
// (case-insensitive, as gRPC's own servers compare it).
bool isGrpcContentType(std::string_view value);

// A `grpc-timeout` value ("TimeoutValue TimeoutUnit": 1 to 8 ASCII digits, then one of
// H M S m u n) in milliseconds, rounded up (a 1n timeout still waits 1 ms). nullopt when
// malformed: gRPC says to ignore such a value (no deadline).
std::optional<uint64_t> parseGrpcTimeoutMs(std::string_view value);

// The gRPC status for an HTTP status, per gRPC's http-grpc-status-mapping (400 INTERNAL,
// 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE,
// anything else UNKNOWN).
uint8_t grpcStatusOfHttp(int httpStatus);
// The gRPC status of a local answer: the reason decides where gRPC has a better word than the
// HTTP mapping (no route: UNIMPLEMENTED; no backend, connect failure, overflow: UNAVAILABLE;
// timeouts: DEADLINE_EXCEEDED; rate limited: RESOURCE_EXHAUSTED), else grpcStatusOfHttp.
uint8_t grpcStatusOf(int httpStatus, metrics::LocalReason reason);

// `text` as a grpc-message value: percent-encoded (bytes outside 0x20..0x7E and '%'), a
// trailing newline dropped, cut to fit `cap` (never in the middle of an escape). Returns the
// length written to `out`.
size_t encodeGrpcMessage(std::string_view text, char* out, size_t cap);

// Textual grpc-status ("0".."16") for a status below 100.
std::string_view grpcStatusText(uint8_t status, char (&buf)[4]);

// The `grpc-status` among a response's fields (its head or its trailers): 0..16, 2 UNKNOWN for
// a value that is not one of them (as gRPC clients read it), -1 when there is none.
int grpcStatusOfFields(const http::FieldsView& fields);
// The grpc-status a client ends a call with, given what the backend sent: `grpcStatus` (from
// grpcStatusOfFields; -1 = none) or, without one, gRPC's mapping of the HTTP status
// (grpcStatusOfHttp: a 200 without grpc-status is 2 UNKNOWN). Always 0..16.
uint8_t grpcResponseStatus(int grpcStatus, int httpStatus);

// What a request's head says about gRPC (filled by note() before the request is routed).
struct GrpcCall {
  bool grpc = false;       // content-type application/grpc...
  uint64_t timeoutMs = 0;  // a valid grpc-timeout (0 = none)
  bool hasTimeout = false;
  bool clientDeadline = false;  // the request's deadline is this grpc-timeout (not timeouts.request)

  void reset() { *this = GrpcCall{}; }
  // Reads content-type and grpc-timeout from the request's fields.
  void note(const http::FieldsView& fields);
};

}  // namespace sy::proxy
