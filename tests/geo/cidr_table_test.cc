#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "geo_test_util.h"
#include "switchyard/geo/cidr_table.h"

using sy::geo::CidrTable;
using sy::geo::IpAddress;

namespace {

using sy::geo::test::addr;

int lookup(const CidrTable& t, const char* text) {
  sockaddr_storage ss = addr(text);
  auto v = t.lookup(reinterpret_cast<const sockaddr*>(&ss));
  return v ? static_cast<int>(*v) : -1;
}

}  // namespace

TEST_CASE("CidrTable: longest prefix wins") {
  CidrTable t;
  REQUIRE(t.add("10.0.0.0/8", 1));
  REQUIRE(t.add("10.1.0.0/16", 2));
  REQUIRE(t.add("10.1.2.0/24", 3));
  REQUIRE(t.add("10.1.2.3", 4));
  REQUIRE(t.add("0.0.0.0/0", 0));
  CHECK(lookup(t, "10.1.2.3") == 4);
  CHECK(lookup(t, "10.1.2.4") == 3);
  CHECK(lookup(t, "10.1.3.1") == 2);
  CHECK(lookup(t, "10.200.0.1") == 1);
  CHECK(lookup(t, "192.168.1.1") == 0);
  CHECK(lookup(t, "::1") == -1);  // no IPv6 entries
}

TEST_CASE("CidrTable: insertion order does not matter") {
  CidrTable t;
  REQUIRE(t.add("10.1.2.0/24", 3));
  REQUIRE(t.add("10.0.0.0/8", 1));
  REQUIRE(t.add("10.1.0.0/16", 2));
  CHECK(lookup(t, "10.1.2.9") == 3);
  CHECK(lookup(t, "10.1.9.9") == 2);
  CHECK(lookup(t, "10.9.9.9") == 1);
  CHECK(lookup(t, "11.0.0.0") == -1);
}

TEST_CASE("CidrTable: IPv6, and IPv4-mapped addresses match IPv4 networks") {
  CidrTable t;
  REQUIRE(t.add("fd00::/8", 1));
  REQUIRE(t.add("fd00:1234::/32", 2));
  REQUIRE(t.add("2001:db8::1", 3));
  REQUIRE(t.add("2001:db8:0:0:8000::/65", 5));
  REQUIRE(t.add("127.0.0.0/8", 4));
  CHECK(lookup(t, "fd00:1234::1") == 2);
  CHECK(lookup(t, "fd99::1") == 1);
  CHECK(lookup(t, "2001:db8::1") == 3);
  CHECK(lookup(t, "2001:db8::2") == -1);
  CHECK(lookup(t, "2001:db8::8000:0:0:1") == 5);
  CHECK(lookup(t, "2001:db8::7fff:0:0:1") == -1);
  CHECK(lookup(t, "::ffff:127.0.0.1") == 4);
  CHECK(lookup(t, "127.9.9.9") == 4);
}

TEST_CASE("CidrTable: errors") {
  CidrTable t;
  CHECK_FALSE(t.add("10.0.0.1/8", 1).has_value());
  CHECK_FALSE(t.add("nonsense", 1).has_value());
  REQUIRE(t.add("10.0.0.0/8", 1));
  auto dup = t.add("10.0.0.0/8", 2);
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error() == "network 10.0.0.0/8 is listed twice");
  CHECK(lookup(t, "10.0.0.1") == 1);
}

TEST_CASE("IpAddress::fromSockaddr") {
  sockaddr_storage v4 = addr("192.0.2.7");
  auto ip = IpAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&v4));
  REQUIRE(ip.has_value());
  CHECK(ip->family == AF_INET);
  CHECK(ip->size() == 4);
  sockaddr_storage mapped = addr("::ffff:192.0.2.7");
  auto ip2 = IpAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&mapped));
  REQUIRE(ip2.has_value());
  CHECK(ip2->family == AF_INET);
  CHECK(std::memcmp(ip->bytes, ip2->bytes, 4) == 0);
  sockaddr_storage none{};
  none.ss_family = AF_UNIX;
  CHECK_FALSE(IpAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&none)).has_value());
  CHECK_FALSE(IpAddress::fromSockaddr(nullptr).has_value());
}
