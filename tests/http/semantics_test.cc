// Regressions for issue 21 (HTTP semantics) through the hooks in parser.cc and forward.cc:
// obs-fold after an empty first line, dot segments and percent-encoding in routed targets,
// fragments, Host syntax, Date on every answer, transfer codings the proxy cannot relay.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "switchyard/http/date.h"
#include "switchyard/http/forward.h"
#include "switchyard/http/target.h"
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

namespace {

struct Analysis {
  int status = -1;
  const char* reason = nullptr;
};

// analyzeRequest() over a head that must parse; `info` receives the facts.
Analysis analyze(const ParsedHead& ph, RequestInfo& info) {
  REQUIRE(ph.ok());
  REQUIRE(ph.handler.headersCompleteCalls == 1);
  Analysis a;
  a.status = analyzeRequest(ph.parser, info, &a.reason);
  return a;
}

std::string get(std::string_view target, std::string_view host = "a") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n";
}

std::string upstreamFirstLine(const ParsedHead& ph, const RequestInfo& info) {
  ForwardContext fc{"10.0.0.7", false};
  std::string out(upstreamRequestHeadBound(ph.parser, info, fc), '\0');
  HeadWriter w(out.data(), out.size());
  writeUpstreamRequestHead(ph.parser, info, fc, w);
  REQUIRE_FALSE(w.overflow());
  return out.substr(0, out.find("\r\n"));
}

}  // namespace

TEST_CASE("issue 21: routing and forwarding see the normalised target") {
  struct Case {
    const char* target;
    const char* path;
    const char* forwarded;
  };
  for (const Case& c : std::vector<Case>{
           {"/api/../admin", "/admin", "/admin"},
           {"/api/%2e%2e/admin?x=%2e", "/admin", "/admin?x=%2e"},
           {"/api/%2E%2E/admin", "/admin", "/admin"},
           {"/api/..", "/", "/"},
           {"/api/.", "/api/", "/api/"},
           {"/%61pi/items", "/api/items", "/api/items"},
           {"/api/a%2fb", "/api/a%2Fb", "/api/a%2Fb"},
           {"http://a/api/../admin?q", "/admin", "/admin?q"},
       }) {
    CAPTURE(c.target);
    ParsedHead ph(get(c.target));
    RequestInfo info;
    REQUIRE(analyze(ph, info).status == 0);
    CHECK(info.path == c.path);
    CHECK(info.target == c.forwarded);
    CHECK(upstreamFirstLine(ph, info) == "GET " + std::string(c.forwarded) + " HTTP/1.1");
  }
  // Already normal: the views stay in the request head (no copy).
  ParsedHead ph(get("/api/items?x=1"));
  RequestInfo info;
  REQUIRE(analyze(ph, info).status == 0);
  CHECK(info.target.data() == ph.parser.url().data());
}

TEST_CASE("issue 21: invalid escapes, fragments and over-long rewrites are refused") {
  for (const char* t : {"/a%zz", "/a%2", "/api/%", "/a#frag", "/a?b#c", "http://a/x#y"}) {
    CAPTURE(t);
    ParsedHead ph(get(t));
    RequestInfo info;
    CHECK(analyze(ph, info).status == 400);
  }
  ParsedHead ph(get("/" + std::string(kMaxNormalizedTarget, 'x') + "/../y"),
                HTTP_REQUEST, Stop::kAfterHead, ParserLimits{64 * 1024, 100});
  RequestInfo info;
  CHECK(analyze(ph, info).status == 414);
}

TEST_CASE("issue 21: Host must be a valid URI authority") {
  for (const char* host : {"a:b", "a:99999", "a:65536", "[::1", "[::1]x", "a;b:80x", "a%zz",
                           "a\"b", "a<b"}) {
    CAPTURE(host);
    ParsedHead ph(get("/", host));
    RequestInfo info;
    Analysis a = analyze(ph, info);
    CHECK(a.status == 400);
  }
  for (const char* host : {"a:8080", "[::1]:8080", "127.0.0.1", "b.example"}) {
    CAPTURE(host);
    ParsedHead ph(get("/", host));
    RequestInfo info;
    CHECK(analyze(ph, info).status == 0);
  }
  ParsedHead abs("GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n");
  RequestInfo info;
  CHECK(analyze(abs, info).status == 400);
}

namespace {

int countLines(const std::string& head, std::string_view prefix) {
  int n = 0;
  for (size_t pos = 0; (pos = head.find(prefix, pos)) != std::string::npos; ++pos)
    if (pos >= 2 && head.compare(pos - 2, 2, "\r\n") == 0) ++n;
  return n;
}

std::string clientHead(const ParsedHead& resp, const sy::config::HeaderRules* edits = nullptr) {
  std::string out(clientResponseHeadBound(resp.parser, edits), '\0');
  HeadWriter w(out.data(), out.size());
  writeClientResponseHead(resp.parser, ResponseBody::kContentLength, false, false, w, {}, edits);
  REQUIRE_FALSE(w.overflow());
  out.resize(w.size());
  return out;
}

}  // namespace

TEST_CASE("issue 21: the proxy's own answers carry Date") {
  char buf[512];
  const size_t n = writeLocalResponse(404, "no route\n", false, false, buf, sizeof buf);
  REQUIRE(n > 0);
  const std::string head(buf, n);
  CHECK(countLines(head, "Date: ") == 1);
  const size_t at = head.find("\r\nDate: ") + 8;
  CHECK(head.substr(at, kHttpDateLength + 2) == std::string(httpDateNow()) + "\r\n");
}

TEST_CASE("issue 21: a forwarded answer without Date gets one; one with Date keeps its own") {
  ParsedHead none("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP_RESPONSE);
  const std::string added = clientHead(none);
  CHECK(countLines(added, "Date: ") == 1);
  ParsedHead has("HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n",
                 HTTP_RESPONSE);
  const std::string kept = clientHead(has);
  CHECK(countLines(kept, "date: Sun, 06 Nov 1994 08:49:37 GMT") == 1);
  CHECK(countLines(kept, "Date: ") == 0);
  // A route that sets or removes Date decides alone.
  sy::config::HeaderRules removeDate;
  removeDate.remove.push_back("Date");
  CHECK(countLines(clientHead(none, &removeDate), "Date: ") == 0);
}

TEST_CASE("issue 21: transfer codings other than chunked are refused, not relabelled") {
  ParsedHead resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                  HTTP_RESPONSE, Stop::kNever);
  CHECK_FALSE(resp.ok());
  CHECK(resp.handler.headersCompleteCalls == 0);
  CHECK(resp.parser.failStatus() == 502);
  ParsedHead req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                 HTTP_REQUEST, Stop::kNever);
  CHECK_FALSE(req.ok());
  CHECK(req.parser.failStatus() == 501);
  ParsedHead plain("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                   HTTP_RESPONSE, Stop::kNever);
  CHECK(plain.ok());
  CHECK(plain.handler.bodies.at(0) == "abc");
}
