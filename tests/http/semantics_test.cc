// Regressions for issue 21 (HTTP semantics) through the hooks in parser.cc and forward.cc:
// obs-fold after an empty first line, dot segments and percent-encoding in routed targets,
// fragments, Host syntax, Date on every answer, transfer codings the proxy cannot relay.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "switchyard/http/forward.h"
#include "test_handler.h"

using namespace sy::http;
using sy::http::test::ParsedHead;
using sy::http::test::Stop;

TEST_CASE("issue 21: obs-fold after an empty first line is refused (400)") {
  for (const char* fold : {"Transfer-Encoding:\r\n chunked\r\n", "Transfer-Encoding:  \r\n\tchunked\r\n",
                           "X-A:\r\n b\r\n", "X-A: \r\n  \r\n b\r\n"}) {
    CAPTURE(fold);
    ParsedHead ph("POST / HTTP/1.1\r\nHost: a\r\n" + std::string(fold) +
                      "\r\n5\r\nhello\r\n0\r\n\r\n",
                  HTTP_REQUEST, Stop::kNever);
    CHECK_FALSE(ph.ok());
    CHECK(ph.handler.headersCompleteCalls == 0);
    CHECK(ph.parser.failStatus() == 400);
  }
  ParsedHead resp("HTTP/1.1 200 OK\r\nX-A:\r\n b\r\nContent-Length: 0\r\n\r\n", HTTP_RESPONSE,
                  Stop::kNever);
  CHECK_FALSE(resp.ok());
  CHECK(resp.parser.failStatus() == 400);
}

TEST_CASE("issue 21: empty header values without a fold still parse") {
  ParsedHead ph("GET / HTTP/1.1\r\nX-Empty:\r\nX-Spaces:   \r\nHost: a\r\n\r\n");
  REQUIRE(ph.ok());
  CHECK(ph.header("X-Empty") == "");
  CHECK(ph.header("X-Spaces") == "");
  CHECK(ph.header("Host") == "a");
}
