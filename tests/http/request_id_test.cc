#include <doctest/doctest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/http/forward.h"
#include "switchyard/http/request_id.h"
#include "test_handler.h"

using namespace sy::http;
using sy::http::test::ParsedHead;

namespace {

std::string generated() {
  char id[kGeneratedRequestIdLength];
  generateRequestId(id);
  return std::string(id, sizeof id);
}

}  // namespace

TEST_CASE("acceptable client request ids") {
  CHECK(acceptableRequestId("abc-123"));
  CHECK(acceptableRequestId("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
  CHECK(acceptableRequestId(std::string(kMaxRequestIdLength, 'x')));
  CHECK_FALSE(acceptableRequestId(""));
  CHECK_FALSE(acceptableRequestId(std::string(kMaxRequestIdLength + 1, 'x')));
  CHECK_FALSE(acceptableRequestId("has space"));
  CHECK_FALSE(acceptableRequestId("tab\t"));
  CHECK_FALSE(acceptableRequestId("caf\xc3\xa9"));
}

TEST_CASE("findRequestId takes the first X-Request-Id if it is acceptable") {
  ParsedHead a("GET / HTTP/1.1\r\nHost: a\r\nx-request-id:  abc \r\nX-Request-Id: def\r\n\r\n");
  REQUIRE(a.ok());
  CHECK(findRequestId(a.parser) == "abc");
  ParsedHead b("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: two words\r\n\r\n");
  CHECK(findRequestId(b.parser).empty());
  ParsedHead c("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(findRequestId(c.parser).empty());
}

TEST_CASE("generated request ids: 32 hex digits, unique, also across threads") {
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    std::string id = generated();
    CHECK(id.size() == 32);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(acceptableRequestId(id));
    seen.insert(id);
  }
  CHECK(seen.size() == 20000);
  std::vector<std::string> other;
  std::thread t([&] {
    for (int i = 0; i < 1000; ++i) other.push_back(generated());
  });
  t.join();
  for (const std::string& id : other) CHECK(seen.insert(id).second);
}

TEST_CASE("the request id replaces the client's X-Request-Id upstream") {
  ParsedHead ph(
      "GET /x HTTP/1.1\r\nHost: a\r\nX-Request-Id: bad id\r\nAccept: */*\r\n\r\n");
  RequestInfo info;
  const char* reason = nullptr;
  REQUIRE(analyzeRequest(ph.parser, info, &reason) == 0);
  ForwardContext fc{"10.0.0.1", false, "0123abcd"};
  std::string out(upstreamRequestHeadBound(ph.parser, info, fc), '\0');
  HeadWriter w(out.data(), out.size());
  writeUpstreamRequestHead(ph.parser, info, fc, w);
  REQUIRE_FALSE(w.overflow());
  out.resize(w.size());
  CHECK(out.find("X-Request-Id: 0123abcd\r\n") != std::string::npos);
  CHECK(out.find("bad id") == std::string::npos);
  CHECK(out.find("Accept: */*\r\n") != std::string::npos);
}

TEST_CASE("the request id goes back on proxied and local answers, replacing the backend's") {
  ParsedHead resp("HTTP/1.1 200 OK\r\nX-Request-Id: backend-own\r\nContent-Length: 0\r\n\r\n",
                  HTTP_RESPONSE);
  REQUIRE(resp.ok());
  const std::string id(kMaxRequestIdLength, 'r');
  std::string out(clientResponseHeadBound(resp.parser), '\0');
  HeadWriter w(out.data(), out.size());
  writeClientResponseHead(resp.parser, ResponseBody::kContentLength, false, false, w, id);
  REQUIRE_FALSE(w.overflow());  // the bound leaves room for the longest id
  out.resize(w.size());
  CHECK(out.find("X-Request-Id: " + id + "\r\n") != std::string::npos);
  CHECK(out.find("backend-own") == std::string::npos);

  char buf[512];
  size_t n = writeLocalResponse(404, "no route\n", false, false, buf, sizeof buf, "rid-9");
  std::string local(buf, n);
  CHECK(local.find("X-Request-Id: rid-9\r\n") != std::string::npos);
  n = writeLocalResponse(404, "no route\n", false, false, buf, sizeof buf);
  CHECK(std::string(buf, n).find("X-Request-Id") == std::string::npos);
}
