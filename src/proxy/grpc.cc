// gRPC helpers for the proxy's local answers and deadlines (grpc.h).
#include "switchyard/proxy/grpc.h"

#include <charconv>

#include "switchyard/common/ascii.h"

namespace sy::proxy {

bool isGrpcContentType(std::string_view v) {
  constexpr std::string_view kType = "application/grpc";
  if (v.size() < kType.size()) return false;
  for (size_t i = 0; i < kType.size(); ++i)
    if (common::toLowerAscii(v[i]) != kType[i]) return false;
  if (v.size() == kType.size()) return true;
  const char next = v[kType.size()];
  return next == '+' || next == ';' || next == ' ' || next == '\t';
}

std::optional<uint64_t> parseGrpcTimeoutMs(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  uint64_t n = 0;
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(v[i] - '0');
  }
  auto ceilDiv = [](uint64_t a, uint64_t b) { return a / b + (a % b != 0); };
  switch (v.back()) {
    case 'H': return n * 3'600'000;  // at most 99999999 h: fits in 64 bits
    case 'M': return n * 60'000;
    case 'S': return n * 1000;
    case 'm': return n;
    case 'u': return ceilDiv(n, 1000);
    case 'n': return ceilDiv(n, 1'000'000);
    default: return std::nullopt;
  }
}

uint8_t grpcStatusOfHttp(int s) {
  switch (s) {
    case 400: return kGrpcInternal;
    case 401: return kGrpcUnauthenticated;
    case 403: return kGrpcPermissionDenied;
    case 404: return kGrpcUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504: return kGrpcUnavailable;
    default: return kGrpcUnknown;
  }
}

uint8_t grpcStatusOf(int httpStatus, metrics::LocalReason reason) {
  using metrics::LocalReason;
  switch (reason) {
    case LocalReason::kNoRoute: return kGrpcUnimplemented;
    case LocalReason::kNoBackend:
    case LocalReason::kConnectFailed:
    case LocalReason::kOverflow: return kGrpcUnavailable;
    case LocalReason::kUpstreamTimeout: return kGrpcDeadlineExceeded;
    case LocalReason::kRateLimited: return kGrpcResourceExhausted;
    default: return grpcStatusOfHttp(httpStatus);
  }
}

size_t encodeGrpcMessage(std::string_view text, char* out, size_t cap) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  constexpr char kHex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      if (n + 1 > cap) break;
      out[n++] = ch;
    } else {
      if (n + 3 > cap) break;
      out[n++] = '%';
      out[n++] = kHex[c >> 4];
      out[n++] = kHex[c & 15];
    }
  }
  return n;
}

std::string_view grpcStatusText(uint8_t status, char (&buf)[4]) {
  auto* end = std::to_chars(buf, buf + sizeof buf, static_cast<unsigned>(status)).ptr;
  return {buf, static_cast<size_t>(end - buf)};
}

int grpcStatusOfFields(const http::FieldsView& f) {
  for (uint32_t i = 0; i < f.size(); ++i) {
    std::string_view n = f.name(i);
    if (n.size() != 11 || !http::equalsIgnoreCase(n, "grpc-status")) continue;
    std::string_view v = f.value(i);
    unsigned code = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), code);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size() || v.empty() || v.size() > 2 ||
        code > 16)
      return kGrpcUnknown;
    return static_cast<int>(code);
  }
  return -1;
}

uint8_t grpcResponseStatus(int grpcStatus, int httpStatus) {
  if (grpcStatus >= 0 && grpcStatus <= 16) return static_cast<uint8_t>(grpcStatus);
  return grpcStatusOfHttp(httpStatus);
}

void GrpcCall::note(const http::FieldsView& f) {
  reset();
  for (uint32_t i = 0; i < f.size(); ++i) {
    std::string_view n = f.name(i);
    if (n.size() == 12 && http::equalsIgnoreCase(n, "content-type")) {
      grpc = isGrpcContentType(f.value(i));
    } else if (n.size() == 12 && http::equalsIgnoreCase(n, "grpc-timeout")) {
      if (std::optional<uint64_t> ms = parseGrpcTimeoutMs(f.value(i))) {
        timeoutMs = *ms;
        hasTimeout = true;
      }
    }
  }
  if (!grpc) hasTimeout = false;  // grpc-timeout means something only on a gRPC call
}

}  // namespace sy::proxy
