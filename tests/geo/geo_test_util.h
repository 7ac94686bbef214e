#pragma once
// Helpers shared by the geo unit tests.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

namespace sy::geo::test {

// A socket address for a numeric IPv4 or IPv6 text (port 0).
inline sockaddr_storage addr(const char* text) {
  sockaddr_storage ss{};
  if (std::strchr(text, ':')) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    REQUIRE(inet_pton(AF_INET6, text, &a->sin6_addr) == 1);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, text, &a->sin_addr) == 1);
  }
  return ss;
}

}  // namespace sy::geo::test
