// writeUpstreamRequestHead: hop-by-hop headers, framing, X-Forwarded-*, Via, order and case,
// overflow and the bound, upgrades passed on, a route's rewrite_prefix and request_headers.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "forward_util.h"

using namespace sy::http;
using namespace sy::http::test;

// --------------------------------------------------------------- writeUpstreamRequestHead

TEST_CASE("writeUpstreamRequestHead: plain GET") {
  ParsedHead ph("GET /p?q=1 HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n");
  std::string out = upstreamHead(ph);
  CHECK(out ==
        "GET /p?q=1 HTTP/1.1\r\n"
        "Host: shop.example\r\n"
        "Accept: */*\r\n"
        "X-Forwarded-For: 10.0.0.7\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: shop.example\r\n"
        "Via: 1.1 switchyard\r\n"
        "\r\n");
  checkParses(out, HTTP_REQUEST);
}

TEST_CASE("writeUpstreamRequestHead: hop-by-hop headers are removed") {
  ParsedHead ph(
      "GET / HTTP/1.1\r\n"
      "Host: a\r\n"
      "Connection: keep-alive, X-Secret ,x-other\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "TE: trailers\r\n"
      "Trailer: X-Sum\r\n"
      "Upgrade: websocket\r\n"
      "X-Secret: hidden\r\n"
      "X-OTHER: hidden too\r\n"
      "X-Kept: yes\r\n"
      "\r\n");
  auto ls = headerLines(upstreamHead(ph));
  for (const char* gone : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
                           "Upgrade", "X-Secret", "X-Other"}) {
    CAPTURE(gone);
    CHECK(countHeader(ls, gone) == 0);
  }
  CHECK(hasLine(ls, "X-Kept: yes"));
  CHECK(hasLine(ls, "Host: a"));
}

TEST_CASE("writeUpstreamRequestHead: several Connection headers") {
  ParsedHead ph(
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-A\r\nX-A: 1\r\nX-B: 2\r\n"
      "Connection: X-B\r\nX-C: 3\r\n\r\n");
  auto ls = headerLines(upstreamHead(ph));
  CHECK(countHeader(ls, "X-A") == 0);
  CHECK(countHeader(ls, "X-B") == 0);
  CHECK(hasLine(ls, "X-C: 3"));
}

TEST_CASE("writeUpstreamRequestHead: framing is re-derived") {
  SUBCASE("Content-Length") {
    ParsedHead ph("POST /f HTTP/1.1\r\nHost: a\r\ncontent-length: 42\r\n\r\n");
    auto ls = headerLines(upstreamHead(ph));
    CHECK(countHeader(ls, "Content-Length") == 1);
    CHECK(hasLine(ls, "Content-Length: 42"));
    CHECK(countHeader(ls, "Transfer-Encoding") == 0);
  }
  SUBCASE("Content-Length: 0") {
    ParsedHead ph("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    CHECK(hasLine(headerLines(upstreamHead(ph)), "Content-Length: 0"));
  }
  SUBCASE("chunked") {
    ParsedHead ph(
        "POST /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
    std::string out = upstreamHead(ph);  // ("gzip, chunked" is refused: semantics_test.cc)
    auto ls = headerLines(out);
    CHECK(countHeader(ls, "Transfer-Encoding") == 1);
    CHECK(hasLine(ls, "Transfer-Encoding: chunked"));
    CHECK(countHeader(ls, "Content-Length") == 0);
    checkParses(out, HTTP_REQUEST);
  }
  SUBCASE("no body") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    auto ls = headerLines(upstreamHead(ph));
    CHECK(countHeader(ls, "Content-Length") == 0);
    CHECK(countHeader(ls, "Transfer-Encoding") == 0);
  }
}

TEST_CASE("writeUpstreamRequestHead: X-Forwarded-*") {
  SUBCASE("X-Forwarded-For lines are merged, then the client address") {
    ParsedHead ph(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n"
        "X-Forwarded-For:  \r\nx-forwarded-for: 3.3.3.3\r\n\r\n");
    auto ls = headerLines(upstreamHead(ph, "192.0.2.9"));
    CHECK(countHeader(ls, "X-Forwarded-For") == 1);
    CHECK(hasLine(ls, "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 192.0.2.9"));
  }
  SUBCASE("IPv6 client") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(hasLine(headerLines(upstreamHead(ph, "2001:db8::1")), "X-Forwarded-For: 2001:db8::1"));
  }
  SUBCASE("X-Forwarded-Proto follows the listener, client values are replaced") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n");
    auto plain = headerLines(upstreamHead(ph, "10.0.0.1", false));
    CHECK(countHeader(plain, "X-Forwarded-Proto") == 1);
    CHECK(hasLine(plain, "X-Forwarded-Proto: http"));
    auto tls = headerLines(upstreamHead(ph, "10.0.0.1", true));
    CHECK(countHeader(tls, "X-Forwarded-Proto") == 1);
    CHECK(hasLine(tls, "X-Forwarded-Proto: https"));
  }
  SUBCASE("X-Forwarded-Host is the original Host, client values are replaced") {
    ParsedHead ph(
        "GET / HTTP/1.1\r\nHost: www.example:8080\r\nX-Forwarded-Host: evil\r\n\r\n");
    auto ls = headerLines(upstreamHead(ph));
    CHECK(countHeader(ls, "X-Forwarded-Host") == 1);
    CHECK(hasLine(ls, "X-Forwarded-Host: www.example:8080"));
    CHECK(hasLine(ls, "Host: www.example:8080"));
  }
  SUBCASE("HTTP/1.0 without Host: no X-Forwarded-Host, no Host invented") {
    ParsedHead ph("GET / HTTP/1.0\r\n\r\n");
    auto ls = headerLines(upstreamHead(ph));
    CHECK(countHeader(ls, "X-Forwarded-Host") == 0);
    CHECK(countHeader(ls, "Host") == 0);
    CHECK(hasLine(ls, "X-Forwarded-For: 10.0.0.7"));
  }
}

TEST_CASE("writeUpstreamRequestHead: Via") {
  SUBCASE("appended to earlier hops") {
    ParsedHead ph(
        "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 edge-a\r\nvia: 1.0 edge-b, 1.1 edge-c\r\n\r\n");
    auto ls = headerLines(upstreamHead(ph));
    CHECK(countHeader(ls, "Via") == 1);
    CHECK(hasLine(ls, "Via: 1.1 edge-a, 1.0 edge-b, 1.1 edge-c, 1.1 switchyard"));
  }
  SUBCASE("HTTP/1.0 request records the received protocol version") {
    ParsedHead ph("GET / HTTP/1.0\r\nHost: a\r\n\r\n");
    std::string out = upstreamHead(ph);
    CHECK(firstLine(out) == "GET / HTTP/1.1");
    CHECK(hasLine(headerLines(out), "Via: 1.0 switchyard"));
  }
}

TEST_CASE("writeUpstreamRequestHead: Expect dropped, request line rebuilt") {
  ParsedHead ph(
      "PUT http://up.example/obj?v=2 HTTP/1.1\r\nHost: up.example\r\nContent-Length: 5\r\n"
      "Expect: 100-continue\r\n\r\n");
  std::string out = upstreamHead(ph);
  auto ls = headerLines(out);
  CHECK(firstLine(out) == "PUT /obj?v=2 HTTP/1.1");
  CHECK(countHeader(ls, "Expect") == 0);
  CHECK(hasLine(ls, "Host: up.example"));
  CHECK(hasLine(ls, "Content-Length: 5"));
}

TEST_CASE("writeUpstreamRequestHead: end-to-end header order and case are preserved") {
  ParsedHead ph(
      "DELETE /item/7 HTTP/1.1\r\nx-first: 1\r\nHost: a\r\nCookie: k=v; k2=v2\r\n"
      "X-Dup: one\r\nX-Dup: two\r\n\r\n");
  std::string out = upstreamHead(ph);
  CHECK(firstLine(out) == "DELETE /item/7 HTTP/1.1");
  auto ls = headerLines(out);
  REQUIRE(ls.size() >= 5);
  CHECK(ls[0] == "x-first: 1");
  CHECK(ls[1] == "Host: a");
  CHECK(ls[2] == "Cookie: k=v; k2=v2");
  CHECK(ls[3] == "X-Dup: one");
  CHECK(ls[4] == "X-Dup: two");
}

TEST_CASE("writeUpstreamRequestHead: overflow is reported") {
  ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(200, 'p') + "\r\n\r\n");
  Analyzed a = analyze(ph);
  REQUIRE(a.status == 0);
  char small[64];
  HeadWriter w(small, sizeof small);
  writeUpstreamRequestHead(ph.parser, a.info, ForwardContext{"10.0.0.1", false}, w);
  CHECK(w.overflow());
}

TEST_CASE("upstreamRequestHeadBound covers the written head") {
  ParsedHead ph(
      "POST http://a-rather-long-authority.example:65535/very/long/target?with=query HTTP/1.1\r\n"
      "Host: a-rather-long-authority.example:65535\r\nX-Forwarded-For: 1.2.3.4\r\n"
      "Via: 1.1 somewhere\r\nTransfer-Encoding: chunked\r\n\r\n");
  Analyzed a = analyze(ph);
  REQUIRE(a.status == 0);
  ForwardContext fc{"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", true};
  size_t bound = upstreamRequestHeadBound(ph.parser, a.info, fc);
  std::string out(bound, '\0');
  HeadWriter w(out.data(), out.size());
  writeUpstreamRequestHead(ph.parser, a.info, fc, w);
  CHECK_FALSE(w.overflow());
  CHECK(w.size() <= bound);
}

TEST_CASE("writeUpstreamRequestHead: an eligible upgrade is passed on, others are dropped") {
  SUBCASE("websocket") {
    ParsedHead ph("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    std::string out = upstreamHead(ph);
    auto ls = headerLines(out);
    CHECK(hasLine(ls, "Connection: upgrade"));
    CHECK(hasLine(ls, "Upgrade: websocket"));
    CHECK(hasLine(ls, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="));
    CHECK(countHeader(ls, "connection") == 1);
    CHECK(countHeader(ls, "upgrade") == 1);
    ParsedHead again(out);
    CHECK(again.ok());
    CHECK(again.parser.upgrade());
  }
  SUBCASE("h2c") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                  "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
    auto ls = headerLines(upstreamHead(ph));
    CHECK(countHeader(ls, "connection") == 0);
    CHECK(countHeader(ls, "upgrade") == 0);
    CHECK(countHeader(ls, "http2-settings") == 0);
  }
}

TEST_CASE("writeUpstreamRequestHead: rewrite_prefix") {
  auto rewritten = [](const std::string& target, std::string_view strip, std::string_view to) {
    ParsedHead ph("GET " + target + " HTTP/1.1\r\nHost: a\r\nX-Forwarded-Prefix: /spoof\r\n\r\n");
    ForwardContext fc{"10.0.0.7", false};
    fc.rewrite = true;
    fc.stripPrefix = strip;
    fc.newPrefix = to;
    std::string out = upstreamHeadWith(ph, fc);
    auto ls = headerLines(out);
    CHECK(countHeader(ls, "x-forwarded-prefix") == 1);
    CHECK(hasLine(ls, "X-Forwarded-Prefix: " + std::string(strip)));
    checkParses(out, HTTP_REQUEST);
    std::string line = firstLine(out);
    return line.substr(4, line.size() - 4 - 9);  // between "GET " and " HTTP/1.1"
  };
  CHECK(rewritten("/api/users?id=1", "/api", "/") == "/users?id=1");
  CHECK(rewritten("/api/users", "/api/", "/") == "/users");
  CHECK(rewritten("/api", "/api", "/") == "/");
  CHECK(rewritten("/api?x", "/api", "/") == "/?x");
  CHECK(rewritten("/api/users", "/api", "/v2") == "/v2/users");
  CHECK(rewritten("/api/users", "/api/", "/v2/") == "/v2/users");
  CHECK(rewritten("/apix", "/api", "/v2") == "/v2x");
  CHECK(rewritten("/old/a/b", "/old/", "/new/") == "/new/a/b");
}

TEST_CASE("writeUpstreamRequestHead: a route's request_headers") {
  sy::config::HeaderRules rules;
  rules.set = {{"Host", "api.internal"}, {"X-Env", "prod"}, {"X-Forwarded-Proto", "https"}};
  rules.remove = {"cookie", "Via", "x-forwarded-for"};
  ParsedHead ph("GET /a HTTP/1.1\r\nHost: shop.example\r\nCookie: s=1\r\nX-Env: dev\r\n"
                "Accept: */*\r\nVia: 1.1 edge\r\n\r\n");
  ForwardContext fc{"10.0.0.7", false};
  fc.edits = &rules;
  std::string out = upstreamHeadWith(ph, fc);
  CHECK(out ==
        "GET /a HTTP/1.1\r\n"
        "Accept: */*\r\n"
        "X-Forwarded-Host: shop.example\r\n"
        "Host: api.internal\r\n"
        "X-Env: prod\r\n"
        "X-Forwarded-Proto: https\r\n"
        "\r\n");
  checkParses(out, HTTP_REQUEST);
  // Empty rules change nothing.
  sy::config::HeaderRules none;
  ParsedHead plain("GET /p?q=1 HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n");
  ForwardContext fc2{"10.0.0.7", false};
  fc2.edits = &none;
  CHECK(upstreamHeadWith(plain, fc2) == upstreamHead(plain));
}
