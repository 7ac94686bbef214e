#include <doctest/doctest.h>

#include "switchyard/routing/route_table.h"

using sy::config::RouteMatch;
using sy::routing::RouteTable;

namespace {

RouteMatch rm(std::string host, std::string prefix = "") {
  RouteMatch m;
  m.host = std::move(host);
  m.pathPrefix = std::move(prefix);
  return m;
}

}  // namespace

TEST_CASE("RouteTable: empty table matches nothing") {
  RouteTable t;
  CHECK(t.size() == 0);
  CHECK(t.match("example.com", "/") == -1);
  CHECK(t.match("", "") == -1);
}

TEST_CASE("RouteTable: exact host, case-insensitive") {
  RouteTable t;
  t.add(rm("API.Example.com"), 3);
  CHECK(t.size() == 1);
  CHECK(t.match("api.example.com", "/") == 3);
  CHECK(t.match("API.EXAMPLE.COM", "/x") == 3);
  CHECK(t.match("Api.Example.Com", "") == 3);
  CHECK(t.match("api.example.org", "/") == -1);
  CHECK(t.match("xapi.example.com", "/") == -1);
  CHECK(t.match("api.example.com.evil", "/") == -1);
  CHECK(t.match("example.com", "/") == -1);
  CHECK(t.match("", "/") == -1);
}

TEST_CASE("RouteTable: host with a trailing dot") {
  RouteTable t;
  t.add(rm("example.com"), 1);
  t.add(rm("*.wild.test"), 2);
  CHECK(t.match("example.com.", "/") == 1);
  CHECK(t.match("EXAMPLE.COM.", "/") == 1);
  CHECK(t.match("a.wild.test.", "/") == 2);
  CHECK(t.match("wild.test.", "/") == -1);
}

TEST_CASE("RouteTable: wildcard host") {
  RouteTable t;
  t.add(rm("*.example.com"), 7);
  CHECK(t.match("a.example.com", "/") == 7);
  CHECK(t.match("a.b.example.com", "/") == 7);
  CHECK(t.match("A.EXAMPLE.com", "/") == 7);
  CHECK(t.match("example.com", "/") == -1);
  CHECK(t.match(".example.com", "/") == -1);
  CHECK(t.match("aexample.com", "/") == -1);
  CHECK(t.match("a.example.com.evil", "/") == -1);
  CHECK(t.match("a.example.org", "/") == -1);
}

TEST_CASE("RouteTable: path prefix") {
  RouteTable t;
  t.add(rm("", "/api/"), 1);
  t.add(rm("", "/static"), 2);
  CHECK(t.match("any", "/api/v1/users") == 1);
  CHECK(t.match("any", "/api/") == 1);
  CHECK(t.match("any", "/api") == -1);
  CHECK(t.match("any", "/static/app.js") == 2);
  CHECK(t.match("any", "/static") == 2);
  CHECK(t.match("any", "/STATIC/app.js") == -1);  // paths are case-sensitive
  CHECK(t.match("any", "/") == -1);
  CHECK(t.match("any", "") == -1);
}

TEST_CASE("RouteTable: host and path together") {
  RouteTable t;
  t.add(rm("shop.example", "/cart"), 1);
  CHECK(t.match("shop.example", "/cart/items") == 1);
  CHECK(t.match("shop.example", "/other") == -1);
  CHECK(t.match("blog.example", "/cart") == -1);
}

TEST_CASE("RouteTable: first match wins") {
  RouteTable t;
  t.add(rm("api.example.com", "/v2"), 0);
  t.add(rm("api.example.com"), 1);
  t.add(rm("*.example.com", "/v2"), 2);
  t.add(rm("*.example.com"), 3);
  t.add(rm("", "/v2"), 4);
  t.add(rm(""), 5);
  CHECK(t.size() == 6);
  CHECK(t.match("api.example.com", "/v2/x") == 0);
  CHECK(t.match("api.example.com", "/v1/x") == 1);
  CHECK(t.match("www.example.com", "/v2") == 2);
  CHECK(t.match("www.example.com", "/") == 3);
  CHECK(t.match("other.test", "/v2/y") == 4);
  CHECK(t.match("other.test", "/") == 5);
  CHECK(t.match("", "/") == 5);

  SUBCASE("a catch-all first shadows everything after it") {
    RouteTable u;
    u.add(rm(""), 9);
    u.add(rm("api.example.com"), 1);
    CHECK(u.match("api.example.com", "/") == 9);
  }
}

TEST_CASE("RouteTable: the same pool index may appear on several routes") {
  RouteTable t;
  t.add(rm("a.test"), 4);
  t.add(rm("b.test"), 4);
  CHECK(t.match("a.test", "/") == 4);
  CHECK(t.match("b.test", "/") == 4);
  CHECK(t.match("c.test", "/") == -1);
}

TEST_CASE("RouteTable: find returns the route with its rewrite") {
  RouteTable t;
  t.add(rm("", "/api/"), 2, std::string("/"));
  t.add(rm("", "/"), 0);
  const RouteTable::Entry* e = t.find("a", "/api/users");
  REQUIRE(e != nullptr);
  CHECK(e->pool == 2);
  CHECK(e->rewrite);
  CHECK(e->pathPrefix == "/api/");
  CHECK(e->rewritePrefix == "/");
  e = t.find("a", "/other");
  REQUIRE(e != nullptr);
  CHECK(e->pool == 0);
  CHECK_FALSE(e->rewrite);
  RouteTable empty;
  CHECK(empty.find("a", "/") == nullptr);
}
