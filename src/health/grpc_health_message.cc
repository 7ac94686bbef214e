// grpc.health.v1 HealthCheckRequest / HealthCheckResponse, hand-encoded (grpc_health_message.h).
#include "switchyard/health/grpc_health_message.h"

#include <cstdint>

namespace sy::health {
namespace {

void putVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool readVarint(std::string_view& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const auto b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

}  // namespace

std::string encodeHealthCheckRequest(std::string_view service) {
  std::string msg;
  if (!service.empty()) {  // proto3: an empty string is not sent
    msg.push_back(0x0a);  // field 1, length-delimited
    putVarint(msg, service.size());
    msg.append(service);
  }
  std::string out;
  out.reserve(5 + msg.size());
  out.push_back(0);  // not compressed
  const auto n = static_cast<uint32_t>(msg.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(msg);
  return out;
}

std::optional<int> decodeHealthCheckResponse(std::string_view body) {
  if (body.size() < 5 || body[0] != 0) return std::nullopt;
  uint32_t n = 0;
  for (int i = 1; i < 5; ++i) n = (n << 8) | static_cast<uint8_t>(body[i]);
  if (body.size() - 5 != n) return std::nullopt;
  std::string_view in = body.substr(5);
  int status = 0;
  while (!in.empty()) {
    uint64_t key = 0;
    if (!readVarint(in, key) || key >> 3 == 0) return std::nullopt;
    uint64_t v = 0;
    switch (key & 7) {
      case 0:
        if (!readVarint(in, v)) return std::nullopt;
        if (key >> 3 == 1) status = static_cast<int>(static_cast<int32_t>(v));
        break;
      case 1:
        if (in.size() < 8) return std::nullopt;
        in.remove_prefix(8);
        break;
      case 2:
        if (!readVarint(in, v) || v > in.size()) return std::nullopt;
        in.remove_prefix(static_cast<size_t>(v));
        break;
      case 5:
        if (in.size() < 4) return std::nullopt;
        in.remove_prefix(4);
        break;
      default:
        return std::nullopt;
    }
  }
  return status;
}

std::string servingStatusName(int status) {
  switch (status) {
    case 0: return "UNKNOWN";
    case 1: return "SERVING";
    case 2: return "NOT_SERVING";
    case 3: return "SERVICE_UNKNOWN";
    default: return "status " + std::to_string(status);
  }
}

}  // namespace sy::health
