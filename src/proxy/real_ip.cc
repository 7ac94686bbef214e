#include "switchyard/proxy/real_ip.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "switchyard/config/units.h"
#include "switchyard/http/parser.h"

namespace sy::proxy {

std::unique_ptr<RealIpResolver> RealIpResolver::create(const config::RealIp& cfg) {
  auto r = std::make_unique<RealIpResolver>();
  r->header_ = cfg.header;
  for (const std::string& cidr : cfg.trusted) {
    // A network listed twice is harmless here; anything else was refused by the loader.
    if (auto added = r->trusted_.add(cidr, 1); !added && !config::parseCidr(cidr)) return nullptr;
  }
  return r;
}

namespace {

// ":PORT" with 1-5 digits.
bool portSuffix(std::string_view s) {
  if (s.size() < 2 || s.size() > 6 || s.front() != ':') return false;
  for (char c : s.substr(1))
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

bool parseForwardedAddress(std::string_view s, geo::IpAddress& out) {
  s = http::trimOws(s);
  if (s.empty()) return false;
  if (s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty() && !portSuffix(rest)) return false;
    s = s.substr(1, close - 1);
  } else if (const size_t colon = s.find(':');
             colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    if (!portSuffix(s.substr(colon))) return false;
    s = s.substr(0, colon);  // "a.b.c.d:port"
  }
  char buf[INET6_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  geo::IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes) == 1) {
    ip.family = AF_INET;
  } else if (in6_addr a6; inet_pton(AF_INET6, buf, &a6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      ip.family = AF_INET;
      std::memcpy(ip.bytes, a6.s6_addr + 12, 4);
    } else {
      ip.family = AF_INET6;
      std::memcpy(ip.bytes, a6.s6_addr, 16);
    }
  } else {
    return false;
  }
  out = ip;
  return true;
}

bool RealIpResolver::resolve(const sockaddr* peer, const http::FieldsView& fields,
                             geo::IpAddress& out) const {
  std::optional<geo::IpAddress> current = geo::IpAddress::fromSockaddr(peer);
  if (!current || !trusted(*current)) return false;
  bool moved = false;
  // Header lines from the last to the first, each one's entries from right to left.
  for (uint32_t line = fields.size(); line-- > 0;) {
    if (fields.nameSize(line) != header_.size() ||
        !http::equalsIgnoreCase(fields.name(line), header_))
      continue;
    std::string_view value = fields.value(line);
    while (true) {
      const size_t comma = value.rfind(',');
      std::string_view entry = comma == std::string_view::npos ? value : value.substr(comma + 1);
      geo::IpAddress next;
      if (!parseForwardedAddress(entry, next)) {
        if (moved) out = *current;
        return moved;  // garbage ends the walk at the last good address
      }
      *current = next;
      moved = true;
      if (!trusted(next)) {
        out = next;
        return true;
      }
      if (comma == std::string_view::npos) break;
      value = value.substr(0, comma);
    }
  }
  if (moved) out = *current;  // every entry was trusted: the left-most one
  return moved;
}

}  // namespace sy::proxy
