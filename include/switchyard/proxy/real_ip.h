#pragma once
// real_ip (config/README.md): the client address taken from a header that trusted proxies set,
// as nginx's realip module with `real_ip_recursive on`. Built once per snapshot per listener on
// the main thread, then read-only from the workers; resolve() does not allocate.
//
// The walk: start at the connection's address (the PROXY protocol source, else the TCP peer).
// While the current address is trusted, step to the next address of the header from the right
// (several header lines are read as one list, in order: the last line's last entry first).
// The first untrusted address is the client. An entry that is not an IP address (empty,
// "unknown", a name, garbage) ends the walk at the last good address, as nginx does; when
// every entry is trusted, the left-most one is the client.

#include <memory>
#include <string>

#include <sys/socket.h>

#include "switchyard/config/config.h"
#include "switchyard/geo/cidr_table.h"
#include "switchyard/http/request_head.h"

namespace sy::proxy {

class RealIpResolver {
 public:
  // `cfg.trusted` must hold valid CIDRs (the loader checked them); nullptr otherwise.
  static std::unique_ptr<RealIpResolver> create(const config::RealIp& cfg);

  // The client address of a request from `peer` with header fields `fields`. Returns false
  // (and leaves `out` alone) when the peer stays the client: not trusted, no header, or no
  // usable entry.
  bool resolve(const sockaddr* peer, const http::FieldsView& fields, geo::IpAddress& out) const;

  bool trusted(const geo::IpAddress& ip) const { return trusted_.lookup(ip).has_value(); }
  const std::string& header() const { return header_; }

 private:
  geo::CidrTable trusted_;
  std::string header_;
};

// One entry of a forwarding header: an IPv4 or IPv6 address, optionally "[v6]", "v4:port" or
// "[v6]:port" (as some balancers send), surrounding spaces ignored. IPv4-mapped IPv6 addresses
// become IPv4.
bool parseForwardedAddress(std::string_view entry, geo::IpAddress& out);

}  // namespace sy::proxy
