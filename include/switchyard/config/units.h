#pragma once
// Parsers for the value syntaxes of the config file. Pure functions; any thread.
// Each returns an error message (without location) on failure.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "switchyard/config/config.h"

namespace sy::config {

// "250ms", "5s", "2m", "1h", "0" / "0s"; also "1.5s" and "1m30s" (whole milliseconds, at most
// 8760h). Plain integers without a unit are refused, except 0.
std::expected<Duration, std::string> parseDuration(std::string_view text);

// "512", "32KiB", "10MiB", "1GiB", also "KB/MB/GB" (as powers of 1000) and "k/m/g" (binary).
std::expected<uint64_t, std::string> parseSize(std::string_view text);

// "50%" or "0.5" -> 0.5; must be within [0, 1].
std::expected<double, std::string> parseFraction(std::string_view text);

// "host:port", "[v6]:port"; names are resolved with getaddrinfo (first result).
std::expected<SocketAddress, std::string> parseSocketAddress(std::string_view text);

// The syntax of parseSocketAddress without the lookup: text, host and port are set, addr stays
// empty (addrLen 0). For names that are resolved later, again and again (DNS discovery).
std::expected<SocketAddress, std::string> parseHostPort(std::string_view text);

// A host name as DNS carries it: dot-separated labels of 1-63 letters, digits, '-' or '_',
// at most 253 characters, an optional final dot. IPv4 literals pass too.
bool isDnsName(std::string_view name);

// "10.0.0.0/8", "::1/128"; a bare address means /32 or /128. Refuses host bits set below the
// prefix ("10.0.0.1/8"). Fills the network bytes (16 for v6, 4 for v4) and prefix.
struct Cidr {
  int family = 0;  // AF_INET | AF_INET6
  uint8_t bytes[16] = {};
  int prefix = 0;
};
std::expected<Cidr, std::string> parseCidr(std::string_view text);

// pools[].hash_key: what the hash policy hashes. "" or "ip" = the client IP; "header:NAME" =
// that request header's value; "cookie:NAME" = that cookie's value; "path" = the request path
// without the query. NAME must be an HTTP token. HashKey is in config.h.
std::expected<HashKey, std::string> parseHashKey(std::string_view text);

}  // namespace sy::config
