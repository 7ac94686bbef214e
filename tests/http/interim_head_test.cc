// writeInterimHead (response_head.cc): the 1xx heads relayed to HTTP/1.1 clients.
#include <doctest/doctest.h>

#include <string>

#include "switchyard/http/forward.h"
#include "test_handler.h"

using namespace sy::http;
using sy::http::test::ParsedHead;

namespace {

std::string interim(const ParsedHead& resp) {
  REQUIRE(resp.ok());
  REQUIRE(resp.handler.headersCompleteCalls == 1);
  const size_t bound = clientResponseHeadBound(resp.parser);  // what the connection allocates
  std::string out(bound, '\0');
  HeadWriter w(out.data(), out.size());
  writeInterimHead(resp.parser, w);
  REQUIRE_FALSE(w.overflow());
  out.resize(w.size());
  return out;
}

}  // namespace

TEST_CASE("writeInterimHead: 103 Early Hints as received") {
  ParsedHead r(
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nLink: </b.js>; rel=preload\r\n\r\n",
      HTTP_RESPONSE);
  CHECK(interim(r) ==
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
        "Link: </b.js>; rel=preload\r\n\r\n");
}

TEST_CASE("writeInterimHead: hop-by-hop fields and those named by Connection are removed") {
  ParsedHead r(
      "HTTP/1.1 103 Early Hints\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
      "X-Hop: secret\r\nLink: </a.css>; rel=preload\r\nTransfer-Encoding: chunked\r\n"
      "Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\n"
      "X-End: 1\r\n\r\n",
      HTTP_RESPONSE);
  CHECK(interim(r) ==
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nX-End: 1\r\n\r\n");
}

TEST_CASE("writeInterimHead: the status line") {
  SUBCASE("an empty reason gets the standard phrase") {
    ParsedHead r("HTTP/1.1 103 \r\nLink: </a>\r\n\r\n", HTTP_RESPONSE);
    CHECK(interim(r) == "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
  }
  SUBCASE("the backend's own reason is kept") {
    ParsedHead r("HTTP/1.1 102 Still Working\r\n\r\n", HTTP_RESPONSE);
    CHECK(interim(r) == "HTTP/1.1 102 Still Working\r\n\r\n");
  }
  SUBCASE("always HTTP/1.1 towards the client, whatever the backend spoke") {
    ParsedHead r("HTTP/1.0 103 Early Hints\r\nLink: </x>\r\n\r\n", HTTP_RESPONSE);
    CHECK(interim(r) == "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n");
  }
  SUBCASE("no fields") {
    ParsedHead r("HTTP/1.1 100 Continue\r\n\r\n", HTTP_RESPONSE);
    CHECK(interim(r) == "HTTP/1.1 100 Continue\r\n\r\n");
  }
}

TEST_CASE("writeInterimHead: no Via, framing or X-Request-Id added") {
  // Unlike the final head, an interim head is relayed as received: nothing frames a 1xx.
  ParsedHead r("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nX-Request-Id: backend-1\r\n\r\n",
               HTTP_RESPONSE);
  const std::string out = interim(r);
  CHECK(out.find("Via:") == std::string::npos);
  CHECK(out.find("Content-Length") == std::string::npos);
  CHECK(out.find("X-Request-Id: backend-1\r\n") != std::string::npos);
}

TEST_CASE("writeInterimHead: the relayed head parses, and the final answer after it too") {
  ParsedHead r("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nConnection: close\r\n\r\n",
               HTTP_RESPONSE);
  std::string both = interim(r) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  ParsedHead again(both, HTTP_RESPONSE, sy::http::test::Stop::kNever);
  CHECK(again.ok());
  CHECK(again.handler.headersCompleteCalls == 2);
  CHECK(again.handler.messageCompleteCalls == 2);
  REQUIRE(again.handler.bodies.size() == 2);
  CHECK(again.handler.bodies[1] == "ok");
}

TEST_CASE("writeInterimHead: overflow is reported") {
  ParsedHead r("HTTP/1.1 103 Early Hints\r\nLink: </a-long-enough-name.css>; rel=preload\r\n\r\n",
               HTTP_RESPONSE);
  REQUIRE(r.ok());
  char buf[40];
  HeadWriter w(buf, sizeof buf);
  writeInterimHead(r.parser, w);
  CHECK(w.overflow());
}
