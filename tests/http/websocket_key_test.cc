// WebSocket handshake values (websocket_key.h) and the upgrade GET written for a WebSocket
// over HTTP/2 request (RequestHead::websocketKey).
#include "switchyard/http/websocket_key.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "switchyard/http/forward.h"
#include "switchyard/http/request_head.h"

using namespace sy::http;

TEST_CASE("Sec-WebSocket-Accept of RFC 6455's example key") {
  char out[kWebSocketAcceptLength];
  webSocketAccept("dGhlIHNhbXBsZSBub25jZQ==", out);
  CHECK(std::string(out, sizeof out) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(webSocketAcceptMatches("dGhlIHNhbXBsZSBub25jZQ==", " s3pPLMBiTxaQ9kYGzzhZRbK+xOo= "));
  CHECK_FALSE(webSocketAcceptMatches("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo"));
  CHECK_FALSE(webSocketAcceptMatches("dGhlIHNhbXBsZSBub25jZQ==", "S3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  CHECK_FALSE(webSocketAcceptMatches("AAAAAAAAAAAAAAAAAAAAAA==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  CHECK_FALSE(webSocketAcceptMatches("dGhlIHNhbXBsZSBub25jZQ==", ""));
}

TEST_CASE("generated keys are 16 random bytes in base64, different each time") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    char key[kWebSocketKeyLength];
    REQUIRE(makeWebSocketKey(key));
    std::string k(key, sizeof key);
    CHECK(k.substr(22) == "==");
    for (char c : k.substr(0, 22)) CHECK((isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/'));
    seen.insert(k);
  }
  CHECK(seen.size() == 100);
}

namespace {

struct WsHead {
  std::vector<Field> fields;
  RequestHead head;
  RequestInfo info;
  int status = -1;
  const char* reason = nullptr;

  explicit WsHead(std::vector<Field> f, std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==")
      : fields(std::move(f)) {
    REQUIRE(methodFromName("GET", head.method));
    head.methodName = "GET";
    head.scheme = "https";
    head.authority = "ws.test";
    head.target = "/chat?room=1";
    head.versionMajor = 2;
    head.versionMinor = 0;
    head.websocketKey = key;
    head.fields = FieldsView(fields.data(), static_cast<uint32_t>(fields.size()));
    status = analyzeRequest(head, info, &reason);
  }
  std::string upstream() {
    ForwardContext fc{"10.0.0.1", true, "rid"};
    std::string out(upstreamRequestHeadBound(head, info, fc), '\0');
    HeadWriter w(out.data(), out.size());
    writeUpstreamRequestHead(head, info, fc, w);
    REQUIRE_FALSE(w.overflow());
    out.resize(w.size());
    return out;
  }
};

}  // namespace

TEST_CASE("WebSocket over HTTP/2: the upstream head is an HTTP/1.1 upgrade GET with our key") {
  WsHead h({{"sec-websocket-version", "13"},
            {"sec-websocket-protocol", "chat"},
            {"sec-websocket-key", "client-sent-key-is-dropped"},
            {"origin", "https://ws.test"}});
  REQUIRE(h.status == 0);
  CHECK(h.info.upgrade == "websocket");
  CHECK(h.info.websocketKey == "dGhlIHNhbXBsZSBub25jZQ==");
  const std::string up = h.upstream();
  CHECK(up.starts_with("GET /chat?room=1 HTTP/1.1\r\n"));
  CHECK(up.find("\r\nConnection: upgrade\r\nUpgrade: websocket\r\n") != std::string::npos);
  CHECK(up.find("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") != std::string::npos);
  CHECK(up.find("client-sent-key") == std::string::npos);
  CHECK(up.find("\r\nsec-websocket-version: 13\r\n") != std::string::npos);
  CHECK(up.find("\r\nsec-websocket-protocol: chat\r\n") != std::string::npos);
  CHECK(up.find("\r\nHost: ws.test\r\n") != std::string::npos);
  CHECK(up.find("Content-Length") == std::string::npos);
  CHECK(up.find("Transfer-Encoding") == std::string::npos);
  CHECK(up.ends_with("\r\n\r\n"));
}

TEST_CASE("WebSocket over HTTP/2: a body length is refused; without a key nothing changes") {
  WsHead withBody(std::vector<Field>{{"content-length", "5"}});
  withBody.head.hasContentLength = true;
  withBody.head.contentLength = 5;
  withBody.status = analyzeRequest(withBody.head, withBody.info, &withBody.reason);
  CHECK(withBody.status == 400);

  WsHead plain(std::vector<Field>{{"sec-websocket-version", "13"}}, "");
  REQUIRE(plain.status == 0);
  CHECK(plain.info.upgrade.empty());
  const std::string up = plain.upstream();
  CHECK(up.find("Upgrade") == std::string::npos);
  CHECK(up.find("Sec-WebSocket-Key") == std::string::npos);
}
