#pragma once
// The grpc.health.v1 messages of `health_check.type: grpc` (grpc_probe.h), hand-encoded: the
// protobuf is two one-field messages, not worth a code generator. Pure functions, any thread.

#include <optional>
#include <string>
#include <string_view>

namespace sy::health {

// HealthCheckRequest { string service = 1; },
// HealthCheckResponse { ServingStatus status = 1; }.
enum class ServingStatus : int { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };
// The request as one gRPC message: the 5-byte prefix (uncompressed, length) and the protobuf.
std::string encodeHealthCheckRequest(std::string_view service);
// The status of a HealthCheckResponse given as gRPC message bytes (prefix included; exactly one
// message). nullopt when malformed or compressed. A response without the field is UNKNOWN (0),
// as proto3 reads it; unknown fields are skipped.
std::optional<int> decodeHealthCheckResponse(std::string_view body);
// "SERVING", "NOT_SERVING"... for messages.
std::string servingStatusName(int status);

}  // namespace sy::health
