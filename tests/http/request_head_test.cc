// The protocol-neutral request head (request_head.h): FieldsView over an llhttp-parsed head and
// over a Field array, RequestHead::fromParser and methodFromName. request_head_h2_test.cc has
// the HTTP/2 rules analyzeRequest and writeUpstreamRequestHead apply.
#include "switchyard/http/request_head.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "switchyard/http/forward.h"
#include "test_handler.h"

using namespace sy::http;
using sy::http::test::ParsedHead;

// ------------------------------------------------------------------------------ FieldsView

TEST_CASE("FieldsView: empty by default") {
  FieldsView f;
  CHECK(f.size() == 0);
  CHECK(f.bytes() == 0);
}

TEST_CASE("FieldsView over a parsed head: names, values, sizes and bytes as sent") {
  ParsedHead ph(
      "GET /x HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nACCEPT:  text/html \r\n"
      "x-dup: 1\r\nX-Dup: 2\r\n\r\n");
  REQUIRE(ph.ok());
  const FieldsView f(ph.parser);
  REQUIRE(f.size() == 5);
  CHECK(f.name(0) == "Host");
  CHECK(f.value(0) == "example.com");
  CHECK(f.name(1) == "X-Empty");
  CHECK(f.value(1) == "");
  CHECK(f.name(2) == "ACCEPT");  // case kept
  CHECK(f.value(2) == "text/html");  // llhttp drops the OWS around the value
  CHECK(f.name(3) == "x-dup");
  CHECK(f.value(3) == "1");
  CHECK(f.name(4) == "X-Dup");
  CHECK(f.value(4) == "2");
  size_t bytes = 0;
  for (uint32_t i = 0; i < f.size(); ++i) {
    CHECK(f.nameSize(i) == f.name(i).size());
    bytes += f.name(i).size() + f.value(i).size();
  }
  CHECK(f.bytes() == bytes);
  CHECK(f.bytes() == 4 + 11 + 7 + 0 + 6 + 9 + 5 + 1 + 5 + 1);
  // Views point into the parsed bytes: nothing was copied.
  const char* begin = ph.text.data();
  CHECK(f.name(0).data() >= begin);
  CHECK(f.value(4).data() < begin + ph.text.size());
}

TEST_CASE("FieldsView over a parsed head follows rebase()") {
  // The parser records spans from the head's first byte: a view made after the bytes moved
  // (and the parser was rebased) reads the new copy.
  ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\r\n");
  REQUIRE(ph.ok());
  std::string copy = ph.text;
  ph.text.assign(ph.text.size(), '#');  // the old bytes are gone
  ph.parser.rebase(copy.data());
  const FieldsView f(ph.parser);
  REQUIRE(f.size() == 2);
  CHECK(f.name(1) == "X-A");
  CHECK(f.value(1) == "one");
  CHECK(f.name(1).data() >= copy.data());
  CHECK(f.name(1).data() < copy.data() + copy.size());
}

TEST_CASE("FieldsView over a Field array") {
  const Field fields[] = {{"user-agent", "t/1"}, {"accept", ""}, {"cookie", "a=1"},
                          {"cookie", "b=2"}};
  const FieldsView f(fields, 4);
  REQUIRE(f.size() == 4);
  CHECK(f.name(0) == "user-agent");
  CHECK(f.value(0) == "t/1");
  CHECK(f.nameSize(0) == 10);
  CHECK(f.name(1) == "accept");
  CHECK(f.value(1).empty());
  CHECK(f.name(3) == "cookie");
  CHECK(f.value(3) == "b=2");
  CHECK(f.value(3).data() == fields[3].value.data());  // a view, not a copy
  CHECK(f.bytes() == 10 + 3 + 6 + 0 + 6 + 3 + 6 + 3);
  SUBCASE("a prefix of the array") {
    const FieldsView two(fields, 2);
    CHECK(two.size() == 2);
    CHECK(two.bytes() == 10 + 3 + 6);
  }
  SUBCASE("copies are cheap views of the same fields") {
    FieldsView c = f;
    CHECK(c.size() == 4);
    CHECK(c.name(2).data() == fields[2].name.data());
  }
}

TEST_CASE("upgradeHeader over a FieldsView") {
  const Field one[] = {{"upgrade", " websocket "}};
  CHECK(upgradeHeader(FieldsView(one, 1)) == "websocket");
  const Field two[] = {{"Upgrade", "websocket"}, {"upgrade", "h2c"}};
  CHECK(upgradeHeader(FieldsView(two, 2)).empty());
  CHECK(upgradeHeader(FieldsView()).empty());
}

// ------------------------------------------------------------------- RequestHead::fromParser

TEST_CASE("RequestHead::fromParser") {
  SUBCASE("POST with Content-Length") {
    ParsedHead ph("POST /submit?q=1 HTTP/1.1\r\nHost: a.example:8080\r\nContent-Length: 12\r\n\r\n");
    REQUIRE(ph.ok());
    const RequestHead h = RequestHead::fromParser(ph.parser);
    CHECK(h.method == HTTP_POST);
    CHECK(h.methodName == "POST");
    CHECK(h.target == "/submit?q=1");
    CHECK(h.versionMajor == 1);
    CHECK(h.versionMinor == 1);
    CHECK_FALSE(h.http2());
    CHECK(h.scheme.empty());
    CHECK(h.authority.empty());  // HTTP/1.1: analyzeRequest resolves Host
    CHECK(h.fields.size() == 2);
    CHECK(h.fields.name(0) == "Host");
    CHECK(h.fields.value(0) == "a.example:8080");
    CHECK(h.hasContentLength);
    CHECK(h.contentLength == 12);
    CHECK_FALSE(h.chunked);
    CHECK(h.keepAlive);
    CHECK_FALSE(h.upgradeRequested);
    CHECK_FALSE(h.bodyFollows);  // an HTTP/2 notion; HTTP/1.1 framing is chunked/length
  }
  SUBCASE("chunked, Connection: close") {
    ParsedHead ph(
        "PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    REQUIRE(ph.ok());
    const RequestHead h = RequestHead::fromParser(ph.parser);
    CHECK(h.method == HTTP_PUT);
    CHECK(h.methodName == "PUT");
    CHECK(h.chunked);
    CHECK_FALSE(h.hasContentLength);
    CHECK(h.contentLength == 0);
    CHECK_FALSE(h.keepAlive);
  }
  SUBCASE("HTTP/1.0 without keep-alive") {
    ParsedHead ph("GET /old HTTP/1.0\r\n\r\n");
    REQUIRE(ph.ok());
    const RequestHead h = RequestHead::fromParser(ph.parser);
    CHECK(h.versionMajor == 1);
    CHECK(h.versionMinor == 0);
    CHECK(h.fields.size() == 0);
    CHECK_FALSE(h.keepAlive);
  }
  SUBCASE("websocket upgrade request") {
    ParsedHead ph("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    REQUIRE(ph.handler.headersCompleteCalls == 1);
    const RequestHead h = RequestHead::fromParser(ph.parser);
    CHECK(h.upgradeRequested);
    CHECK(upgradeHeader(h.fields) == "websocket");
  }
  SUBCASE("analyzing the head equals analyzing the parser") {
    ParsedHead ph("GET /a/b?c HTTP/1.1\r\nHost: Example.COM:81\r\nExpect: 100-continue\r\n\r\n");
    REQUIRE(ph.ok());
    RequestInfo fromHead, fromParser;
    const char* r1 = nullptr;
    const char* r2 = nullptr;
    CHECK(analyzeRequest(RequestHead::fromParser(ph.parser), fromHead, &r1) == 0);
    CHECK(analyzeRequest(ph.parser, fromParser, &r2) == 0);
    CHECK(fromHead.host == fromParser.host);
    CHECK(fromHead.host == "Example.COM");
    CHECK(fromHead.authority == "Example.COM:81");
    CHECK(fromHead.target == fromParser.target);
    CHECK(fromHead.path == "/a/b");
    CHECK(fromHead.expectContinue == fromParser.expectContinue);
    CHECK_FALSE(fromHead.http2);
  }
}

// ------------------------------------------------------------------------- methodFromName

TEST_CASE("methodFromName") {
  uint8_t m = 255;
  CHECK(methodFromName("GET", m));
  CHECK(m == HTTP_GET);
  CHECK(methodFromName("DELETE", m));  // llhttp's 0
  CHECK(m == HTTP_DELETE);
  CHECK(methodFromName("PATCH", m));
  CHECK(m == HTTP_PATCH);
  CHECK(methodFromName("PROPFIND", m));  // not among the common ones
  CHECK(m == HTTP_PROPFIND);
  CHECK(methodFromName("FLUSH", m));  // the last of llhttp 8's table
  CHECK(m == HTTP_FLUSH);
  m = 77;
  CHECK_FALSE(methodFromName("get", m));  // method names are case-sensitive
  CHECK_FALSE(methodFromName("", m));
  CHECK_FALSE(methodFromName("BREW", m));
  CHECK_FALSE(methodFromName("GETX", m));
  CHECK(m == 77);  // untouched on failure
}
