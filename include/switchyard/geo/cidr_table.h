#pragma once
// IP addresses as lookup keys, and a longest-prefix-match table from networks to small values
// (geo.trusted_proxies, geo.networks). Built once on the main thread, then read-only from any
// thread; lookups do not allocate.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>

namespace sy::geo {

// An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack
// listener reports for IPv4 clients) are stored as IPv4, so one client has one key.
struct IpAddress {
  int family = 0;          // AF_INET | AF_INET6
  uint8_t bytes[16] = {};  // network order; 4 used for IPv4
  size_t size() const { return family == AF_INET ? 4 : 16; }

  // nullopt for other address families (e.g. a Unix socket peer).
  static std::optional<IpAddress> fromSockaddr(const sockaddr* sa);
};

class CidrTable {
 public:
  // Adds a network ("10.0.0.0/8", "fd00::/8", a bare address = one host) with its value.
  // Errors: not a CIDR (config::parseCidr's message), or the same network added twice.
  std::expected<void, std::string> add(std::string_view cidr, uint32_t value);
  // Value of the longest prefix that contains `ip`, if any.
  std::optional<uint32_t> lookup(const IpAddress& ip) const;
  std::optional<uint32_t> lookup(const sockaddr* sa) const;
  bool empty() const { return levels_.empty(); }

 private:
  struct Entry {
    uint64_t hi = 0;  // masked address, big-endian halves (IPv4 in the low 32 bits of lo)
    uint64_t lo = 0;
    uint32_t value = 0;
    bool operator<(const Entry& o) const { return hi != o.hi ? hi < o.hi : lo < o.lo; }
  };
  // All networks of one family and prefix length, sorted for binary search.
  struct Level {
    int family = 0;
    int prefix = 0;
    std::vector<Entry> entries;
  };
  std::vector<Level> levels_;  // longest prefix first
};

}  // namespace sy::geo
