#pragma once
// The client address of one request: the connection's peer, replaced by the PROXY protocol
// header's source (listeners[].proxy_protocol) and then by the real_ip header walk
// (real_ip.h) when the peer is trusted. The one address used for X-Forwarded-For's origin,
// the access log, `hash_key: ip`, split_key ip, geo lookups and rate-limit keys
// (UpstreamRequest::clientAddress()). Plain value, no allocation; any thread.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string_view>

#include "switchyard/geo/cidr_table.h"
#include "switchyard/net/socket.h"

namespace sy::proxy {

struct ClientAddress {
  union {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } addr{};
  char text[INET6_ADDRSTRLEN] = {0};

  // The address as a socket address (port 0 when it came from a header).
  const sockaddr* sa() const { return &addr.sa; }
  // Its textual form ("192.0.2.10", "2001:db8::1"); "" when unknown.
  std::string_view ip() const { return text; }

  // Copies an address and its text (already formatted by the caller).
  void set(const sockaddr* from, const char* fromText) {
    addr = {};
    if (from && from->sa_family == AF_INET) {
      std::memcpy(&addr.v4, from, sizeof addr.v4);
    } else if (from && from->sa_family == AF_INET6) {
      std::memcpy(&addr.v6, from, sizeof addr.v6);
    }
    std::strncpy(text, fromText, sizeof text - 1);
    text[sizeof text - 1] = '\0';
  }
  void set(const geo::IpAddress& ip) {
    addr = {};
    if (ip.family == AF_INET) {
      addr.v4.sin_family = AF_INET;
      std::memcpy(&addr.v4.sin_addr, ip.bytes, 4);
    } else {
      addr.v6.sin6_family = AF_INET6;
      std::memcpy(&addr.v6.sin6_addr, ip.bytes, 16);
    }
    net::formatIp(&addr.sa, text, sizeof text);
  }
};

}  // namespace sy::proxy
