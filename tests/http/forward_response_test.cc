// The response side of forward.h: chooseResponseBody, writeClientResponseHead (hop-by-hop,
// framing, Connection, 101, a route's response_headers), writeLocalResponse, reasonPhrase.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "forward_util.h"

using namespace sy::http;
using namespace sy::http::test;

// -------------------------------------------------------------------- chooseResponseBody

TEST_CASE("chooseResponseBody") {
  SUBCASE("answer to HEAD") {
    ParsedHead r("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", HTTP_RESPONSE);
    CHECK(chooseResponseBody(r.parser, true, false) == ResponseBody::kNone);
  }
  SUBCASE("1xx, 204, 304") {
    for (const char* t : {"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\n\r\n",
                          "HTTP/1.1 204 No Content\r\n\r\n",
                          "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"}) {
      CAPTURE(t);
      ParsedHead r(t, HTTP_RESPONSE);
      CHECK(chooseResponseBody(r.parser, false, false) == ResponseBody::kNone);
      CHECK(chooseResponseBody(r.parser, false, true) == ResponseBody::kNone);
    }
  }
  SUBCASE("Content-Length") {
    ParsedHead r("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", HTTP_RESPONSE);
    CHECK(chooseResponseBody(r.parser, false, false) == ResponseBody::kContentLength);
    CHECK(chooseResponseBody(r.parser, false, true) == ResponseBody::kContentLength);
  }
  SUBCASE("chunked") {
    ParsedHead r("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_RESPONSE);
    CHECK(chooseResponseBody(r.parser, false, false) == ResponseBody::kChunked);
    CHECK(chooseResponseBody(r.parser, false, true) == ResponseBody::kUntilClose);
  }
  SUBCASE("read until close") {
    ParsedHead r("HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", HTTP_RESPONSE);
    CHECK(r.parser.needsEof());
    CHECK(chooseResponseBody(r.parser, false, false) == ResponseBody::kChunked);
    CHECK(chooseResponseBody(r.parser, false, true) == ResponseBody::kUntilClose);
  }
}

// -------------------------------------------------------------- writeClientResponseHead

TEST_CASE("writeClientResponseHead: Content-Length response to a 1.1 client") {
  ParsedHead r(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
      "X-Backend: b1\r\n\r\n",
      HTTP_RESPONSE);
  std::string out = clientHead(r, ResponseBody::kContentLength, false, false);
  CHECK(out ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/plain\r\n"
        "X-Backend: b1\r\n"
        "Date: <date>\r\n"
        "Content-Length: 12\r\n"
        "Via: 1.1 switchyard\r\n"
        "\r\n");
  checkParses(out, HTTP_RESPONSE);
}

TEST_CASE("writeClientResponseHead: hop-by-hop headers stripped") {
  ParsedHead r(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nKeep-Alive: timeout=5\r\n"
      "X-Internal: secret\r\nUpgrade: h2c\r\nTrailer: X-Sum\r\nProxy-Connection: close\r\n"
      "Transfer-Encoding: chunked\r\nX-Kept: 1\r\n\r\n",
      HTTP_RESPONSE);
  std::string out = clientHead(r, ResponseBody::kChunked, false, false);
  auto ls = headerLines(out);
  for (const char* gone :
       {"Keep-Alive", "X-Internal", "Upgrade", "Trailer", "Proxy-Connection", "Connection"}) {
    CAPTURE(gone);
    CHECK(countHeader(ls, gone) == 0);
  }
  CHECK(countHeader(ls, "Transfer-Encoding") == 1);
  CHECK(hasLine(ls, "Transfer-Encoding: chunked"));
  CHECK(hasLine(ls, "X-Kept: 1"));
  CHECK(hasLine(ls, "Via: 1.1 switchyard"));
  checkParses(out, HTTP_RESPONSE);
}

TEST_CASE("writeClientResponseHead: framing header per body kind") {
  SUBCASE("until-close body for an HTTP/1.0 client closes the connection") {
    ParsedHead r("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_RESPONSE);
    auto ls = headerLines(clientHead(r, ResponseBody::kUntilClose, true, true));
    CHECK(countHeader(ls, "Transfer-Encoding") == 0);
    CHECK(countHeader(ls, "Content-Length") == 0);
    CHECK(hasLine(ls, "Connection: close"));
  }
  SUBCASE("read-until-close upstream re-framed as chunked for 1.1") {
    ParsedHead r("HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\n", HTTP_RESPONSE);
    std::string out = clientHead(r, ResponseBody::kChunked, false, false);
    CHECK(firstLine(out) == "HTTP/1.1 200 OK");
    CHECK(hasLine(headerLines(out), "Transfer-Encoding: chunked"));
  }
  SUBCASE("HEAD answer keeps its Content-Length") {
    ParsedHead r("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", HTTP_RESPONSE);
    auto ls = headerLines(clientHead(r, ResponseBody::kNone, false, false));
    CHECK(countHeader(ls, "Content-Length") == 1);
    CHECK(hasLine(ls, "Content-Length: 1000"));
  }
  SUBCASE("204 gets no framing header") {
    ParsedHead r("HTTP/1.1 204 No Content\r\n\r\n", HTTP_RESPONSE);
    std::string out = clientHead(r, ResponseBody::kNone, false, false);
    CHECK(out == "HTTP/1.1 204 No Content\r\nDate: <date>\r\nVia: 1.1 switchyard\r\n\r\n");
  }
}

TEST_CASE("writeClientResponseHead: Connection header for the client") {
  ParsedHead r("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
               HTTP_RESPONSE);
  SUBCASE("close after") {
    auto ls = headerLines(clientHead(r, ResponseBody::kContentLength, true, false));
    CHECK(countHeader(ls, "Connection") == 1);
    CHECK(hasLine(ls, "Connection: close"));
  }
  SUBCASE("kept-alive 1.1 client: no Connection header") {
    auto ls = headerLines(clientHead(r, ResponseBody::kContentLength, false, false));
    CHECK(countHeader(ls, "Connection") == 0);
  }
  SUBCASE("kept-alive 1.0 client") {
    auto ls = headerLines(clientHead(r, ResponseBody::kContentLength, false, true));
    CHECK(countHeader(ls, "Connection") == 1);
    CHECK(hasLine(ls, "Connection: keep-alive"));
  }
  SUBCASE("closing 1.0 client") {
    auto ls = headerLines(clientHead(r, ResponseBody::kContentLength, true, true));
    CHECK(countHeader(ls, "Connection") == 1);
    CHECK(hasLine(ls, "Connection: close"));
  }
}

TEST_CASE("writeClientResponseHead: missing reason phrase is filled in") {
  ParsedHead r("HTTP/1.1 502 \r\nContent-Length: 0\r\n\r\n", HTTP_RESPONSE);
  std::string out = clientHead(r, ResponseBody::kContentLength, false, false);
  CHECK(firstLine(out) == "HTTP/1.1 502 Bad Gateway");
}

TEST_CASE("writeClientResponseHead: overflow") {
  ParsedHead r("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: " + std::string(100, 'p') +
                   "\r\n\r\n",
               HTTP_RESPONSE);
  char small[40];
  HeadWriter w(small, sizeof small);
  writeClientResponseHead(r.parser, ResponseBody::kContentLength, false, false, w);
  CHECK(w.overflow());
}

// ----------------------------------------------------------------- writeLocalResponse

TEST_CASE("writeLocalResponse") {
  char buf[512];
  SUBCASE("with body") {
    size_t n = writeLocalResponse(404, "no route\n", false, false, buf, sizeof buf);
    CHECK(maskDate(std::string(buf, n)) ==
          "HTTP/1.1 404 Not Found\r\n"
          "Content-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 9\r\n"
          "Server: switchyard\r\n"
          "Date: <date>\r\n"
          "\r\n"
          "no route\n");
    ParsedHead again(std::string(buf, n), HTTP_RESPONSE, Stop::kNever);
    CHECK(again.result.err == HPE_OK);
    REQUIRE(again.handler.bodies.size() == 1);
    CHECK(again.handler.bodies[0] == "no route\n");
  }
  SUBCASE("close") {
    size_t n = writeLocalResponse(503, "busy\n", true, false, buf, sizeof buf);
    std::string s(buf, n);
    CHECK(firstLine(s) == "HTTP/1.1 503 Service Unavailable");
    CHECK(hasLine(headerLines(s.substr(0, s.find("\r\n\r\n") + 4)), "Connection: close"));
    CHECK(s.ends_with("\r\n\r\nbusy\n"));
  }
  SUBCASE("HEAD: Content-Length of the body, no body bytes") {
    size_t n = writeLocalResponse(400, "bad\n", false, true, buf, sizeof buf);
    std::string s(buf, n);
    CHECK(s.find("Content-Length: 4\r\n") != std::string::npos);
    CHECK(s.ends_with("\r\n\r\n"));
  }
  SUBCASE("unknown status") {
    size_t n = writeLocalResponse(599, "x\n", false, false, buf, sizeof buf);
    CHECK(firstLine(std::string(buf, n)) == "HTTP/1.1 599 Unknown");
  }
  SUBCASE("overflow returns 0") {
    CHECK(writeLocalResponse(502, "upstream failed\n", true, false, buf, 40) == 0);
  }
}

TEST_CASE("reasonPhrase") {
  CHECK(reasonPhrase(200) == "OK");
  CHECK(reasonPhrase(413) == "Content Too Large");
  CHECK(reasonPhrase(414) == "URI Too Long");
  CHECK(reasonPhrase(431) == "Request Header Fields Too Large");
  CHECK(reasonPhrase(504) == "Gateway Timeout");
  CHECK(reasonPhrase(299) == "Unknown");
}

TEST_CASE("writeClientResponseHead: 101 Switching Protocols keeps its upgrade headers") {
  ParsedHead r("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
               HTTP_RESPONSE);
  REQUIRE(r.parser.upgrade());
  CHECK(upgradeHeader(r.parser) == "websocket");
  std::string out = clientHead(r, ResponseBody::kNone, true, false);
  CHECK(out ==
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        "Date: <date>\r\n"
        "Via: 1.1 switchyard\r\n"
        "Connection: upgrade\r\n"
        "Upgrade: websocket\r\n"
        "\r\n");
  // A 101 without the upgrade headers is not a switch (llhttp reads it as an interim answer).
  ParsedHead bare("HTTP/1.1 101 Switching Protocols\r\n\r\n", HTTP_RESPONSE);
  CHECK_FALSE(bare.parser.upgrade());
}

TEST_CASE("writeClientResponseHead: a route's response_headers") {
  sy::config::HeaderRules rules;
  rules.set = {{"Strict-Transport-Security", "max-age=31536000"}, {"Cache-Control", "no-store"}};
  rules.remove = {"server", "Via", "X-Request-Id"};
  ParsedHead r("HTTP/1.1 200 OK\r\nServer: gunicorn\r\nCache-Control: public\r\n"
               "X-Backend: b1\r\nContent-Length: 2\r\n\r\n",
               HTTP_RESPONSE);
  std::string out = clientHead(r, ResponseBody::kContentLength, false, false,
                               "5a1458dc7766899194cca4cd6014c297", &rules);
  CHECK(out ==
        "HTTP/1.1 200 OK\r\n"
        "X-Backend: b1\r\n"
        "Strict-Transport-Security: max-age=31536000\r\n"
        "Cache-Control: no-store\r\n"
        "Date: <date>\r\n"
        "Content-Length: 2\r\n"
        "\r\n");
  checkParses(out, HTTP_RESPONSE);
}
