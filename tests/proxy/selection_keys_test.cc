#include "switchyard/proxy/selection_keys.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "../http/test_handler.h"
#include "switchyard/balancing/consistent_hash.h"
#include "switchyard/config/loader.h"
#include "switchyard/geo/locator.h"

using sy::balancing::hashKeyBytes;
using sy::balancing::PolicyNeeds;
using sy::geo::LocationSource;
using sy::http::test::ParsedHead;
using sy::proxy::computeSelectionInputs;
using sy::proxy::SelectionInputs;

namespace {

sockaddr_storage addr(const char* text) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  REQUIRE(inet_pton(AF_INET, text, &a->sin_addr) == 1);
  return ss;
}

struct Request {
  ParsedHead head;
  sy::http::RequestInfo info;
  explicit Request(const std::string& text) : head(text) {
    REQUIRE(head.ok());
    const char* reason = nullptr;
    REQUIRE(sy::http::analyzeRequest(head.parser, info, &reason) == 0);
  }
};

std::shared_ptr<const sy::geo::Locator> locator(const std::string& geo) {
  auto cfg = sy::config::loadConfigString(
      "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
      "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n"
      "regions:\n"
      "  eu-west: {lat: 53.35, lon: -6.26}\n"
      "  us-east: {lat: 38.95, lon: -77.45}\n" +
          geo,
      "t.yaml");
  if (!cfg) FAIL(cfg.error().format());
  auto loc = sy::geo::Locator::create(*cfg);
  REQUIRE(loc.has_value());
  return *loc;
}

SelectionInputs inputs(const PolicyNeeds& needs, const sy::geo::Locator* geo, const char* peer,
                       const std::string& request) {
  Request r(request);
  sockaddr_storage ss = addr(peer);
  const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
  return computeSelectionInputs(needs, geo, sa, sa, r.head.parser, r.info);
}

uint64_t ipHash(const char* ip) {
  sockaddr_storage ss = addr(ip);
  return hashKeyBytes(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, 4);
}

}  // namespace

TEST_CASE("selection inputs: nothing is computed unless the policy needs it") {
  auto geo = locator("");
  SelectionInputs in = inputs({}, geo.get(), "127.0.0.1",
                              "GET / HTTP/1.1\r\nHost: a\r\nX-Client-Region: eu-west\r\n\r\n");
  CHECK(in.location.source == LocationSource::kNone);
  CHECK(in.hashKey == 0);
}

TEST_CASE("selection inputs: hash keys") {
  sy::config::HashKey key;
  PolicyNeeds needs;
  needs.hashKey = &key;
  const std::string req =
      "GET /cart/items?page=2 HTTP/1.1\r\nHost: a\r\nX-User: alice\r\n"
      "Cookie: theme=dark; sid=\"s-123\"\r\nCookie: lang=en\r\n\r\n";
  SUBCASE("client IP (default)") {
    CHECK(inputs(needs, nullptr, "192.0.2.7", req).hashKey == ipHash("192.0.2.7"));
    CHECK(inputs(needs, nullptr, "192.0.2.8", req).hashKey != ipHash("192.0.2.7"));
  }
  SUBCASE("header") {
    key = *sy::config::parseHashKey("header:x-user");
    CHECK(inputs(needs, nullptr, "192.0.2.7", req).hashKey == hashKeyBytes("alice"));
    CHECK(inputs(needs, nullptr, "192.0.2.9", req).hashKey == hashKeyBytes("alice"));
    // Absent: falls back to the client IP.
    CHECK(inputs(needs, nullptr, "192.0.2.7", "GET / HTTP/1.1\r\nHost: a\r\n\r\n").hashKey ==
          ipHash("192.0.2.7"));
  }
  SUBCASE("cookie") {
    key = *sy::config::parseHashKey("cookie:sid");
    CHECK(inputs(needs, nullptr, "192.0.2.7", req).hashKey == hashKeyBytes("s-123"));
    key = *sy::config::parseHashKey("cookie:lang");
    CHECK(inputs(needs, nullptr, "192.0.2.7", req).hashKey == hashKeyBytes("en"));
    key = *sy::config::parseHashKey("cookie:SID");  // cookie names are case-sensitive
    CHECK(inputs(needs, nullptr, "192.0.2.7", req).hashKey == ipHash("192.0.2.7"));
  }
  SUBCASE("path, without the query") {
    key = *sy::config::parseHashKey("path");
    CHECK(inputs(needs, nullptr, "192.0.2.7", req).hashKey == hashKeyBytes("/cart/items"));
  }
}

TEST_CASE("selection inputs: the geo header counts only from trusted proxies") {
  PolicyNeeds needs;
  needs.location = true;
  const std::string req = "GET / HTTP/1.1\r\nHost: a\r\nx-client-region: eu-west\r\n\r\n";
  SUBCASE("trusted (127.0.0.0/8 by default)") {
    auto geo = locator("");
    SelectionInputs in = inputs(needs, geo.get(), "127.0.0.1", req);
    CHECK(in.location.source == LocationSource::kHeader);
    CHECK(in.location.region == "eu-west");
  }
  SUBCASE("untrusted peer: header ignored, the next source answers") {
    auto geo = locator("geo: {trusted_proxies: [10.0.0.0/8], default_region: us-east}\n");
    SelectionInputs in = inputs(needs, geo.get(), "127.0.0.1", req);
    CHECK(in.location.source == LocationSource::kDefaultRegion);
    CHECK(in.location.region == "us-east");
    in = inputs(needs, geo.get(), "10.9.9.9", req);
    CHECK(in.location.source == LocationSource::kHeader);
  }
  SUBCASE("header disabled") {
    auto geo = locator("geo: {client_header: \"\"}\n");
    CHECK(inputs(needs, geo.get(), "127.0.0.1", req).location.source == LocationSource::kNone);
  }
  SUBCASE("no locator") {
    CHECK(inputs(needs, nullptr, "127.0.0.1", req).location.source == LocationSource::kNone);
  }
}

TEST_CASE("findCookie") {
  Request r("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1;b=2 ;  c = 3\r\n\r\n");
  std::string_view v;
  REQUIRE(sy::proxy::findCookie(r.head.parser, "b", v));
  CHECK(v == "2");
  REQUIRE(sy::proxy::findCookie(r.head.parser, "c", v));
  CHECK(v == "3");
  CHECK_FALSE(sy::proxy::findCookie(r.head.parser, "d", v));
}
