// PROXY protocol v1/v2 parsing (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt).
#include "switchyard/net/proxy_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace sy::net {
namespace {

using Status = ProxyHeader::Status;

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

ProxyHeader invalid(uint8_t version, const char* why) {
  ProxyHeader h;
  h.status = Status::kInvalid;
  h.version = version;
  h.error = why;
  return h;
}

// Splits off the next field of a v1 line: bytes up to one space (or the end of the line).
bool nextField(std::string_view& line, std::string_view& field, bool last) {
  const size_t sp = line.find(' ');
  if (last) {
    if (sp != std::string_view::npos) return false;
    field = line;
    line = {};
  } else {
    if (sp == std::string_view::npos) return false;
    field = line.substr(0, sp);
    line.remove_prefix(sp + 1);
  }
  return !field.empty();
}

// A decimal port 0-65535 without a sign or a leading zero (the spec's form).
bool parsePort(std::string_view s, uint16_t& port) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<uint16_t>(v);
  return true;
}

bool parseAddress(std::string_view s, int family, void* out) {
  char buf[INET6_ADDRSTRLEN];
  if (s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  return inet_pton(family, buf, out) == 1;
}

ProxyHeader parseV1(const char* p, size_t n) {
  const size_t scan = std::min(n, kProxyV1MaxBytes);
  const void* lf = std::memchr(p, '\n', scan);
  if (!lf) {
    if (n >= kProxyV1MaxBytes) return invalid(1, "PROXY v1 line longer than 107 bytes");
    const size_t k = std::min(n, kV1Prefix.size());
    if (std::memcmp(p, kV1Prefix.data(), k) != 0) return invalid(1, "not a PROXY header");
    ProxyHeader h;
    h.version = 1;
    return h;  // kNeedMore
  }
  const size_t lfAt = static_cast<size_t>(static_cast<const char*>(lf) - p);
  if (lfAt == 0 || p[lfAt - 1] != '\r') return invalid(1, "PROXY v1 line must end in CRLF");
  std::string_view line(p, lfAt - 1);
  if (!line.starts_with(kV1Prefix)) return invalid(1, "not a PROXY header");
  line.remove_prefix(kV1Prefix.size());
  ProxyHeader h;
  h.version = 1;
  h.consumed = lfAt + 1;
  if (line.starts_with("UNKNOWN")) {
    // The sender does not know the client (or it is not TCP): the rest of the line is ignored.
    if (line.size() > 7 && line[7] != ' ') return invalid(1, "unknown PROXY v1 protocol");
    h.status = Status::kDone;
    return h;
  }
  std::string_view proto, src, dst, sport, dport;
  if (!nextField(line, proto, false) || !nextField(line, src, false) ||
      !nextField(line, dst, false) || !nextField(line, sport, false) ||
      !nextField(line, dport, true)) {
    return invalid(1, "malformed PROXY v1 line");
  }
  uint16_t port = 0, ignored = 0;
  if (!parsePort(sport, port) || !parsePort(dport, ignored)) return invalid(1, "bad PROXY v1 port");
  if (proto == "TCP4") {
    in_addr a{}, b{};
    if (!parseAddress(src, AF_INET, &a) || !parseAddress(dst, AF_INET, &b))
      return invalid(1, "bad PROXY v1 IPv4 address");
    h.source.v4.sin_family = AF_INET;
    h.source.v4.sin_addr = a;
    h.source.v4.sin_port = htons(port);
  } else if (proto == "TCP6") {
    in6_addr a{}, b{};
    if (!parseAddress(src, AF_INET6, &a) || !parseAddress(dst, AF_INET6, &b))
      return invalid(1, "bad PROXY v1 IPv6 address");
    h.source.v6.sin6_family = AF_INET6;
    h.source.v6.sin6_addr = a;
    h.source.v6.sin6_port = htons(port);
  } else {
    return invalid(1, "unknown PROXY v1 protocol");
  }
  h.hasAddress = true;
  h.status = Status::kDone;
  return h;
}

ProxyHeader parseV2(const char* p, size_t n) {
  const size_t k = std::min(n, sizeof kV2Signature);
  if (std::memcmp(p, kV2Signature, k) != 0) return invalid(2, "not a PROXY header");
  if (n > 12 && (static_cast<uint8_t>(p[12]) >> 4) != 2) return invalid(2, "PROXY v2: bad version");
  if (n < 16) {
    ProxyHeader h;
    h.version = 2;
    return h;  // kNeedMore
  }
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  const uint8_t command = u[12] & 0x0f;
  const uint8_t family = u[13] >> 4;
  const uint8_t transport = u[13] & 0x0f;
  const size_t length = (size_t{u[14]} << 8) | u[15];
  if (command > 1) return invalid(2, "PROXY v2: unknown command");
  if (family > 3 || transport > 2) return invalid(2, "PROXY v2: unknown address family");
  if (length > kProxyV2MaxPayload) return invalid(2, "PROXY v2: header too long");
  ProxyHeader h;
  h.version = 2;
  if (n < 16 + length) return h;  // kNeedMore
  h.status = Status::kDone;
  h.consumed = 16 + length;
  // LOCAL: the balancer's own connection (health checks); the addresses, if any, are ignored.
  if (command == 0) return h;
  const uint8_t* a = u + 16;
  if (family == 1) {  // AF_INET: src, dst (4 bytes each), src port, dst port; TLVs follow
    if (length < 12) return invalid(2, "PROXY v2: IPv4 addresses truncated");
    h.source.v4.sin_family = AF_INET;
    std::memcpy(&h.source.v4.sin_addr, a, 4);
    std::memcpy(&h.source.v4.sin_port, a + 8, 2);
    h.hasAddress = true;
  } else if (family == 2) {  // AF_INET6: 16 + 16 + 2 + 2
    if (length < 36) return invalid(2, "PROXY v2: IPv6 addresses truncated");
    h.source.v6.sin6_family = AF_INET6;
    std::memcpy(&h.source.v6.sin6_addr, a, 16);
    std::memcpy(&h.source.v6.sin6_port, a + 32, 2);
    h.hasAddress = true;
  } else if (family == 3 && length < 216) {
    return invalid(2, "PROXY v2: UNIX addresses truncated");
  }
  // UNSPEC and UNIX sources are no IP address: the peer's address stays the client's.
  return h;
}

}  // namespace

ProxyHeader parseProxyHeader(const char* p, size_t n) {
  if (n == 0) return {};
  if (p[0] == 'P') return parseV1(p, n);
  if (p[0] == '\r') return parseV2(p, n);
  return invalid(0, "not a PROXY header");
}

}  // namespace sy::net
