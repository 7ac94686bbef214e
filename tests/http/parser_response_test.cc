// The HTTP/1.x parser on responses (HEAD, 204/304, read-until-close, finish()) and across its
// states: rebase(), fail() from a handler, reset(), upgrades and 101.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "switchyard/http/parser.h"
#include "test_handler.h"

using namespace sy::http;
using namespace sy::http::test;

TEST_CASE("parser: response head and Content-Length body") {
  const std::string resp =
      "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Backend: b1\r\n\r\nhello";
  RecordingHandler h;
  Parser p(HTTP_RESPONSE, &h, ParserLimits{});
  Parser::Result r = p.execute(resp.data(), resp.size());
  CHECK(r.err == HPE_OK);
  CHECK(p.statusCode() == 201);
  CHECK(p.reason() == "Created");
  REQUIRE(p.headers().size() == 2);
  CHECK(p.view(p.headers()[1].name) == "X-Backend");
  CHECK(p.view(p.headers()[1].value) == "b1");
  REQUIRE(h.bodies.size() == 1);
  CHECK(h.bodies[0] == "hello");
}

TEST_CASE("parser: response to HEAD has no body when the handler returns 1") {
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  RecordingHandler h;
  h.headersReturn = 1;
  Parser p(HTTP_RESPONSE, &h, ParserLimits{});
  Parser::Result r = p.execute(resp.data(), resp.size());
  CHECK(r.err == HPE_OK);
  CHECK(r.consumed == resp.size());
  CHECK(h.messageCompleteCalls == 1);
  CHECK_FALSE(p.inMessage());
  REQUIRE(h.bodies.size() == 1);
  CHECK(h.bodies[0].empty());
}

TEST_CASE("parser: 204 and 304 responses complete without a body") {
  for (const char* text : {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\n\r\n",
                           "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"}) {
    CAPTURE(std::string(text));
    ParsedHead ph(text, HTTP_RESPONSE, Stop::kNever);
    CHECK(ph.result.err == HPE_OK);
    CHECK(ph.handler.messageCompleteCalls == 1);
  }
  SUBCASE("304 with a Content-Length needs the handler to return 1") {
    // llhttp 8.1 waits for Content-Length body bytes even on a 304; the owner must say
    // "no body" from onHeadersComplete (see the report about Session).
    const std::string resp = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
    RecordingHandler h;
    h.headersReturn = 1;
    Parser p(HTTP_RESPONSE, &h, ParserLimits{});
    CHECK(p.execute(resp.data(), resp.size()).err == HPE_OK);
    CHECK(h.messageCompleteCalls == 1);
  }
}

TEST_CASE("parser: framing facts stay readable while paused at message complete") {
  const std::string req =
      "POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n";
  RecordingHandler h;
  h.completeReturn = HPE_PAUSED;
  Parser p(HTTP_REQUEST, &h, ParserLimits{});
  CHECK(p.execute(req.data(), req.size()).err == HPE_PAUSED);
  CHECK(h.messageCompleteCalls == 1);
  CHECK_FALSE(p.keepAlive());
  CHECK(p.chunked());
  CHECK_FALSE(p.needsEof());
}

TEST_CASE("parser: read-until-close response body is completed by finish()") {
  const std::string resp = "HTTP/1.1 200 OK\r\nX-Backend: b2\r\n\r\nhello ";
  RecordingHandler h;
  Parser p(HTTP_RESPONSE, &h, ParserLimits{});
  Parser::Result r = p.execute(resp.data(), resp.size());
  CHECK(r.err == HPE_OK);
  CHECK(p.needsEof());
  CHECK(p.inMessage());
  const std::string more = "world";
  CHECK(p.execute(more.data(), more.size()).err == HPE_OK);
  CHECK(h.messageCompleteCalls == 0);
  CHECK(p.finish() == HPE_OK);
  CHECK(h.messageCompleteCalls == 1);
  REQUIRE(h.bodies.size() == 1);
  CHECK(h.bodies[0] == "hello world");
}

TEST_CASE("parser: finish() reports a truncated Content-Length body") {
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
  RecordingHandler h;
  Parser p(HTTP_RESPONSE, &h, ParserLimits{});
  CHECK(p.execute(resp.data(), resp.size()).err == HPE_OK);
  CHECK_FALSE(p.needsEof());
  CHECK(isError(p.finish()));
  CHECK(h.messageCompleteCalls == 0);
}

TEST_CASE("parser: response without a reason phrase") {
  ParsedHead ph("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", HTTP_RESPONSE);
  CHECK(ph.ok());
  CHECK(ph.parser.statusCode() == 200);
  CHECK(ph.parser.reason().empty());
}

TEST_CASE("parser: rebase() after the partial head is moved") {
  const std::string req =
      "GET /moved/path HTTP/1.1\r\nHost: example.org\r\nX-Long-Name: some value\r\n"
      "Accept: text/html\r\n\r\n";
  // Split inside a header name, inside a value and inside the url.
  for (size_t split : {std::size_t{7}, std::size_t{30}, std::size_t{52}, req.size() - 1}) {
    CAPTURE(split);
    std::vector<char> a(req.size() + 64, '#');
    std::vector<char> b(req.size() + 256, '#');
    std::memcpy(a.data() + 16, req.data(), split);

    RecordingHandler h;
    Parser p(HTTP_REQUEST, &h, ParserLimits{});
    Parser::Result r = p.execute(a.data() + 16, split);
    CHECK(r.err == HPE_OK);
    REQUIRE(p.inHead());
    CHECK(p.base() == a.data() + 16);

    // Compact: move what was seen to another buffer at a different offset, wipe the old one.
    char* nb = b.data() + 100;
    std::memmove(nb, a.data() + 16, split);
    std::memset(a.data(), 'Z', a.size());
    p.rebase(nb);
    CHECK(p.base() == nb);
    CHECK(p.headBytesSoFar(nb + split) == split);

    std::memcpy(nb + split, req.data() + split, req.size() - split);
    r = p.execute(nb + split, req.size() - split);
    CHECK(r.err == HPE_OK);
    CHECK(h.messageCompleteCalls == 1);
    CHECK(p.url() == "/moved/path");
    REQUIRE(p.headers().size() == 3);
    CHECK(p.view(p.headers()[0].name) == "Host");
    CHECK(p.view(p.headers()[0].value) == "example.org");
    CHECK(p.view(p.headers()[1].name) == "X-Long-Name");
    CHECK(p.view(p.headers()[1].value) == "some value");
    CHECK(p.view(p.headers()[2].name) == "Accept");
    CHECK(p.view(p.headers()[2].value) == "text/html");
  }
}

TEST_CASE("parser: fail() from a handler sets the status") {
  struct Refuse : RecordingHandler {
    int onHeadersComplete(Parser& p) override {
      p.fail(413, "Content Too Large");
      return -1;
    }
  } h;
  Parser p(HTTP_REQUEST, &h, ParserLimits{});
  const std::string req = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999\r\n\r\n";
  Parser::Result r = p.execute(req.data(), req.size());
  CHECK(isError(r.err));
  CHECK(p.failStatus() == 413);
  CHECK(std::string(p.failReason()) == "Content Too Large");
}

TEST_CASE("parser: reset() starts over after an error") {
  RecordingHandler h;
  Parser p(HTTP_REQUEST, &h, ParserLimits{});
  const std::string bad = "GET / HTTP/1.1\r\nHost : a\r\n\r\n";
  CHECK(isError(p.execute(bad.data(), bad.size()).err));
  p.reset();
  CHECK_FALSE(p.inMessage());
  CHECK(p.failStatus() == 0);
  const std::string good = "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n";
  CHECK(p.execute(good.data(), good.size()).err == HPE_OK);
  CHECK(p.url() == "/ok");
  CHECK(h.messageCompleteCalls == 1);
}

TEST_CASE("Parser: bytes after an upgrade request stay HTTP unless the owner stops") {
  RecordingHandler h;
  h.completeReturn = HPE_PAUSED;  // one message at a time, as the proxy parses
  Parser p(HTTP_REQUEST, &h, ParserLimits{});
  const std::string first = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
  const std::string second = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string all = first + second;
  Parser::Result r = p.execute(all.data(), all.size());
  REQUIRE(r.err == HPE_PAUSED);
  CHECK(r.consumed == first.size());
  CHECK(p.upgrade());
  // The backend declined the upgrade: parsing goes on with the next request.
  p.resume();
  r = p.execute(all.data() + first.size(), second.size());
  CHECK(r.err == HPE_PAUSED);
  CHECK(r.consumed == second.size());
  REQUIRE(h.urls.size() == 2);
  CHECK(h.urls[1] == "/next");
  CHECK_FALSE(p.upgrade());
}

TEST_CASE("Parser: a 101 response stops at the first byte of the new protocol") {
  RecordingHandler h;
  Parser p(HTTP_RESPONSE, &h, ParserLimits{});
  const std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
  const std::string all = head + "\x81\x02hi";
  Parser::Result r = p.execute(all.data(), all.size());
  CHECK(r.err == HPE_PAUSED_UPGRADE);
  CHECK(r.consumed == head.size());
  CHECK(h.headersCompleteCalls == 1);
}
