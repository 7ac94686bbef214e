#include "switchyard/config/units.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <netdb.h>
#include <netinet/in.h>

namespace sy::config {
namespace {

std::string durationError(std::string_view text) {
  auto d = parseDuration(text);
  REQUIRE_FALSE(d.has_value());
  return d.error();
}

std::string sizeError(std::string_view text) {
  auto s = parseSize(text);
  REQUIRE_FALSE(s.has_value());
  return s.error();
}

std::string addressError(std::string_view text) {
  auto a = parseSocketAddress(text);
  REQUIRE_FALSE(a.has_value());
  return a.error();
}

std::string cidrError(std::string_view text) {
  auto c = parseCidr(text);
  REQUIRE_FALSE(c.has_value());
  return c.error();
}

TEST_CASE("parseDuration: units") {
  CHECK(parseDuration("250ms").value() == Duration{250});
  CHECK(parseDuration("5s").value() == Duration{5000});
  CHECK(parseDuration("2m").value() == Duration{120000});
  CHECK(parseDuration("1h").value() == Duration{3600000});
  CHECK(parseDuration("0").value() == Duration{0});
  CHECK(parseDuration("0s").value() == Duration{0});
  CHECK(parseDuration("300s").value() == Duration{300000});
  CHECK(parseDuration("1.5s").value() == Duration{1500});
  CHECK(parseDuration("1m30s").value() == Duration{90000});
  CHECK(parseDuration(" 10s ").value() == Duration{10000});
}

TEST_CASE("parseDuration: errors") {
  CHECK(durationError("5") == "needs a unit: ms, s, m or h (e.g. 5s)");
  CHECK(durationError("5x") == "unknown unit 'x' (use ms, s, m or h)");
  CHECK(durationError("5sec") == "unknown unit 'sec' (use ms, s, m or h)");
  CHECK(durationError("-1s") == "must not be negative");
  CHECK(durationError("") == "must be a duration like 250ms, 5s, 2m or 1h");
  CHECK(durationError("fast") == "must be a duration like 250ms, 5s, 2m or 1h");
  CHECK(durationError("1.s") == "must be a duration like 250ms, 5s, 2m or 1h");
  CHECK(durationError("5 s") == "must be a duration like 250ms, 5s, 2m or 1h");
  CHECK(durationError("0.5ms") == "must be a whole number of milliseconds");
  CHECK(durationError("9000h") == "is too large (at most 8760h)");
  CHECK(durationError("99999999999999999999999h") == "is too large (at most 8760h)");
}

TEST_CASE("parseSize: units") {
  CHECK(parseSize("512").value() == 512);
  CHECK(parseSize("0").value() == 0);
  CHECK(parseSize("512B").value() == 512);
  CHECK(parseSize("32KiB").value() == 32 * 1024);
  CHECK(parseSize("10MiB").value() == 10ull * 1024 * 1024);
  CHECK(parseSize("1GiB").value() == 1ull << 30);
  CHECK(parseSize("2TiB").value() == 2ull << 40);
  CHECK(parseSize("1KB").value() == 1000);
  CHECK(parseSize("1kB").value() == 1000);
  CHECK(parseSize("3MB").value() == 3000000);
  CHECK(parseSize("1GB").value() == 1000000000);
  CHECK(parseSize("8k").value() == 8192);
  CHECK(parseSize("8K").value() == 8192);
  CHECK(parseSize("1m").value() == 1 << 20);
  CHECK(parseSize("1g").value() == 1 << 30);
  CHECK(parseSize("32 KiB").value() == 32 * 1024);
}

TEST_CASE("parseSize: errors") {
  CHECK(sizeError("") == "must be a size like 512, 32KiB or 10MiB");
  CHECK(sizeError("KiB") == "must be a size like 512, 32KiB or 10MiB");
  CHECK(sizeError("1.5MiB") == "must be a size like 512, 32KiB or 10MiB");
  CHECK(sizeError("-1") == "must not be negative");
  CHECK(sizeError("10XB") == "unknown unit 'XB' (use B, KiB, MiB, GiB, KB, MB or GB)");
  CHECK(sizeError("99999999999999999999999") == "is too large");
  CHECK(sizeError("17179869184GiB") == "is too large");
}

TEST_CASE("parseFraction") {
  CHECK(parseFraction("50%").value() == doctest::Approx(0.5));
  CHECK(parseFraction("12.5%").value() == doctest::Approx(0.125));
  CHECK(parseFraction("0.5").value() == doctest::Approx(0.5));
  CHECK(parseFraction("0").value() == 0);
  CHECK(parseFraction("1").value() == 1);
  CHECK(parseFraction("100%").value() == 1);
  CHECK(parseFraction("50").error() == "must be between 0 and 1, or a percentage like 50%");
  CHECK(parseFraction("101%").error() == "must be at most 100%");
  CHECK(parseFraction("-5%").error() == "must not be negative");
  CHECK(parseFraction("half").error() == "must be a fraction like 0.5 or a percentage like 50%");
  CHECK(parseFraction("%").error() == "must be a fraction like 0.5 or a percentage like 50%");
}

TEST_CASE("parseSocketAddress: IPv4, IPv6 and names") {
  auto v4 = parseSocketAddress("127.0.0.1:9001").value();
  CHECK(v4.text == "127.0.0.1:9001");
  CHECK(v4.host == "127.0.0.1");
  CHECK(v4.port == 9001);
  REQUIRE(v4.addr.ss_family == AF_INET);
  CHECK(v4.addrLen == sizeof(sockaddr_in));
  auto* sin = reinterpret_cast<const sockaddr_in*>(&v4.addr);
  CHECK(ntohs(sin->sin_port) == 9001);
  CHECK(ntohl(sin->sin_addr.s_addr) == 0x7f000001);

  auto v6 = parseSocketAddress("[::1]:80").value();
  CHECK(v6.host == "::1");
  CHECK(v6.port == 80);
  REQUIRE(v6.addr.ss_family == AF_INET6);
  CHECK(ntohs(reinterpret_cast<const sockaddr_in6*>(&v6.addr)->sin6_port) == 80);

  auto any = parseSocketAddress("0.0.0.0:0").value();
  CHECK(any.port == 0);

  // Names go through getaddrinfo; a minimal system may not even have /etc/hosts, so the
  // name case runs only where "localhost" resolves at all.
  addrinfo* ai = nullptr;
  if (getaddrinfo("localhost", nullptr, nullptr, &ai) == 0) {
    freeaddrinfo(ai);
    auto named = parseSocketAddress("localhost:9001").value();
    CHECK(named.host == "localhost");
    CHECK((named.addr.ss_family == AF_INET || named.addr.ss_family == AF_INET6));
    CHECK(named.port == 9001);
  } else {
    MESSAGE("localhost does not resolve here: name resolution case skipped");
  }
}

TEST_CASE("parseSocketAddress: errors") {
  CHECK(addressError("127.0.0.1") == "must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
  CHECK(addressError("8080") == "must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
  CHECK(addressError(":8080") == "missing host (use 0.0.0.0:PORT for all IPv4 interfaces)");
  CHECK(addressError("127.0.0.1:65536") == "port must be a number between 0 and 65535");
  CHECK(addressError("127.0.0.1:http") == "port must be a number between 0 and 65535");
  CHECK(addressError("127.0.0.1:") == "port must be a number between 0 and 65535");
  CHECK(addressError("::1:80") == "IPv6 addresses need brackets, e.g. [::1]:8080");
  CHECK(addressError("[::1:80") == "missing ']' after IPv6 address");
  CHECK(addressError("[::1]80") == "must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
  CHECK(addressError("[127.0.0.1]:80") == "'127.0.0.1' is not an IPv6 address");
}

TEST_CASE("parseCidr") {
  auto v4 = parseCidr("10.0.0.0/8").value();
  CHECK(v4.family == AF_INET);
  CHECK(v4.prefix == 8);
  CHECK(v4.bytes[0] == 10);

  auto v6 = parseCidr("fd00::/8").value();
  CHECK(v6.family == AF_INET6);
  CHECK(v6.prefix == 8);
  CHECK(v6.bytes[0] == 0xfd);

  CHECK(parseCidr("127.0.0.1").value().prefix == 32);
  CHECK(parseCidr("::1").value().prefix == 128);
  CHECK(parseCidr("0.0.0.0/0").value().prefix == 0);
  CHECK(parseCidr("10.1.2.3/32").has_value());
  CHECK(parseCidr("10.1.0.0/16").has_value());
  CHECK(parseCidr("10.1.128.0/17").has_value());

  CHECK(cidrError("10.0.0.1/8") == "has host bits set; did you mean 10.0.0.0/8?");
  CHECK(cidrError("10.1.192.0/17") == "has host bits set; did you mean 10.1.128.0/17?");
  CHECK(cidrError("10.0.0.0/33") == "prefix length must be between 0 and 32");
  CHECK(cidrError("::/129") == "prefix length must be between 0 and 128");
  CHECK(cidrError("10.0.0.0/") == "prefix length must be between 0 and 32");
  CHECK(cidrError("10.0.0/8") == "must be a CIDR like 10.0.0.0/8 or fd00::/8");
  CHECK(cidrError("banana") == "must be a CIDR like 10.0.0.0/8 or fd00::/8");
  CHECK(cidrError("fd00::g/8") == "'fd00::g' is not an IPv6 address");
}

}  // namespace
}  // namespace sy::config
