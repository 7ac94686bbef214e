#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <string>
#include <vector>

#include "switchyard/net/socket.h"
#include "switchyard/proxy/client_address.h"
#include "switchyard/proxy/real_ip.h"

using sy::http::Field;
using sy::http::FieldsView;
using sy::proxy::parseForwardedAddress;
using sy::proxy::RealIpResolver;

namespace {

sockaddr_storage addr(const char* ip) {
  sockaddr_storage ss{};
  if (std::string(ip).find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a->sin6_addr);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
  }
  return ss;
}

std::string text(const sy::geo::IpAddress& ip) {
  sy::proxy::ClientAddress c;
  c.set(ip);
  return std::string(c.ip());
}

// The client address for a request from `peer` with these X-Forwarded-For lines ("" = peer).
std::string resolve(const RealIpResolver& r, const char* peer, std::vector<std::string> lines,
                    std::vector<Field> other = {}) {
  std::vector<Field> fields = std::move(other);
  for (const std::string& l : lines) fields.push_back({"x-forwarded-for", l});
  FieldsView view(fields.data(), static_cast<uint32_t>(fields.size()));
  sockaddr_storage ss = addr(peer);
  sy::geo::IpAddress out;
  if (!r.resolve(reinterpret_cast<const sockaddr*>(&ss), view, out)) return "";
  return text(out);
}

std::unique_ptr<RealIpResolver> make(std::vector<std::string> trusted,
                                     std::string header = "X-Forwarded-For") {
  sy::config::RealIp cfg;
  cfg.header = std::move(header);
  cfg.trusted = std::move(trusted);
  auto r = RealIpResolver::create(cfg);
  REQUIRE(r != nullptr);
  return r;
}

}  // namespace

TEST_CASE("real_ip: right-most untrusted address, only from a trusted peer") {
  auto r = make({"127.0.0.0/8", "10.0.0.0/8", "2001:db8:1::/48"});
  CHECK(resolve(*r, "127.0.0.1", {"198.51.100.1"}) == "198.51.100.1");
  CHECK(resolve(*r, "127.0.0.1", {"203.0.113.9, 198.51.100.1, 10.0.0.2"}) == "198.51.100.1");
  CHECK(resolve(*r, "192.0.2.1", {"198.51.100.1"}) == "");  // untrusted peer: itself
  CHECK(resolve(*r, "127.0.0.1", {}) == "");
  CHECK(resolve(*r, "2001:db8:1::9", {"2001:db8:2::1"}) == "2001:db8:2::1");
  CHECK(resolve(*r, "::ffff:127.0.0.1", {"198.51.100.7"}) == "198.51.100.7");  // v4-mapped peer
}

TEST_CASE("real_ip: several header lines are one list, last line first") {
  auto r = make({"127.0.0.0/8", "10.0.0.0/8"});
  CHECK(resolve(*r, "127.0.0.1", {"198.51.100.1", "10.1.1.1, 10.2.2.2"}) == "198.51.100.1");
  CHECK(resolve(*r, "127.0.0.1", {"198.51.100.1", "203.0.113.5"}) == "203.0.113.5");
  // Other headers between the lines do not matter.
  CHECK(resolve(*r, "127.0.0.1", {"198.51.100.1", "10.0.0.9"}, {{"x-other", "1.2.3.4"}}) ==
        "198.51.100.1");
}

TEST_CASE("real_ip: garbage stops the walk at the last good address; all trusted: left-most") {
  auto r = make({"127.0.0.0/8", "10.0.0.0/8"});
  CHECK(resolve(*r, "127.0.0.1", {"198.51.100.1, garbage, 10.0.0.3"}) == "10.0.0.3");
  CHECK(resolve(*r, "127.0.0.1", {"unknown"}) == "");
  CHECK(resolve(*r, "127.0.0.1", {""}) == "");
  CHECK(resolve(*r, "127.0.0.1", {"198.51.100.1,,10.0.0.3"}) == "10.0.0.3");
  CHECK(resolve(*r, "127.0.0.1", {"10.0.0.5, 10.0.0.6"}) == "10.0.0.5");
  CHECK(resolve(*r, "127.0.0.1", {"  198.51.100.1  ,10.0.0.6 "}) == "198.51.100.1");
}

TEST_CASE("real_ip: another header name, case-insensitive") {
  auto r = make({"::1"}, "X-Real-IP");
  std::vector<Field> f = {{"x-real-ip", "192.0.2.77"}, {"x-forwarded-for", "198.51.100.1"}};
  FieldsView view(f.data(), 2);
  sockaddr_storage ss = addr("::1");
  sy::geo::IpAddress out;
  REQUIRE(r->resolve(reinterpret_cast<const sockaddr*>(&ss), view, out));
  CHECK(text(out) == "192.0.2.77");
}

TEST_CASE("parseForwardedAddress: the forms balancers send") {
  sy::geo::IpAddress ip;
  CHECK(parseForwardedAddress("192.0.2.1", ip));
  CHECK(text(ip) == "192.0.2.1");
  CHECK(parseForwardedAddress(" 192.0.2.1:8080 ", ip));
  CHECK(text(ip) == "192.0.2.1");
  CHECK(parseForwardedAddress("2001:db8::1", ip));
  CHECK(text(ip) == "2001:db8::1");
  CHECK(parseForwardedAddress("[2001:db8::2]", ip));
  CHECK(text(ip) == "2001:db8::2");
  CHECK(parseForwardedAddress("[2001:db8::3]:443", ip));
  CHECK(text(ip) == "2001:db8::3");
  CHECK(parseForwardedAddress("::ffff:198.51.100.3", ip));
  CHECK(ip.family == AF_INET);
  for (const char* bad : {"", "unknown", "_hidden", "example.com", "1.2.3", "1.2.3.4.5",
                          "[2001:db8::1", "[2001:db8::1]x", "[2001:db8::1]:", "1.2.3.4:",
                          "999.1.1.1", "1.2.3.4 5.6.7.8"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseForwardedAddress(bad, ip));
  }
}
