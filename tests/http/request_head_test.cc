// The protocol-neutral request head (request_head.h): FieldsView over an llhttp-parsed head and
// over a Field array, RequestHead::fromParser, methodFromName, and the HTTP/2 rules that
// analyzeRequest and writeUpstreamRequestHead apply to a head built the way an HTTP/2 codec
// builds it (versionMajor 2, method from methodFromName, :authority, fields as a Field array).
#include "switchyard/http/request_head.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "switchyard/http/forward.h"
#include "test_handler.h"

using namespace sy::http;
using sy::http::test::ParsedHead;

namespace {

// Header lines of a serialized head, the request line excluded.
std::vector<std::string> headerLines(const std::string& head) {
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

int countName(const std::vector<std::string>& ls, std::string_view name) {
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
  const size_t bound = upstreamRequestHeadBound(h, a.info, fc);
  std::string out(bound, '\0');
  HeadWriter w(out.data(), out.size());
  writeUpstreamRequestHead(h, a.info, fc, w);
  REQUIRE_FALSE(w.overflow());
  out.resize(w.size());
  return out;
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
  CHECK(countName(ls, "host") == 1);
  CHECK(hasLine(ls, "Host: example.com:8443"));
  CHECK(hasLine(ls, "user-agent: h2client/1"));  // HTTP/2's lowercase names go on as they are
  CHECK(hasLine(ls, "accept: */*"));
  CHECK(hasLine(ls, "Via: 2.0 switchyard"));
  CHECK(hasLine(ls, "X-Forwarded-For: 192.0.2.9"));
  CHECK(hasLine(ls, "X-Forwarded-Proto: https"));
  CHECK(hasLine(ls, "X-Forwarded-Host: example.com:8443"));
  CHECK(countName(ls, "content-length") == 0);  // no body
  CHECK(countName(ls, "transfer-encoding") == 0);
  checkParsesAsRequest(out);
}

TEST_CASE("writeUpstreamRequestHead HTTP/2: Host comes from :authority, not from the Host field") {
  SUBCASE("case differs: :authority's spelling is sent") {
    H2Head h("GET", "example.com", "/", {{"host", "EXAMPLE.COM"}});
    const auto ls = headerLines(upstreamHead(h.head, ForwardContext{"10.0.0.1", false}));
    CHECK(countName(ls, "host") == 1);
    CHECK(hasLine(ls, "Host: example.com"));
    CHECK(hasLine(ls, "X-Forwarded-Proto: http"));
  }
  SUBCASE("no :authority: the Host field's value, once") {
    H2Head h("GET", "", "/", {{"host", "fallback.example"}});
    const auto ls = headerLines(upstreamHead(h.head, ForwardContext{"10.0.0.1", false}));
    CHECK(countName(ls, "host") == 1);
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
  CHECK(countName(ls, "via") == 1);
  CHECK(hasLine(ls, "X-Forwarded-For: 203.0.113.5, 10.0.0.2"));
  CHECK(countName(ls, "x-forwarded-for") == 1);
  CHECK(hasLine(ls, "X-Forwarded-Host: example.com"));
  CHECK(countName(ls, "x-forwarded-host") == 1);
  CHECK(hasLine(ls, "X-Forwarded-Proto: http"));
  CHECK(countName(ls, "x-forwarded-proto") == 1);
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
    CHECK(countName(ls, "transfer-encoding") == 1);
    CHECK(countName(ls, "content-length") == 0);
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
    CHECK(countName(ls, "content-length") == 1);
    CHECK(countName(ls, "transfer-encoding") == 0);
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
    CHECK(countName(ls, n) == 0);
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
