// The request side of forward.h: HeadWriter and analyzeRequest (Host, targets, TE, Expect,
// framing, which upgrades may open a tunnel).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "forward_util.h"

using namespace sy::http;
using namespace sy::http::test;

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
