#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "switchyard/http/forward.h"
#include "test_handler.h"

using namespace sy::http;
using sy::http::test::ParsedHead;
using sy::http::test::Stop;

namespace {

struct Analyzed {
  int status = 0;
  const char* reason = nullptr;
  RequestInfo info;
};

Analyzed analyze(const ParsedHead& ph) {
  Analyzed a;
  // CONNECT stops llhttp with HPE_PAUSED_UPGRADE after the head: the head is still complete.
  REQUIRE(ph.handler.headersCompleteCalls == 1);
  a.status = analyzeRequest(ph.parser, a.info, &a.reason);
  return a;
}

// The upstream head for a request head (which must pass analyzeRequest).
std::string upstreamHeadWith(const ParsedHead& ph, const ForwardContext& fc) {
  Analyzed a = analyze(ph);
  REQUIRE(a.status == 0);
  const size_t bound = upstreamRequestHeadBound(ph.parser, a.info, fc);
  std::string out(bound, '\0');
  HeadWriter w(out.data(), out.size());
  writeUpstreamRequestHead(ph.parser, a.info, fc, w);
  REQUIRE_FALSE(w.overflow());
  out.resize(w.size());
  return out;
}

std::string upstreamHead(const ParsedHead& ph, std::string_view clientIp = "10.0.0.7",
                         bool tls = false) {
  return upstreamHeadWith(ph, ForwardContext{clientIp, tls});
}

// The head with the value of its "Date: " line (an IMF-fixdate of now) replaced by "<date>".
std::string maskDate(std::string head) {
  const size_t at = head.find("\r\nDate: ");
  if (at == std::string::npos) return head;
  const size_t v = at + 8, e = head.find("\r\n", v);
  REQUIRE(e - v == 29);
  CHECK(head.compare(e - 4, 4, " GMT") == 0);
  return head.replace(v, e - v, "<date>");
}

std::string clientHead(const ParsedHead& resp, ResponseBody body, bool closeAfter,
                       bool clientHttp10, std::string_view requestId = {},
                       const sy::config::HeaderRules* edits = nullptr) {
  const size_t bound = clientResponseHeadBound(resp.parser, edits);
  std::string out(bound, '\0');
  HeadWriter w(out.data(), out.size());
  writeClientResponseHead(resp.parser, body, closeAfter, clientHttp10, w, requestId, edits);
  REQUIRE_FALSE(w.overflow());
  out.resize(w.size());
  return maskDate(out);
}

// Header lines of a serialized head (the first line excluded), e.g. "Host: a".
std::vector<std::string> lines(const std::string& head) {
  std::vector<std::string> out;
  size_t pos = head.find("\r\n");
  REQUIRE(pos != std::string::npos);
  pos += 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    REQUIRE(e != std::string::npos);
    if (e == pos) {
      CHECK(e + 2 == head.size());  // the blank line ends the head
      break;
    }
    out.push_back(head.substr(pos, e - pos));
    pos = e + 2;
  }
  return out;
}

std::string firstLine(const std::string& head) { return head.substr(0, head.find("\r\n")); }

// Number of header lines whose name is `name` (case-insensitive).
int countHeader(const std::vector<std::string>& ls, std::string_view name) {
  int n = 0;
  for (const auto& l : ls) {
    size_t colon = l.find(':');
    if (colon != std::string::npos && equalsIgnoreCase(std::string_view(l).substr(0, colon), name))
      ++n;
  }
  return n;
}

bool hasLine(const std::vector<std::string>& ls, std::string_view line) {
  for (const auto& l : ls)
    if (l == line) return true;
  return false;
}

// Checks that the produced head parses as a valid message of `type`.
void checkParses(const std::string& head, llhttp_type_t type) {
  ParsedHead again(head, type);
  CHECK(again.ok());
  CHECK(again.handler.headersCompleteCalls == 1);
}

}  // namespace

// ----------------------------------------------------------------------------- HeadWriter

TEST_CASE("HeadWriter: writes and reports overflow") {
  char buf[16];
  SUBCASE("fits") {
    HeadWriter w(buf, sizeof buf);
    w.put("abc");
    w.putChar('-');
    w.putUint(0);
    w.putChar('-');
    w.putUint(18446744073709551615ull >> 44);  // 1048575
    CHECK_FALSE(w.overflow());
    CHECK(std::string(buf, w.size()) == "abc-0-1048575");
  }
  SUBCASE("put past the end sets overflow and stops writing") {
    HeadWriter w(buf, sizeof buf);
    w.put("0123456789");
    w.put("0123456789");
    CHECK(w.overflow());
    CHECK(w.size() == 10);
    w.put("x");  // remembered: nothing more is written
    CHECK(w.size() == 10);
  }
  SUBCASE("exact fit is not an overflow") {
    HeadWriter w(buf, sizeof buf);
    w.put("0123456789abcdef");
    CHECK_FALSE(w.overflow());
    CHECK(w.size() == 16);
    w.putChar('x');
    CHECK(w.overflow());
  }
  SUBCASE("putUint overflow") {
    HeadWriter w(buf, 4);
    w.putUint(12345);
    CHECK(w.overflow());
  }
  SUBCASE("zero capacity") {
    HeadWriter w(buf, 0);
    w.put("");
    CHECK_FALSE(w.overflow());
    w.putChar('a');
    CHECK(w.overflow());
    CHECK(w.size() == 0);
  }
}

// -------------------------------------------------------------------------- analyzeRequest

TEST_CASE("analyzeRequest: origin-form request") {
  ParsedHead ph("GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: Example.COM:8443\r\n\r\n");
  Analyzed a = analyze(ph);
  CHECK(a.status == 0);
  CHECK(a.info.host == "Example.COM");
  CHECK(a.info.authority == "Example.COM:8443");
  CHECK(a.info.target == "/a/b?x=1&y=2");
  CHECK(a.info.path == "/a/b");
  CHECK(a.info.keepAlive);
  CHECK_FALSE(a.info.http10);
  CHECK_FALSE(a.info.isHead);
  CHECK_FALSE(a.info.expectContinue);
  CHECK_FALSE(a.info.chunked);
  CHECK_FALSE(a.info.hasContentLength);
}

TEST_CASE("analyzeRequest: Host rules") {
  SUBCASE("missing Host on HTTP/1.1 -> 400") {
    ParsedHead ph("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 400);
    REQUIRE(a.reason != nullptr);
    CHECK(std::string(a.reason).find("Host") != std::string::npos);
  }
  SUBCASE("duplicate Host -> 400") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n");
    CHECK(analyze(ph).status == 400);
  }
  SUBCASE("duplicate Host on HTTP/1.0 -> 400") {
    ParsedHead ph("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
    CHECK(analyze(ph).status == 400);
  }
  SUBCASE("HTTP/1.0 without Host is fine") {
    ParsedHead ph("GET /old HTTP/1.0\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK(a.info.http10);
    CHECK(a.info.host.empty());
    CHECK(a.info.path == "/old");
    CHECK_FALSE(a.info.keepAlive);
  }
  SUBCASE("invalid Host value -> 400") {
    for (const char* h : {"a/b", "user@host", "a?b", "a#b", "a\\b"}) {
      CAPTURE(h);
      ParsedHead ph(std::string("GET / HTTP/1.1\r\nHost: ") + h + "\r\n\r\n");
      CHECK(analyze(ph).status == 400);
    }
  }
  SUBCASE("IPv6 literal Host") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK(a.info.host == "::1");
    CHECK(a.info.authority == "[::1]:8080");
  }
  SUBCASE("Host without port") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: plain.example\r\n\r\n");
    CHECK(analyze(ph).info.host == "plain.example");
  }
}

TEST_CASE("analyzeRequest: absolute-form target") {
  SUBCASE("http with port, path and query") {
    ParsedHead ph("GET http://h:8080/p?q HTTP/1.1\r\nHost: h:8080\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK(a.info.host == "h");
    CHECK(a.info.authority == "h:8080");
    CHECK(a.info.target == "/p?q");
    CHECK(a.info.path == "/p");
  }
  SUBCASE("authority of the target wins over Host") {
    ParsedHead ph("GET http://target.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK(a.info.host == "target.example");
    CHECK(a.info.target == "/x");
  }
  SUBCASE("https scheme, no path") {
    ParsedHead ph("GET HTTPS://secure.example HTTP/1.1\r\nHost: secure.example\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK(a.info.host == "secure.example");
    CHECK(a.info.target == "/");
    CHECK(a.info.path == "/");
  }
  SUBCASE("query right after the authority is refused") {
    ParsedHead ph("GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(analyze(ph).status == 400);
  }
  SUBCASE("empty authority is refused") {
    ParsedHead ph("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(analyze(ph).status == 400);
  }
}

TEST_CASE("analyzeRequest: request-target forms") {
  SUBCASE("OPTIONS *") {
    ParsedHead ph("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK(a.info.target == "*");
  }
  SUBCASE("* with GET is refused") {
    ParsedHead ph("GET * HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(analyze(ph).status == 400);
  }
  SUBCASE("CONNECT -> 405") {
    ParsedHead ph("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    CHECK(analyze(ph).status == 405);
  }
  SUBCASE("HEAD is flagged") {
    ParsedHead ph("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK(a.info.isHead);
  }
}

TEST_CASE("analyzeRequest: TE trailers (the client takes trailer fields)") {
  const auto te = [](const char* value) {
    ParsedHead ph(std::string("GET / HTTP/1.1\r\nHost: a\r\nTE: ") + value + "\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    return a.info.teTrailers;
  };
  CHECK(te("trailers"));
  CHECK(te("Trailers"));
  CHECK(te("deflate;q=0.5, trailers"));
  CHECK(te("gzip , trailers ;q=1"));
  CHECK_FALSE(te("deflate"));
  CHECK_FALSE(te("trailersx"));
  CHECK_FALSE(te(""));
  ParsedHead none("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK_FALSE(analyze(none).info.teTrailers);
}

TEST_CASE("analyzeRequest: Expect") {
  SUBCASE("100-continue") {
    ParsedHead ph(
        "PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-Continue\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK(a.info.expectContinue);
    CHECK(a.info.hasContentLength);
    CHECK(a.info.contentLength == 10);
  }
  SUBCASE("100-continue from an HTTP/1.0 client is ignored") {
    ParsedHead ph("PUT /u HTTP/1.0\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK_FALSE(a.info.expectContinue);
  }
  SUBCASE("anything else -> 417") {
    ParsedHead ph("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n");
    CHECK(analyze(ph).status == 417);
  }
}

TEST_CASE("analyzeRequest: framing facts") {
  SUBCASE("chunked") {
    ParsedHead ph("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    Analyzed a = analyze(ph);
    CHECK(a.status == 0);
    CHECK(a.info.chunked);
    CHECK_FALSE(a.info.hasContentLength);
  }
  SUBCASE("Transfer-Encoding in HTTP/1.0 -> 400") {
    ParsedHead ph("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(analyze(ph).status == 400);
  }
  SUBCASE("empty header name -> 400") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n");
    CHECK(analyze(ph).status == 400);
  }
}

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
  auto ls = lines(upstreamHead(ph));
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
  auto ls = lines(upstreamHead(ph));
  CHECK(countHeader(ls, "X-A") == 0);
  CHECK(countHeader(ls, "X-B") == 0);
  CHECK(hasLine(ls, "X-C: 3"));
}

TEST_CASE("writeUpstreamRequestHead: framing is re-derived") {
  SUBCASE("Content-Length") {
    ParsedHead ph("POST /f HTTP/1.1\r\nHost: a\r\ncontent-length: 42\r\n\r\n");
    auto ls = lines(upstreamHead(ph));
    CHECK(countHeader(ls, "Content-Length") == 1);
    CHECK(hasLine(ls, "Content-Length: 42"));
    CHECK(countHeader(ls, "Transfer-Encoding") == 0);
  }
  SUBCASE("Content-Length: 0") {
    ParsedHead ph("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    CHECK(hasLine(lines(upstreamHead(ph)), "Content-Length: 0"));
  }
  SUBCASE("chunked") {
    ParsedHead ph(
        "POST /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
    std::string out = upstreamHead(ph);  // ("gzip, chunked" is refused: semantics_test.cc)
    auto ls = lines(out);
    CHECK(countHeader(ls, "Transfer-Encoding") == 1);
    CHECK(hasLine(ls, "Transfer-Encoding: chunked"));
    CHECK(countHeader(ls, "Content-Length") == 0);
    checkParses(out, HTTP_REQUEST);
  }
  SUBCASE("no body") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    auto ls = lines(upstreamHead(ph));
    CHECK(countHeader(ls, "Content-Length") == 0);
    CHECK(countHeader(ls, "Transfer-Encoding") == 0);
  }
}

TEST_CASE("writeUpstreamRequestHead: X-Forwarded-*") {
  SUBCASE("X-Forwarded-For lines are merged, then the client address") {
    ParsedHead ph(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n"
        "X-Forwarded-For:  \r\nx-forwarded-for: 3.3.3.3\r\n\r\n");
    auto ls = lines(upstreamHead(ph, "192.0.2.9"));
    CHECK(countHeader(ls, "X-Forwarded-For") == 1);
    CHECK(hasLine(ls, "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 192.0.2.9"));
  }
  SUBCASE("IPv6 client") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(hasLine(lines(upstreamHead(ph, "2001:db8::1")), "X-Forwarded-For: 2001:db8::1"));
  }
  SUBCASE("X-Forwarded-Proto follows the listener, client values are replaced") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n");
    auto plain = lines(upstreamHead(ph, "10.0.0.1", false));
    CHECK(countHeader(plain, "X-Forwarded-Proto") == 1);
    CHECK(hasLine(plain, "X-Forwarded-Proto: http"));
    auto tls = lines(upstreamHead(ph, "10.0.0.1", true));
    CHECK(countHeader(tls, "X-Forwarded-Proto") == 1);
    CHECK(hasLine(tls, "X-Forwarded-Proto: https"));
  }
  SUBCASE("X-Forwarded-Host is the original Host, client values are replaced") {
    ParsedHead ph(
        "GET / HTTP/1.1\r\nHost: www.example:8080\r\nX-Forwarded-Host: evil\r\n\r\n");
    auto ls = lines(upstreamHead(ph));
    CHECK(countHeader(ls, "X-Forwarded-Host") == 1);
    CHECK(hasLine(ls, "X-Forwarded-Host: www.example:8080"));
    CHECK(hasLine(ls, "Host: www.example:8080"));
  }
  SUBCASE("HTTP/1.0 without Host: no X-Forwarded-Host, no Host invented") {
    ParsedHead ph("GET / HTTP/1.0\r\n\r\n");
    auto ls = lines(upstreamHead(ph));
    CHECK(countHeader(ls, "X-Forwarded-Host") == 0);
    CHECK(countHeader(ls, "Host") == 0);
    CHECK(hasLine(ls, "X-Forwarded-For: 10.0.0.7"));
  }
}

TEST_CASE("writeUpstreamRequestHead: Via") {
  SUBCASE("appended to earlier hops") {
    ParsedHead ph(
        "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 edge-a\r\nvia: 1.0 edge-b, 1.1 edge-c\r\n\r\n");
    auto ls = lines(upstreamHead(ph));
    CHECK(countHeader(ls, "Via") == 1);
    CHECK(hasLine(ls, "Via: 1.1 edge-a, 1.0 edge-b, 1.1 edge-c, 1.1 switchyard"));
  }
  SUBCASE("HTTP/1.0 request records the received protocol version") {
    ParsedHead ph("GET / HTTP/1.0\r\nHost: a\r\n\r\n");
    std::string out = upstreamHead(ph);
    CHECK(firstLine(out) == "GET / HTTP/1.1");
    CHECK(hasLine(lines(out), "Via: 1.0 switchyard"));
  }
}

TEST_CASE("writeUpstreamRequestHead: Expect dropped, request line rebuilt") {
  ParsedHead ph(
      "PUT http://up.example/obj?v=2 HTTP/1.1\r\nHost: up.example\r\nContent-Length: 5\r\n"
      "Expect: 100-continue\r\n\r\n");
  std::string out = upstreamHead(ph);
  auto ls = lines(out);
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
  auto ls = lines(out);
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
  auto ls = lines(out);
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
    auto ls = lines(clientHead(r, ResponseBody::kUntilClose, true, true));
    CHECK(countHeader(ls, "Transfer-Encoding") == 0);
    CHECK(countHeader(ls, "Content-Length") == 0);
    CHECK(hasLine(ls, "Connection: close"));
  }
  SUBCASE("read-until-close upstream re-framed as chunked for 1.1") {
    ParsedHead r("HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\n", HTTP_RESPONSE);
    std::string out = clientHead(r, ResponseBody::kChunked, false, false);
    CHECK(firstLine(out) == "HTTP/1.1 200 OK");
    CHECK(hasLine(lines(out), "Transfer-Encoding: chunked"));
  }
  SUBCASE("HEAD answer keeps its Content-Length") {
    ParsedHead r("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", HTTP_RESPONSE);
    auto ls = lines(clientHead(r, ResponseBody::kNone, false, false));
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
    auto ls = lines(clientHead(r, ResponseBody::kContentLength, true, false));
    CHECK(countHeader(ls, "Connection") == 1);
    CHECK(hasLine(ls, "Connection: close"));
  }
  SUBCASE("kept-alive 1.1 client: no Connection header") {
    auto ls = lines(clientHead(r, ResponseBody::kContentLength, false, false));
    CHECK(countHeader(ls, "Connection") == 0);
  }
  SUBCASE("kept-alive 1.0 client") {
    auto ls = lines(clientHead(r, ResponseBody::kContentLength, false, true));
    CHECK(countHeader(ls, "Connection") == 1);
    CHECK(hasLine(ls, "Connection: keep-alive"));
  }
  SUBCASE("closing 1.0 client") {
    auto ls = lines(clientHead(r, ResponseBody::kContentLength, true, true));
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
    CHECK(hasLine(lines(s.substr(0, s.find("\r\n\r\n") + 4)), "Connection: close"));
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

// ------------------------------------------------------------------------ upgrades (WebSocket)

TEST_CASE("analyzeRequest: which upgrades may open a tunnel") {
  const std::string ws =
      "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
      "Upgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\n";
  SUBCASE("websocket GET") {
    ParsedHead ph(ws + "\r\n");
    Analyzed a = analyze(ph);
    REQUIRE(a.status == 0);
    CHECK(a.info.upgrade == "WebSocket");
  }
  SUBCASE("websocket listed first among several protocols") {
    ParsedHead ph("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
                  "Upgrade: websocket, foo/2\r\n\r\n");
    CHECK(analyze(ph).info.upgrade == "websocket, foo/2");
  }
  SUBCASE("not eligible: other protocols, no Connection token, bodies, methods, 1.0, two") {
    const char* heads[] = {
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocketx\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        "Content-Length: 0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        "Content-Length: 5\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        "Upgrade: websocket\r\n\r\n",
    };
    for (const char* h : heads) {
      CAPTURE(h);
      ParsedHead ph(h);
      Analyzed a = analyze(ph);
      CHECK(a.status == 0);
      CHECK(a.info.upgrade.empty());
    }
  }
}

TEST_CASE("writeUpstreamRequestHead: an eligible upgrade is passed on, others are dropped") {
  SUBCASE("websocket") {
    ParsedHead ph("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    std::string out = upstreamHead(ph);
    auto ls = lines(out);
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
    auto ls = lines(upstreamHead(ph));
    CHECK(countHeader(ls, "connection") == 0);
    CHECK(countHeader(ls, "upgrade") == 0);
    CHECK(countHeader(ls, "http2-settings") == 0);
  }
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

TEST_CASE("writeUpstreamRequestHead: rewrite_prefix") {
  auto rewritten = [](const std::string& target, std::string_view strip, std::string_view to) {
    ParsedHead ph("GET " + target + " HTTP/1.1\r\nHost: a\r\nX-Forwarded-Prefix: /spoof\r\n\r\n");
    ForwardContext fc{"10.0.0.7", false};
    fc.rewrite = true;
    fc.stripPrefix = strip;
    fc.newPrefix = to;
    std::string out = upstreamHeadWith(ph, fc);
    auto ls = lines(out);
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
