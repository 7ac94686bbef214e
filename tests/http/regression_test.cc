// Regressions for parser and head-rewriting bugs found by review.
#include <doctest/doctest.h>

#include <string>

#include "switchyard/http/forward.h"
#include "test_handler.h"

using namespace sy::http;
using sy::http::test::ParsedHead;
using sy::http::test::RecordingHandler;
using sy::http::test::Stop;

namespace {
std::string upstream(const ParsedHead& ph) {
  RequestInfo info;
  const char* reason = nullptr;
  REQUIRE(analyzeRequest(ph.parser, info, &reason) == 0);
  ForwardContext fc{"10.0.0.7", false};
  std::string out(upstreamRequestHeadBound(ph.parser, info, fc), '\0');
  HeadWriter w(out.data(), out.size());
  writeUpstreamRequestHead(ph.parser, info, fc, w);
  REQUIRE_FALSE(w.overflow());
  out.resize(w.size());
  return out;
}
}  // namespace

TEST_CASE("trailer fields after a chunked body are dropped, not counted as head") {
  std::string body(40000, 'x');
  std::string text = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n9c40\r\n" +
                     body + "\r\n0\r\nX-Trailer: v\r\n\r\n";
  ParsedHead ph(text, HTTP_REQUEST, Stop::kNever);
  CHECK(ph.ok());
  CHECK(ph.handler.messageCompleteCalls == 1);
  CHECK(ph.handler.bodies.at(0).size() == 40000);
  CHECK(ph.header("X-Trailer") == "<absent>");
}

TEST_CASE("a message starting inside an execute() counts its head from its own first byte") {
  RecordingHandler h;
  Parser p(HTTP_RESPONSE, &h, ParserLimits{50, 100});
  std::string text =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  Parser::Result r = p.execute(text.data(), text.size());
  CHECK(r.err == HPE_OK);
  CHECK(h.messageCompleteCalls == 2);
  CHECK(p.failStatus() == 0);
}

TEST_CASE("obs-fold in a header value is refused with 400") {
  ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n");
  CHECK_FALSE(ph.ok());
  CHECK(ph.parser.failStatus() == 400);
}

TEST_CASE("absolute-form target: its authority replaces Host upstream") {
  ParsedHead ph("GET http://target.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n");
  std::string out = upstream(ph);
  CHECK(out.find("Host: target.example\r\n") != std::string::npos);
  CHECK(out.find("other.example") == std::string::npos);
}

TEST_CASE("a Connection token naming Host does not remove Host") {
  ParsedHead ph("GET / HTTP/1.1\r\nHost: a.example\r\nConnection: Host\r\n\r\n");
  std::string out = upstream(ph);
  CHECK(out.find("Host: a.example\r\n") != std::string::npos);
}
