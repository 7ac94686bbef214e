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

// ---------------------------------------------------------------------------------------------
// match.headers, match.methods, match.query

#include <llhttp.h>

#include "switchyard/http/request_head.h"

namespace {

using sy::http::Field;
using sy::http::FieldsView;
using sy::routing::RouteRequest;

RouteRequest rq(const FieldsView* f, uint8_t method = HTTP_GET, std::string_view query = "",
                std::string_view path = "/") {
  RouteRequest r;
  r.host = "h.test";
  r.path = path;
  r.query = query;
  r.method = method;
  r.fields = f;
  return r;
}

}  // namespace

TEST_CASE("RouteTable: header conditions, case-insensitive names, exact values, \"*\" present") {
  RouteMatch m;
  m.headers = {{"X-Env", "beta"}, {"X-Token", "*"}};
  RouteTable t;
  t.add(m, 1);
  Field both[] = {{"x-env", "beta"}, {"X-TOKEN", ""}};
  Field wrongValue[] = {{"x-env", "Beta"}, {"X-Token", "a"}};
  Field missing[] = {{"x-env", "beta"}};
  Field repeated[] = {{"x-env", "alpha"}, {"x-env", " beta "}, {"x-token", "t"}};
  FieldsView f1(both, 2), f2(wrongValue, 2), f3(missing, 1), f4(repeated, 3);
  CHECK(t.find(rq(&f1)) != nullptr);
  CHECK(t.find(rq(&f2)) == nullptr);
  CHECK(t.find(rq(&f3)) == nullptr);
  CHECK(t.find(rq(&f4)) != nullptr);  // any line of that name may match (OWS trimmed)
  CHECK(t.find(rq(nullptr)) == nullptr);
  CHECK(t.match("h.test", "/") == -1);  // no fields given: header conditions cannot hold
}

TEST_CASE("RouteTable: method conditions, first match wins") {
  RouteMatch post;
  post.methods = {"POST", "PUT"};
  RouteTable t;
  t.add(post, 1);
  t.add(RouteMatch{}, 2);
  FieldsView none;
  CHECK(t.find(rq(&none, HTTP_POST))->pool == 1);
  CHECK(t.find(rq(&none, HTTP_PUT))->pool == 1);
  CHECK(t.find(rq(&none, HTTP_GET))->pool == 2);
  CHECK(t.find(rq(&none, HTTP_DELETE))->pool == 2);
}

TEST_CASE("RouteTable: query conditions on decoded keys and values") {
  RouteMatch m;
  m.query = {{"v", "2 beta"}, {"debug", "*"}};
  m.pathPrefix = "/api";
  RouteTable t;
  t.add(m, 1);
  FieldsView none;
  CHECK(t.find(rq(&none, HTTP_GET, "v=2+beta&debug", "/api/x")) != nullptr);
  CHECK(t.find(rq(&none, HTTP_GET, "debug=&v=2%20beta", "/api")) != nullptr);
  CHECK(t.find(rq(&none, HTTP_GET, "%76=2%20beta&debug=1", "/api")) != nullptr);  // %76 = v
  CHECK(t.find(rq(&none, HTTP_GET, "v=2%20beta", "/api")) == nullptr);
  CHECK(t.find(rq(&none, HTTP_GET, "v=2&debug", "/api")) == nullptr);
  CHECK(t.find(rq(&none, HTTP_GET, "v=2+beta&debug", "/other")) == nullptr);
  CHECK(t.find(rq(&none, HTTP_GET, "", "/api")) == nullptr);
}

TEST_CASE("queryEquals and queryHas") {
  using sy::routing::queryEquals;
  using sy::routing::queryHas;
  CHECK(queryEquals("a%2Fb", "a/b"));
  CHECK(queryEquals("a%2fb", "a/b"));
  CHECK(queryEquals("100%", "100%"));       // a lone '%' stands for itself
  CHECK(queryEquals("%zz", "%zz"));
  CHECK(queryEquals("%4", "%4"));
  CHECK(queryEquals("a+b", "a b"));
  CHECK_FALSE(queryEquals("a+b", "a+b"));
  CHECK_FALSE(queryEquals("ab", "abc"));
  CHECK_FALSE(queryEquals("abc", "ab"));
  CHECK(queryEquals("", ""));
  CHECK(queryHas("a=1&b=2&a=3", "a", "3"));
  CHECK(queryHas("a=1&&b", "b", "*"));
  CHECK(queryHas("b", "b", ""));
  CHECK_FALSE(queryHas("", "b", "*"));
  CHECK_FALSE(queryHas("ab=1", "a", "*"));
}

TEST_CASE("RouteTable: a split route keeps its sides, weights and key") {
  sy::config::Route r;
  r.split = {{"s", 95, {}}, {"c", 5, {}}};
  r.splitKey = sy::config::HashKey{sy::config::HashKey::Kind::kHeader, "X-User"};
  RouteTable t;
  t.add(r, [](const std::string& name) { return name == "s" ? 4u : 6u; });
  const RouteTable::Entry* e = t.find("x", "/");
  REQUIRE(e != nullptr);
  REQUIRE(e->split.size() == 2);
  CHECK(e->pool == 4);
  CHECK(e->split[1].pool == 6);
  CHECK(e->splitTotal == 100);
  CHECK(e->splitKey->name == "X-User");
}
