// The HTTP/2 rules that analyzeRequest and writeUpstreamRequestHead apply to a head built the
// way an HTTP/2 codec builds it (versionMajor 2, method from methodFromName, :authority, fields
// as a Field array).
#include "switchyard/http/request_head.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "switchyard/http/forward.h"
#include "forward_util.h"
#include "test_handler.h"

using namespace sy::http;
using sy::http::test::countHeader;
using sy::http::test::hasLine;
using sy::http::test::headerLines;
using sy::http::test::ParsedHead;

namespace {

// An HTTP/2 request head as a codec would hand it over. Owns its fields.
struct H2Head {
  std::vector<Field> fields;
  RequestHead head;

  H2Head(std::string_view method, std::string_view authority, std::string_view path,
         std::vector<Field> f = {})
      : fields(std::move(f)) {
    REQUIRE(methodFromName(method, head.method));
    head.methodName = method;
    head.scheme = "https";
    head.authority = authority;
    head.target = path;
    head.versionMajor = 2;
    head.versionMinor = 0;
    head.keepAlive = true;
    head.fields = FieldsView(fields.data(), static_cast<uint32_t>(fields.size()));
  }
};

struct Analyzed {
  int status = -1;
  const char* reason = nullptr;
  RequestInfo info;
};

Analyzed analyze(const RequestHead& h) {
  Analyzed a;
  a.status = analyzeRequest(h, a.info, &a.reason);
  return a;
}

std::string upstreamHead(const RequestHead& h, const ForwardContext& fc) {
  Analyzed a = analyze(h);
  REQUIRE(a.status == 0);
  return sy::http::test::writtenUpstreamHead(h, a.info, fc);
}

// The written head parses as one valid HTTP/1.1 request.
void checkParsesAsRequest(const std::string& head) {
  ParsedHead again(head);
  CHECK(again.ok());
  CHECK(again.handler.headersCompleteCalls == 1);
  CHECK(again.parser.versionMajor() == 1);
  CHECK(again.parser.versionMinor() == 1);
}

}  // namespace

// ------------------------------------------------------------ analyzeRequest over HTTP/2

TEST_CASE("analyzeRequest HTTP/2: :authority is the authority") {
  H2Head h("GET", "example.com:8443", "/a/b?x=1", {{"accept", "*/*"}});
  Analyzed a = analyze(h.head);
  REQUIRE(a.status == 0);
  CHECK(a.info.http2);
  CHECK_FALSE(a.info.http10);
  CHECK(a.info.authority == "example.com:8443");
  CHECK(a.info.host == "example.com");
  CHECK(a.info.target == "/a/b?x=1");
  CHECK(a.info.path == "/a/b");
  CHECK_FALSE(a.info.absoluteForm);
  CHECK(a.info.keepAlive);
  CHECK(a.info.upgrade.empty());
}

TEST_CASE("analyzeRequest HTTP/2: a Host equal to :authority is accepted") {
  SUBCASE("same bytes") {
    H2Head h("GET", "example.com", "/", {{"host", "example.com"}});
    Analyzed a = analyze(h.head);
    CHECK(a.status == 0);
    CHECK(a.info.authority == "example.com");
  }
  SUBCASE("host names compare case-insensitively; :authority wins") {
    H2Head h("GET", "example.com:8443", "/", {{"host", "EXAMPLE.com:8443"}});
    Analyzed a = analyze(h.head);
    CHECK(a.status == 0);
    CHECK(a.info.authority == "example.com:8443");
    CHECK(a.info.host == "example.com");
  }
}

TEST_CASE("analyzeRequest HTTP/2: a Host that differs from :authority -> 400") {
  for (const char* host : {"other.example", "example.com:8080", "example.co", "xexample.com"}) {
    CAPTURE(host);
    H2Head h("GET", "example.com", "/", {{"host", host}});
    Analyzed a = analyze(h.head);
    CHECK(a.status == 400);
    REQUIRE(a.reason != nullptr);
    CHECK(std::string(a.reason).find(":authority") != std::string::npos);
  }
  SUBCASE("two Host fields -> 400 even when both agree") {
    H2Head h("GET", "example.com", "/", {{"host", "example.com"}, {"host", "example.com"}});
    CHECK(analyze(h.head).status == 400);
  }
}

TEST_CASE("analyzeRequest HTTP/2: without :authority the Host field is the authority") {
  H2Head h("GET", "", "/p", {{"user-agent", "t"}, {"host", "fallback.example:81"}});
  Analyzed a = analyze(h.head);
  REQUIRE(a.status == 0);
  CHECK(a.info.authority == "fallback.example:81");
  CHECK(a.info.host == "fallback.example");
  CHECK(a.info.path == "/p");
}

TEST_CASE("analyzeRequest HTTP/2: absolute-form targets are not accepted") {
  for (const char* t : {"http://example.com/x", "https://example.com/", "HTTP://example.com",
                        "example.com:443"}) {
    CAPTURE(t);
    H2Head h("GET", "example.com", t);
    Analyzed a = analyze(h.head);
    CHECK(a.status == 400);
    CHECK_FALSE(a.info.absoluteForm);
  }
  SUBCASE("the same target over HTTP/1.1 is absolute-form (control)") {
    H2Head h("GET", "", "http://example.com/x", {{"Host", "example.com"}});
    h.head.versionMajor = 1;
    h.head.versionMinor = 1;
    Analyzed a = analyze(h.head);
    CHECK(a.status == 0);
    CHECK(a.info.absoluteForm);
    CHECK(a.info.target == "/x");
  }
  SUBCASE("OPTIONS * is still fine") {
    H2Head h("OPTIONS", "example.com", "*");
    CHECK(analyze(h.head).status == 0);
  }
}

TEST_CASE("analyzeRequest HTTP/2: upgrade is never set") {
  H2Head h("GET", "example.com", "/ws",
           {{"connection", "upgrade"}, {"upgrade", "websocket"}});
  h.head.upgradeRequested = true;
  Analyzed a = analyze(h.head);
  REQUIRE(a.status == 0);
  CHECK(a.info.upgrade.empty());
  SUBCASE("control: the same head as HTTP/1.1 is an eligible upgrade") {
    h.head.versionMajor = 1;
    h.head.versionMinor = 1;
    h.head.authority = {};
    h.fields.push_back({"host", "example.com"});
    h.head.fields = FieldsView(h.fields.data(), static_cast<uint32_t>(h.fields.size()));
    Analyzed b = analyze(h.head);
    REQUIRE(b.status == 0);
    CHECK(b.info.upgrade == "websocket");
  }
}

TEST_CASE("analyzeRequest HTTP/2: other checks still apply") {
  SUBCASE("CONNECT -> 405") {
    H2Head h("CONNECT", "example.com:443", "");
    CHECK(analyze(h.head).status == 405);
  }
  SUBCASE("an invalid :authority -> 400") {
    for (const char* auth : {"user@example.com", "exa mple.com", "a/b"}) {
      CAPTURE(auth);
      H2Head h("GET", auth, "/");
      CHECK(analyze(h.head).status == 400);
    }
  }
  SUBCASE("an empty field name -> 400") {
    H2Head h("GET", "example.com", "/", {{"", "x"}});
    CHECK(analyze(h.head).status == 400);
  }
  SUBCASE("Expect: 100-continue is noted, others -> 417") {
    H2Head h("POST", "example.com", "/", {{"expect", "100-continue"}});
    h.head.bodyFollows = true;
    Analyzed a = analyze(h.head);
    CHECK(a.status == 0);
    CHECK(a.info.expectContinue);
    H2Head bad("POST", "example.com", "/", {{"expect", "something"}});
    CHECK(analyze(bad.head).status == 417);
  }
  SUBCASE("HEAD") {
    H2Head h("HEAD", "example.com", "/");
    Analyzed a = analyze(h.head);
    CHECK(a.status == 0);
    CHECK(a.info.isHead);
  }
  SUBCASE("a version other than 1.x or 2 -> 505") {
    H2Head h("GET", "example.com", "/");
    h.head.versionMajor = 3;
    CHECK(analyze(h.head).status == 505);
  }
}

// ---------------------------------------------------- writeUpstreamRequestHead over HTTP/2

TEST_CASE("writeUpstreamRequestHead HTTP/2: an HTTP/1.1 head with Host from :authority") {
  H2Head h("GET", "example.com:8443", "/a?b=1",
           {{"user-agent", "h2client/1"}, {"accept", "*/*"}, {"host", "example.com:8443"}});
  const std::string out = upstreamHead(h.head, ForwardContext{"192.0.2.9", true});
  CHECK(out.substr(0, out.find("\r\n")) == "GET /a?b=1 HTTP/1.1");
  const auto ls = headerLines(out);
  CHECK(countHeader(ls, "host") == 1);
  CHECK(hasLine(ls, "Host: example.com:8443"));
  CHECK(hasLine(ls, "user-agent: h2client/1"));  // HTTP/2's lowercase names go on as they are
  CHECK(hasLine(ls, "accept: */*"));
  CHECK(hasLine(ls, "Via: 2.0 switchyard"));
  CHECK(hasLine(ls, "X-Forwarded-For: 192.0.2.9"));
  CHECK(hasLine(ls, "X-Forwarded-Proto: https"));
  CHECK(hasLine(ls, "X-Forwarded-Host: example.com:8443"));
  CHECK(countHeader(ls, "content-length") == 0);  // no body
  CHECK(countHeader(ls, "transfer-encoding") == 0);
  checkParsesAsRequest(out);
}

TEST_CASE("writeUpstreamRequestHead HTTP/2: Host comes from :authority, not from the Host field") {
  SUBCASE("case differs: :authority's spelling is sent") {
    H2Head h("GET", "example.com", "/", {{"host", "EXAMPLE.COM"}});
    const auto ls = headerLines(upstreamHead(h.head, ForwardContext{"10.0.0.1", false}));
    CHECK(countHeader(ls, "host") == 1);
    CHECK(hasLine(ls, "Host: example.com"));
    CHECK(hasLine(ls, "X-Forwarded-Proto: http"));
  }
  SUBCASE("no :authority: the Host field's value, once") {
    H2Head h("GET", "", "/", {{"host", "fallback.example"}});
    const auto ls = headerLines(upstreamHead(h.head, ForwardContext{"10.0.0.1", false}));
    CHECK(countHeader(ls, "host") == 1);
    CHECK(hasLine(ls, "Host: fallback.example"));
    CHECK(hasLine(ls, "X-Forwarded-Host: fallback.example"));
  }
}

TEST_CASE("writeUpstreamRequestHead HTTP/2: Via and X-Forwarded-For append to earlier hops") {
  H2Head h("GET", "example.com", "/",
           {{"via", "1.1 edge"}, {"x-forwarded-for", "203.0.113.5"},
            {"x-forwarded-host", "spoofed"}, {"x-forwarded-proto", "gopher"}});
  const auto ls = headerLines(upstreamHead(h.head, ForwardContext{"10.0.0.2", false}));
  CHECK(hasLine(ls, "Via: 1.1 edge, 2.0 switchyard"));
  CHECK(countHeader(ls, "via") == 1);
  CHECK(hasLine(ls, "X-Forwarded-For: 203.0.113.5, 10.0.0.2"));
  CHECK(countHeader(ls, "x-forwarded-for") == 1);
  CHECK(hasLine(ls, "X-Forwarded-Host: example.com"));
  CHECK(countHeader(ls, "x-forwarded-host") == 1);
  CHECK(hasLine(ls, "X-Forwarded-Proto: http"));
  CHECK(countHeader(ls, "x-forwarded-proto") == 1);
}

TEST_CASE("writeUpstreamRequestHead HTTP/2: body framing") {
  SUBCASE("body of unknown length (info.chunked) -> Transfer-Encoding: chunked") {
    H2Head h("POST", "example.com", "/upload", {{"content-type", "application/json"}});
    h.head.bodyFollows = true;
    h.head.chunked = true;  // no content-length: the codec asks for chunked framing upstream
    Analyzed a = analyze(h.head);
    REQUIRE(a.status == 0);
    REQUIRE(a.info.chunked);
    const std::string out = upstreamHead(h.head, ForwardContext{"10.0.0.3", false});
    CHECK(out.substr(0, out.find("\r\n")) == "POST /upload HTTP/1.1");
    const auto ls = headerLines(out);
    CHECK(hasLine(ls, "Transfer-Encoding: chunked"));
    CHECK(countHeader(ls, "transfer-encoding") == 1);
    CHECK(countHeader(ls, "content-length") == 0);
    ParsedHead again(out);
    CHECK(again.ok());
    CHECK(again.parser.chunked());
  }
  SUBCASE("content-length -> one Content-Length, re-derived") {
    H2Head h("PUT", "example.com", "/u", {{"content-length", "5"}});
    h.head.bodyFollows = true;
    h.head.hasContentLength = true;
    h.head.contentLength = 5;
    const auto ls = headerLines(upstreamHead(h.head, ForwardContext{"10.0.0.3", false}));
    CHECK(hasLine(ls, "Content-Length: 5"));
    CHECK(countHeader(ls, "content-length") == 1);
    CHECK(countHeader(ls, "transfer-encoding") == 0);
  }
}

TEST_CASE("writeUpstreamRequestHead HTTP/2: connection-specific fields are not passed on") {
  H2Head h("GET", "example.com", "/",
           {{"te", "trailers"}, {"connection", "x-hop"}, {"x-hop", "1"}, {"keep-alive", "5"},
            {"upgrade", "h2c"}, {"x-end", "kept"}});
  h.head.upgradeRequested = true;
  const auto ls = headerLines(upstreamHead(h.head, ForwardContext{"10.0.0.4", false}));
  for (const char* n : {"te", "connection", "x-hop", "keep-alive", "upgrade"}) {
    CAPTURE(n);
    CHECK(countHeader(ls, n) == 0);
  }
  CHECK(hasLine(ls, "x-end: kept"));
}

TEST_CASE("writeUpstreamRequestHead HTTP/2: the bound covers large heads") {
  std::vector<Field> f;
  std::vector<std::string> values;
  values.reserve(50);
  for (int i = 0; i < 50; ++i) values.push_back(std::string(200, static_cast<char>('a' + i % 26)));
  for (int i = 0; i < 50; ++i) f.push_back({"x-field", values[i]});
  f.push_back({"x-forwarded-for", std::string_view(values[0]).substr(0, 150)});
  f.push_back({"via", std::string_view(values[1]).substr(0, 150)});
  const std::string authority = "a-long-authority-name.example.com:65535";
  const std::string target = "/" + std::string(1000, 'p');
  H2Head h("GET", authority, target, std::move(f));
  ForwardContext fc{"2001:db8::1234:5678:9abc", true, "0123456789abcdef0123456789abcdef"};
  Analyzed a = analyze(h.head);
  REQUIRE(a.status == 0);
  const size_t bound = upstreamRequestHeadBound(h.head, a.info, fc);
  std::string out(bound, '\0');
  HeadWriter w(out.data(), out.size());
  writeUpstreamRequestHead(h.head, a.info, fc, w);
  CHECK_FALSE(w.overflow());
  CHECK(w.size() <= bound);
}

// RFC 9113 §8.3.1: for "http" and "https" the request must carry :authority or Host, and
// neither may be empty; otherwise the proxy refuses it instead of sending a Host-less request on.
TEST_CASE("analyzeRequest HTTP/2: no :authority and no Host -> 400 (RFC 9113 8.3.1)") {
  H2Head h("GET", "", "/", {{"accept", "*/*"}});
  CHECK(analyze(h.head).status == 400);
}

TEST_CASE("analyzeRequest HTTP/2: no :authority and an empty Host -> 400 (RFC 9113 8.3.1)") {
  H2Head h("GET", "", "/", {{"host", ""}});
  CHECK(analyze(h.head).status == 400);
}
