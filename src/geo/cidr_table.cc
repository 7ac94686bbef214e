#include "switchyard/geo/cidr_table.h"

#include <algorithm>
#include <cstring>

#include <netinet/in.h>

#include "switchyard/config/units.h"

namespace sy::geo {
namespace {

uint64_t loadBe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// The address as two 64-bit halves with the bits below `prefix` cleared.
void maskedKey(int family, const uint8_t* bytes, int prefix, uint64_t& hi, uint64_t& lo) {
  if (family == AF_INET) {
    uint64_t v = (uint64_t{bytes[0]} << 24) | (uint64_t{bytes[1]} << 16) |
                 (uint64_t{bytes[2]} << 8) | bytes[3];
    uint64_t mask = prefix == 0 ? 0 : (0xffffffffull << (32 - prefix)) & 0xffffffffull;
    hi = 0;
    lo = v & mask;
    return;
  }
  hi = loadBe64(bytes);
  lo = loadBe64(bytes + 8);
  if (prefix <= 64) {
    hi &= prefix == 0 ? 0 : ~0ull << (64 - prefix);
    lo = 0;
  } else {
    lo &= prefix == 128 ? ~0ull : ~0ull << (128 - prefix);
  }
}

}  // namespace

std::optional<IpAddress> IpAddress::fromSockaddr(const sockaddr* sa) {
  if (!sa) return std::nullopt;
  IpAddress ip;
  if (sa->sa_family == AF_INET) {
    ip.family = AF_INET;
    std::memcpy(ip.bytes, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
    return ip;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* a = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      ip.family = AF_INET;
      std::memcpy(ip.bytes, a->s6_addr + 12, 4);
    } else {
      ip.family = AF_INET6;
      std::memcpy(ip.bytes, a->s6_addr, 16);
    }
    return ip;
  }
  return std::nullopt;
}

std::expected<void, std::string> CidrTable::add(std::string_view text, uint32_t value) {
  auto cidr = config::parseCidr(text);
  if (!cidr) return std::unexpected(cidr.error());
  Entry e;
  e.value = value;
  maskedKey(cidr->family, cidr->bytes, cidr->prefix, e.hi, e.lo);
  auto level = std::find_if(levels_.begin(), levels_.end(), [&](const Level& l) {
    return l.family == cidr->family && l.prefix == cidr->prefix;
  });
  if (level == levels_.end()) {
    Level l;
    l.family = cidr->family;
    l.prefix = cidr->prefix;
    // Keep the longest prefixes first so the first hit is the longest match.
    auto at = std::find_if(levels_.begin(), levels_.end(),
                           [&](const Level& o) { return o.prefix < l.prefix; });
    level = levels_.insert(at, std::move(l));
  }
  auto pos = std::lower_bound(level->entries.begin(), level->entries.end(), e);
  if (pos != level->entries.end() && pos->hi == e.hi && pos->lo == e.lo) {
    return std::unexpected("network " + std::string(text) + " is listed twice");
  }
  level->entries.insert(pos, e);
  return {};
}

std::optional<uint32_t> CidrTable::lookup(const IpAddress& ip) const {
  for (const Level& l : levels_) {
    if (l.family != ip.family) continue;
    Entry key;
    maskedKey(ip.family, ip.bytes, l.prefix, key.hi, key.lo);
    auto pos = std::lower_bound(l.entries.begin(), l.entries.end(), key);
    if (pos != l.entries.end() && pos->hi == key.hi && pos->lo == key.lo) return pos->value;
  }
  return std::nullopt;
}

std::optional<uint32_t> CidrTable::lookup(const sockaddr* sa) const {
  std::optional<IpAddress> ip = IpAddress::fromSockaddr(sa);
  if (!ip) return std::nullopt;
  return lookup(*ip);
}

}  // namespace sy::geo
