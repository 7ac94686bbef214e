// The HTTP/1.x parser on requests: heads whole and in pieces, bodies (length, chunked,
// trailers), pipelining, the header count and head size limits, malformed heads.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "switchyard/http/parser.h"
#include "test_handler.h"

using sy::http::equalsIgnoreCase;
using sy::http::Parser;
using sy::http::ParserLimits;
using sy::http::trimOws;
using sy::http::test::isError;
using sy::http::test::ParsedHead;
using sy::http::test::RecordingHandler;
using sy::http::test::Stop;

namespace {

const std::string kGet =
    "GET /search?q=proxy HTTP/1.1\r\n"
    "Host: example.com:8080\r\n"
    "User-Agent:   curl/8.0  \r\n"
    "Accept:\t*/*\t\r\n"
    "X-Empty:\r\n"
    "\r\n";

void checkGetHead(const Parser& p) {
  CHECK(p.method() == HTTP_GET);
  CHECK(p.url() == "/search?q=proxy");
  CHECK(p.versionMajor() == 1);
  CHECK(p.versionMinor() == 1);
  CHECK(p.keepAlive());
  CHECK_FALSE(p.chunked());
  CHECK_FALSE(p.hasContentLength());
  const auto& hs = p.headers();
  REQUIRE(hs.size() == 4);
  CHECK(p.view(hs[0].name) == "Host");
  CHECK(p.view(hs[0].value) == "example.com:8080");
  CHECK(p.view(hs[1].name) == "User-Agent");
  CHECK(p.view(hs[1].value) == "curl/8.0");
  CHECK(p.view(hs[2].name) == "Accept");
  CHECK(p.view(hs[2].value) == "*/*");
  CHECK(p.view(hs[3].name) == "X-Empty");
  CHECK(p.view(hs[3].value).empty());
}

// Feeds the buffer `n` bytes per execute() call; returns the last result.
Parser::Result feedInPieces(Parser& p, const std::string& buf, size_t n) {
  Parser::Result r;
  for (size_t i = 0; i < buf.size(); i += n) {
    r = p.execute(buf.data() + i, std::min(n, buf.size() - i));
    if (r.err != HPE_OK) return r;
  }
  return r;
}

}  // namespace

TEST_CASE("equalsIgnoreCase and trimOws") {
  CHECK(equalsIgnoreCase("Content-Length", "content-LENGTH"));
  CHECK_FALSE(equalsIgnoreCase("Host", "Hosts"));
  CHECK_FALSE(equalsIgnoreCase("a-b", "a_b"));
  CHECK(equalsIgnoreCase("", ""));
  CHECK(trimOws(" \t x y \t ") == "x y");
  CHECK(trimOws("   ").empty());
  CHECK(trimOws("") == "");
}

TEST_CASE("parser: request head in one execute") {
  RecordingHandler h;
  Parser p(HTTP_REQUEST, &h, ParserLimits{});
  Parser::Result r = p.execute(kGet.data(), kGet.size());
  CHECK(r.err == HPE_OK);
  CHECK(r.consumed == kGet.size());
  CHECK(h.headersCompleteCalls == 1);
  CHECK(h.messageCompleteCalls == 1);
  CHECK_FALSE(p.inMessage());
  checkGetHead(p);
}

TEST_CASE("parser: request head fed one byte at a time") {
  RecordingHandler h;
  Parser p(HTTP_REQUEST, &h, ParserLimits{});
  Parser::Result r = feedInPieces(p, kGet, 1);
  CHECK(r.err == HPE_OK);
  CHECK(h.headersCompleteCalls == 1);
  CHECK(h.messageCompleteCalls == 1);
  checkGetHead(p);
}

TEST_CASE("parser: request fed in odd-sized pieces with a body") {
  const std::string req =
      "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";
  for (size_t piece : {1u, 2u, 3u, 7u, 13u}) {
    CAPTURE(piece);
    RecordingHandler h;
    Parser p(HTTP_REQUEST, &h, ParserLimits{});
    Parser::Result r = feedInPieces(p, req, piece);
    CHECK(r.err == HPE_OK);
    REQUIRE(h.bodies.size() == 1);
    CHECK(h.bodies[0] == "hello world");
    CHECK(p.url() == "/upload");
    CHECK(p.method() == HTTP_POST);
    REQUIRE(p.headers().size() == 2);
    CHECK(p.view(p.headers()[1].name) == "Content-Length");
    CHECK(p.view(p.headers()[1].value) == "11");
  }
}

TEST_CASE("parser: inHead and headBytesSoFar while the head arrives") {
  RecordingHandler h;
  Parser p(HTTP_REQUEST, &h, ParserLimits{});
  CHECK_FALSE(p.inHead());
  const std::string req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  p.execute(req.data(), 10);
  CHECK(p.inMessage());
  CHECK(p.inHead());
  CHECK(p.base() == req.data());
  CHECK(p.headBytesSoFar(req.data() + 10) == 10);
  p.execute(req.data() + 10, req.size() - 10);
  CHECK_FALSE(p.inHead());
  CHECK(p.headBytesSoFar(req.data() + req.size()) == 0);
}

TEST_CASE("parser: content length and keep-alive") {
  SUBCASE("Content-Length is reported before the body") {
    ParsedHead ph("PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1234\r\n\r\n");
    CHECK(ph.ok());
    CHECK(ph.parser.hasContentLength());
    CHECK(ph.parser.contentLength() == 1234);
    CHECK(ph.parser.method() == HTTP_PUT);
    CHECK(ph.parser.inMessage());  // body still to come
  }
  SUBCASE("HTTP/1.1 defaults to keep-alive") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(ph.parser.keepAlive());
  }
  SUBCASE("HTTP/1.1 with Connection: close") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    CHECK_FALSE(ph.parser.keepAlive());
  }
  SUBCASE("HTTP/1.0 defaults to close") {
    ParsedHead ph("GET / HTTP/1.0\r\n\r\n");
    CHECK(ph.parser.versionMajor() == 1);
    CHECK(ph.parser.versionMinor() == 0);
    CHECK_FALSE(ph.parser.keepAlive());
  }
  SUBCASE("HTTP/1.0 with Connection: keep-alive") {
    ParsedHead ph("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(ph.parser.keepAlive());
  }
}

TEST_CASE("parser: chunked body is delivered without framing") {
  const std::string req =
      "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n"
      "1;name=value\r\n \r\n"
      "A\r\n0123456789\r\n"
      "0\r\n\r\n";
  SUBCASE("in one piece") {
    RecordingHandler h;
    Parser p(HTTP_REQUEST, &h, ParserLimits{});
    Parser::Result r = p.execute(req.data(), req.size());
    CHECK(r.err == HPE_OK);
    CHECK(r.consumed == req.size());
    REQUIRE(h.bodies.size() == 1);
    CHECK(h.bodies[0] == "hello 0123456789");
  }
  SUBCASE("byte by byte") {
    RecordingHandler h;
    Parser p(HTTP_REQUEST, &h, ParserLimits{});
    CHECK(feedInPieces(p, req, 1).err == HPE_OK);
    REQUIRE(h.bodies.size() == 1);
    CHECK(h.bodies[0] == "hello 0123456789");
  }
  SUBCASE("chunked flag visible at headers complete") {
    ParsedHead ph("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(ph.parser.chunked());
    CHECK_FALSE(ph.parser.hasContentLength());
  }
}

TEST_CASE("parser: chunked body with a small trailer section") {
  const std::string req =
      "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n";
  RecordingHandler h;
  Parser p(HTTP_REQUEST, &h, ParserLimits{});
  Parser::Result r = p.execute(req.data(), req.size());
  CHECK(r.err == HPE_OK);
  REQUIRE(h.bodies.size() == 1);
  CHECK(h.bodies[0] == "abc");
  // NOTE: trailers after a body larger than maxHeadBytes, or in a buffer that is not the one
  // the head was in, are rejected with 431 (see the report): not asserted here.
}

TEST_CASE("parser: pipelined requests with HPE_PAUSED and resume()") {
  const std::string buf =
      "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /two HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nxyz"
      "GET /three HTTP/1.1\r\nHost: c\r\n\r\n";
  const size_t len1 = std::strlen("GET /one HTTP/1.1\r\nHost: a\r\n\r\n");
  const size_t len2 = std::strlen("POST /two HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nxyz");
  RecordingHandler h;
  h.completeReturn = HPE_PAUSED;
  Parser p(HTTP_REQUEST, &h, ParserLimits{});

  Parser::Result r = p.execute(buf.data(), buf.size());
  CHECK(r.err == HPE_PAUSED);
  CHECK(r.consumed == len1);
  CHECK(h.messageCompleteCalls == 1);
  CHECK(p.url() == "/one");
  CHECK(p.view(p.headers()[0].value) == "a");

  p.resume();
  size_t off = r.consumed;
  r = p.execute(buf.data() + off, buf.size() - off);
  CHECK(r.err == HPE_PAUSED);
  CHECK(r.consumed == len2);
  CHECK(h.messageCompleteCalls == 2);
  CHECK(p.url() == "/two");
  CHECK(p.base() == buf.data() + off);
  CHECK(p.view(p.headers()[0].value) == "b");
  CHECK(h.bodies[1] == "xyz");

  p.resume();
  off += r.consumed;
  r = p.execute(buf.data() + off, buf.size() - off);
  CHECK(r.err == HPE_PAUSED);
  CHECK(off + r.consumed == buf.size());
  CHECK(h.messageCompleteCalls == 3);
  CHECK(p.url() == "/three");
  CHECK(p.view(p.headers()[0].value) == "c");
  CHECK(h.urls == std::vector<std::string>{"/one", "/two", "/three"});
}

TEST_CASE("parser: header count limit gives 431") {
  ParserLimits lim;
  lim.maxHeaders = 3;
  SUBCASE("exactly at the limit is fine") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", HTTP_REQUEST,
                  Stop::kAfterHead, lim);
    CHECK(ph.ok());
    CHECK(ph.parser.failStatus() == 0);
    CHECK(ph.parser.headers().size() == 3);
  }
  SUBCASE("one more is refused") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", HTTP_REQUEST,
                  Stop::kAfterHead, lim);
    CHECK(isError(ph.result.err));
    CHECK(ph.parser.failStatus() == 431);
    CHECK(ph.handler.headersCompleteCalls == 0);
  }
}

TEST_CASE("parser: head size limit gives 431") {
  ParserLimits lim;
  lim.maxHeadBytes = 64;
  SUBCASE("small head passes") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_REQUEST, Stop::kAfterHead, lim);
    CHECK(ph.ok());
  }
  SUBCASE("one long header value") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(100, 'v') + "\r\n\r\n",
                  HTTP_REQUEST, Stop::kAfterHead, lim);
    CHECK(isError(ph.result.err));
    CHECK(ph.parser.failStatus() == 431);
  }
  SUBCASE("long url") {
    ParsedHead ph("GET /" + std::string(100, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n",
                  HTTP_REQUEST, Stop::kAfterHead, lim);
    CHECK(isError(ph.result.err));
    CHECK(ph.parser.failStatus() == 431);
  }
  SUBCASE("many small headers, fed byte by byte") {
    std::string req = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 10; ++i) req += "X" + std::to_string(i) + ": v\r\n";
    req += "\r\n";
    RecordingHandler h;
    Parser p(HTTP_REQUEST, &h, lim);
    Parser::Result r = feedInPieces(p, req, 1);
    CHECK(isError(r.err));
    CHECK(p.failStatus() == 431);
    CHECK(h.headersCompleteCalls == 0);
  }
  SUBCASE("body bytes do not count against the head limit") {
    ParsedHead ph("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 200\r\n\r\n" +
                      std::string(200, 'b'),
                  HTTP_REQUEST, Stop::kNever, lim);
    CHECK(ph.result.err == HPE_OK);
    REQUIRE(ph.handler.bodies.size() == 1);
    CHECK(ph.handler.bodies[0].size() == 200);
  }
}

TEST_CASE("parser: malformed request heads are rejected") {
  struct Case {
    const char* name;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"},
      {"bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n"},
      {"bare LF after a header", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"},
      {"Content-Length with Transfer-Encoding",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n"},
      {"two different Content-Length",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
      {"Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd"},
      {"negative Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"},
      {"invalid chunk size",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
      {"Transfer-Encoding not ending in chunked",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"},
      {"bad version", "GET / HTTP/1.7\r\nHost: a\r\n\r\n"},
      {"control char in value", std::string("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n")},
      {"garbage method", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    ParsedHead ph(c.text, HTTP_REQUEST, Stop::kNever);
    CHECK(isError(ph.result.err));
    CHECK(ph.handler.messageCompleteCalls == 0);
  }
  // NOTE: obs-fold ("X: a\r\n b") is accepted by Parser (see the report): not asserted here.
}
