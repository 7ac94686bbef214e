#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <cstdint>
#include <random>
#include <string>

#include "switchyard/net/proxy_protocol.h"

using sy::net::ProxyHeader;
using sy::net::parseProxyHeader;
using Status = ProxyHeader::Status;

namespace {

ProxyHeader parse(const std::string& s) { return parseProxyHeader(s.data(), s.size()); }

std::string sourceText(const ProxyHeader& h) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (h.source.sa.sa_family == AF_INET) inet_ntop(AF_INET, &h.source.v4.sin_addr, buf, sizeof buf);
  if (h.source.sa.sa_family == AF_INET6)
    inet_ntop(AF_INET6, &h.source.v6.sin6_addr, buf, sizeof buf);
  return buf;
}

uint16_t sourcePort(const ProxyHeader& h) {
  return ntohs(h.source.sa.sa_family == AF_INET ? h.source.v4.sin_port : h.source.v6.sin6_port);
}

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: version/command byte, family/transport byte, then `payload`.
std::string v2(uint8_t verCmd, uint8_t famProto, const std::string& payload) {
  std::string s = kSig;
  s += static_cast<char>(verCmd);
  s += static_cast<char>(famProto);
  s += static_cast<char>(payload.size() >> 8);
  s += static_cast<char>(payload.size() & 0xff);
  return s + payload;
}

std::string ipv4Payload() {
  // 192.0.2.10:51234 -> 198.51.100.1:443
  std::string p = {'\xc0', '\x00', '\x02', '\x0a', '\xc6', '\x33', '\x64', '\x01'};
  p += {'\xc8', '\x22', '\x01', '\xbb'};
  return p;
}

}  // namespace

TEST_CASE("PROXY v1: TCP4 and TCP6 give the source address; the bytes after it are left") {
  const std::string line = "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n";
  ProxyHeader h = parse(line + "GET / HTTP/1.1\r\n");
  REQUIRE(h.status == Status::kDone);
  CHECK(h.version == 1);
  CHECK(h.consumed == line.size());
  CHECK(h.hasAddress);
  CHECK(sourceText(h) == "192.0.2.10");
  CHECK(sourcePort(h) == 51234);

  h = parse("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n");
  REQUIRE(h.status == Status::kDone);
  CHECK(sourceText(h) == "2001:db8::1");
  CHECK(sourcePort(h) == 65535);
}

TEST_CASE("PROXY v1: UNKNOWN keeps the peer address") {
  ProxyHeader h = parse("PROXY UNKNOWN\r\n");
  REQUIRE(h.status == Status::kDone);
  CHECK_FALSE(h.hasAddress);
  CHECK(h.consumed == 15);
  h = parse("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n");
  CHECK(h.status == Status::kDone);
  CHECK_FALSE(h.hasAddress);
}

TEST_CASE("PROXY v1: every truncation of a valid line asks for more") {
  const std::string line = "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n";
  for (size_t n = 1; n < line.size(); ++n) {
    CAPTURE(n);
    CHECK(parseProxyHeader(line.data(), n).status == Status::kNeedMore);
  }
}

TEST_CASE("PROXY v1: malformed lines are refused") {
  for (const char* bad : {
           "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\n",      // LF without CR
           "PROXY TCP4 192.0.2.10 198.51.100.1 51234\r\n",        // a field missing
           "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443 9\r\n",  // one too many
           "PROXY TCP4  192.0.2.10 198.51.100.1 51234 443\r\n",   // double space
           "PROXY TCP4 192.0.2.10 198.51.100.1 65536 443\r\n",    // port out of range
           "PROXY TCP4 192.0.2.10 198.51.100.1 0123 443\r\n",     // leading zero
           "PROXY TCP4 192.0.2.10 198.51.100.1 -1 443\r\n",       // sign
           "PROXY TCP4 2001:db8::1 198.51.100.1 1 443\r\n",       // family mismatch
           "PROXY TCP6 192.0.2.10 2001:db8::2 1 443\r\n",
           "PROXY TCP4 192.0.2.256 198.51.100.1 1 443\r\n",
           "PROXY UDP4 192.0.2.10 198.51.100.1 1 443\r\n",
           "PROXY UNKNOWNX\r\n",
           "PROXY \r\n",
           "PROXYTCP4 1.2.3.4 1.2.3.4 1 1\r\n",
           "GET / HTTP/1.1\r\n",
           "\x16\x03\x01\x02\x00",  // a TLS ClientHello without the header
       }) {
    CAPTURE(bad);
    CHECK(parse(bad).status == Status::kInvalid);
  }
  CHECK(parse("PRI * HTTP/2.0\r\n").status == Status::kInvalid);
  CHECK(parse("PROXZ").status == Status::kInvalid);  // refused before the line ends
}

TEST_CASE("PROXY v1: a line longer than 107 bytes is refused without waiting for its end") {
  std::string longLine = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";  // 108 bytes
  CHECK(parse(longLine).status == Status::kInvalid);
  CHECK(parse(longLine.substr(0, 107)).status == Status::kInvalid);
  CHECK(parse(longLine.substr(0, 106)).status == Status::kNeedMore);
  std::string maxLine = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";  // exactly 107
  CHECK(parse(maxLine).status == Status::kDone);
}

TEST_CASE("PROXY v2: PROXY over IPv4 with TLVs skipped") {
  std::string tlvs = {'\x04', '\x00', '\x03', 'a', 'b', 'c', '\xea', '\x00', '\x01', 'x'};
  std::string h2 = v2(0x21, 0x11, ipv4Payload() + tlvs);
  ProxyHeader h = parse(h2 + "rest");
  REQUIRE(h.status == Status::kDone);
  CHECK(h.version == 2);
  CHECK(h.consumed == h2.size());
  CHECK(h.hasAddress);
  CHECK(sourceText(h) == "192.0.2.10");
  CHECK(sourcePort(h) == 51234);
}

TEST_CASE("PROXY v2: IPv6, LOCAL, UNSPEC and UNIX") {
  std::string a6(36, '\0');
  a6[0] = '\x20', a6[1] = '\x01', a6[2] = '\x0d', a6[3] = '\xb8', a6[15] = '\x07';
  a6[32] = '\x01', a6[33] = '\x02';
  ProxyHeader h = parse(v2(0x21, 0x21, a6));
  REQUIRE(h.status == Status::kDone);
  CHECK(sourceText(h) == "2001:db8::7");
  CHECK(sourcePort(h) == 258);

  h = parse(v2(0x20, 0x11, ipv4Payload()));  // LOCAL: addresses ignored
  REQUIRE(h.status == Status::kDone);
  CHECK_FALSE(h.hasAddress);
  h = parse(v2(0x20, 0x00, ""));
  REQUIRE(h.status == Status::kDone);
  CHECK(h.consumed == 16);
  CHECK_FALSE(h.hasAddress);
  h = parse(v2(0x21, 0x00, ""));  // PROXY with UNSPEC family
  REQUIRE(h.status == Status::kDone);
  CHECK_FALSE(h.hasAddress);
  h = parse(v2(0x21, 0x31, std::string(216, '\0')));  // UNIX
  REQUIRE(h.status == Status::kDone);
  CHECK_FALSE(h.hasAddress);
}

TEST_CASE("PROXY v2: every truncation asks for more") {
  std::string h2 = v2(0x21, 0x11, ipv4Payload() + std::string(20, '\0'));
  for (size_t n = 1; n < h2.size(); ++n) {
    CAPTURE(n);
    CHECK(parseProxyHeader(h2.data(), n).status == Status::kNeedMore);
  }
}

TEST_CASE("PROXY v2: malformed and oversized headers are refused") {
  CHECK(parse(v2(0x11, 0x11, ipv4Payload())).status == Status::kInvalid);  // version 1
  CHECK(parse(v2(0x22, 0x11, ipv4Payload())).status == Status::kInvalid);  // command 2
  CHECK(parse(v2(0x21, 0x41, ipv4Payload())).status == Status::kInvalid);  // family 4
  CHECK(parse(v2(0x21, 0x13, ipv4Payload())).status == Status::kInvalid);  // transport 3
  CHECK(parse(v2(0x21, 0x11, ipv4Payload().substr(0, 11))).status == Status::kInvalid);
  CHECK(parse(v2(0x21, 0x21, std::string(35, '\0'))).status == Status::kInvalid);
  CHECK(parse(v2(0x21, 0x31, std::string(100, '\0'))).status == Status::kInvalid);
  std::string sig = kSig;
  sig[7] = 'q';
  CHECK(parse(sig).status == Status::kInvalid);
  CHECK(parse(kSig.substr(0, 5) + "x").status == Status::kInvalid);
  // A length past the cap is refused from the fixed part alone (nothing more is awaited).
  std::string big = kSig + "\x21\x11\x10\x01";  // 4097
  CHECK(parse(big).status == Status::kInvalid);
  CHECK(parse(v2(0x21, 0x11, ipv4Payload() + std::string(4096 - 12, '\0'))).status ==
        Status::kDone);
}

TEST_CASE("PROXY: random and mutated inputs never overrun and stay within the size bound") {
  std::mt19937 rng(12345);
  std::string base1 = "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n";
  std::string base2 = v2(0x21, 0x11, ipv4Payload() + std::string(8, '\x01'));
  for (int i = 0; i < 20000; ++i) {
    std::string s = (i % 3 == 0) ? base1 : (i % 3 == 1) ? base2 : std::string(rng() % 64, 'P');
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips && !s.empty(); ++f) s[rng() % s.size()] = static_cast<char>(rng());
    const size_t n = rng() % (s.size() + 1);
    // Parse from a heap copy of exactly n bytes so that a read past the end would be caught by
    // the address sanitizer builds.
    std::string exact = s.substr(0, n);
    ProxyHeader h = parseProxyHeader(exact.data(), exact.size());
    if (h.status == Status::kDone) {
      CHECK(h.consumed <= n);
      CHECK(h.consumed <= sy::net::kProxyMaxHeaderBytes);
    }
    if (h.status == Status::kNeedMore) CHECK(n < sy::net::kProxyMaxHeaderBytes);
  }
}
