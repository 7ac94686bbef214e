#pragma once
// The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a load balancer in front
// (AWS NLB, HAProxy `send-proxy[-v2]`, nginx `proxy_protocol on`) sends before the client's
// first byte, carrying the client's address. A pure parser over the bytes received so far:
// no state, no allocation, no system calls; any thread. Safe on any input (fuzz-friendly):
// it never reads past `n` bytes and never needs more than kMaxHeaderBytes of them.

#include <cstddef>
#include <cstdint>

#include <netinet/in.h>
#include <sys/socket.h>

namespace sy::net {

// Version 1 is one text line of at most 107 bytes (CRLF included).
inline constexpr size_t kProxyV1MaxBytes = 107;
// Version 2 is a 16-byte fixed part and `length` bytes of addresses and TLVs. The spec allows
// length up to 65535; real senders stay far below (addresses 12-216 bytes, TLVs of a few hundred
// at most), so more than this is refused rather than buffered.
inline constexpr size_t kProxyV2MaxPayload = 4096;
inline constexpr size_t kProxyMaxHeaderBytes = 16 + kProxyV2MaxPayload;

struct ProxyHeader {
  enum class Status : uint8_t {
    kNeedMore,  // a valid prefix so far: read more (bounded by kProxyMaxHeaderBytes)
    kDone,      // a complete header of `consumed` bytes
    kInvalid,   // not a PROXY header, or a malformed one (`error` says why)
  };
  Status status = Status::kNeedMore;
  uint8_t version = 0;  // 1 or 2 once known
  size_t consumed = 0;  // kDone: header bytes to skip (the client's bytes follow)
  // kDone: whether `source` holds the client's address. False for v1 "UNKNOWN", v2 LOCAL (a
  // health check from the balancer itself), and v2 UNSPEC or UNIX families: the connection's
  // peer address stays the client address then.
  bool hasAddress = false;
  union {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } source{};
  const char* error = nullptr;  // kInvalid: a short static reason
};

// Parses the header at the start of [p, p+n).
ProxyHeader parseProxyHeader(const char* p, size_t n);

}  // namespace sy::net
