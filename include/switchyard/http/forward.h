#pragma once
// What a proxy must check and rewrite in message heads (RFC 9110 §7.6, RFC 9112):
// request checks llhttp leaves to the caller, hop-by-hop header removal, re-derived framing,
// and the X-Forwarded-* / Via headers. Pure functions over a parsed head; any thread.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/http/parser.h"
#include "switchyard/http/request_head.h"
#include "switchyard/http/response_head.h"
#include "switchyard/http/target.h"

namespace sy::http {

// Appends into a fixed memory area; remembers overflow instead of failing each call.
class HeadWriter {
 public:
  HeadWriter(char* begin, size_t capacity) : begin_(begin), p_(begin), end_(begin + capacity) {}
  void put(std::string_view s) {
    if (overflow_ || static_cast<size_t>(end_ - p_) < s.size()) [[unlikely]] {
      overflow_ = true;
      return;
    }
    __builtin_memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void putChar(char c);
  void putUint(uint64_t v);
  size_t size() const { return static_cast<size_t>(p_ - begin_); }
  bool overflow() const { return overflow_; }

 private:
  char* begin_;
  char* p_;
  char* end_;
  bool overflow_ = false;
};

// Facts about a request head needed to route and forward it.
struct RequestInfo {
  std::string_view host;    // Host (or absolute-form authority) without port; as sent
  std::string_view authority;  // Host header value as sent (with port), for X-Forwarded-Host
  std::string_view target;  // origin-form target to send upstream ("/a/b?q")
  std::string_view path;    // target without the query, for routing
  bool expectContinue = false;
  bool chunked = false;
  bool hasContentLength = false;
  uint64_t contentLength = 0;
  bool keepAlive = true;
  bool http10 = false;
  bool isHead = false;
  bool absoluteForm = false;  // target was absolute-form: its authority replaces Host
  bool http2 = false;         // arrived over HTTP/2 (authority from :authority)
  bool teTrailers = false;    // TE lists "trailers": the client takes trailer fields
  // The Upgrade header of a request that may switch the connection to a tunnel: a bodiless
  // HTTP/1.1 GET with "Connection: upgrade" and one Upgrade header naming websocket first.
  // Empty otherwise (other upgrades, e.g. h2c, are dropped like any hop-by-hop header).
  std::string_view upgrade;
  // HTTP/2 WebSocket (RFC 8441, RequestHead::websocketKey): the key sent upstream with the
  // upgrade (the client's own Sec-WebSocket-Key, if any, is dropped). Empty otherwise.
  std::string_view websocketKey;
  // issue 21: where target (and path) live when normalisation rewrote them (target.h).
  TargetStorage targetStorage;
};

// Checks what strict llhttp does not (Host presence, uniqueness and syntax, a single
// Content-Length value, no Transfer-Encoding in HTTP/1.0, request-target form, no fragment; for
// HTTP/2 an authority, and a Host that agrees with :authority) and fills `info`, with target and
// path normalised (normalizePath()). Returns 0, or the status to refuse with (400, 414...) and a
// short reason.
int analyzeRequest(const RequestHead& h, RequestInfo& info, const char** reason);
// HTTP/1.1: the request line (version, single spaces) and then analyzeRequest on its head.
int checkRequestLine(const Parser& p, const char** reason);
int analyzeRequest(const Parser& p, RequestInfo& info, const char** reason);

struct ForwardContext {
  std::string_view clientIp;  // textual peer address
  bool tls = false;           // the request arrived over TLS
  // X-Request-Id to send (request_id.h); when set it replaces any X-Request-Id of the request.
  std::string_view requestId = {};
  // A route's rewrite_prefix: the first `stripPrefix` bytes of the target are replaced by
  // `newPrefix` (one '/' where they meet), and X-Forwarded-Prefix is set to the part removed.
  bool rewrite = false;
  std::string_view stripPrefix = {};
  std::string_view newPrefix = {};
  // The route's request_headers (null or empty: none): applied last, over the client's headers
  // and the proxy's own (X-Forwarded-*, Via, X-Request-Id).
  const config::HeaderRules* edits = nullptr;
};

// Upper bound of the bytes writeUpstreamRequestHead() may produce for this head.
size_t upstreamRequestHeadBound(const RequestHead& h, const RequestInfo& info,
                                const ForwardContext& fc);
size_t upstreamRequestHeadBound(const Parser& p, const RequestInfo& info, const ForwardContext& fc);

// Writes the request head sent to the backend: HTTP/1.1 request line, end-to-end headers
// (hop-by-hop ones and those named by Connection removed), framing re-derived from the parsed
// body (Content-Length or chunked), X-Forwarded-For appended, X-Forwarded-Proto and
// X-Forwarded-Host set, Via appended, X-Request-Id set from fc.requestId. Expect is dropped
// (the proxy answers 100-continue). An info.upgrade is passed on as "Connection: upgrade" and
// "Upgrade". With fc.rewrite the target's prefix is replaced (see ForwardContext).
void writeUpstreamRequestHead(const RequestHead& h, const RequestInfo& info,
                              const ForwardContext& fc, HeadWriter& w);
void writeUpstreamRequestHead(const Parser& p, const RequestInfo& info, const ForwardContext& fc,
                              HeadWriter& w);

// Fields the proxy adds to a response head (rate limiting's RateLimit, RateLimit-Policy,
// Retry-After): views owned by the request, names in their usual case (HTTP/2 lowercases them).
struct ExtraFields {
  const Field* fields = nullptr;
  size_t count = 0;
  size_t bytes() const {
    size_t n = 0;
    for (size_t i = 0; i < count; ++i) n += fields[i].name.size() + fields[i].value.size() + 4;
    return n;
  }
};

enum class ResponseBody {
  kNone,           // HEAD, 1xx, 204, 304: no body bytes follow
  kContentLength,  // forwarded with its Content-Length
  kChunked,        // body of unknown length re-framed as chunked (HTTP/1.1 clients)
  kUntilClose,     // body of unknown length to an HTTP/1.0 client: close to delimit
};

// Chooses the client-side framing for a parsed response head.
ResponseBody chooseResponseBody(const ResponseHead& resp, bool requestWasHead, bool clientHttp10);

// Writes the response head sent to the client: status line, end-to-end headers, the framing
// header for `body`, Via appended, and "Connection: close" when `closeAfter` (or
// "Connection: keep-alive" for a keep-alive HTTP/1.0 client). A non-empty `requestId` is sent
// as X-Request-Id, replacing the backend's. A 101 that switches protocols (resp.upgrade())
// carries "Connection: upgrade" and the backend's Upgrade instead. `edits` (a route's
// response_headers) are applied over the backend's headers and the proxy's own.
void writeClientResponseHead(const ResponseHead& resp, ResponseBody body, bool closeAfter,
                             bool clientHttp10, HeadWriter& w, std::string_view requestId = {},
                             const config::HeaderRules* edits = nullptr,
                             const ExtraFields& extra = {});
// HTTP/2 clients: the fields of a response head to send after :status: end-to-end headers
// (hop-by-hop ones, those named by Connection, and Transfer-Encoding removed; Content-Length
// only when `keepLength`), X-Request-Id replaced by `requestId`, the route's `edits` applied,
// Via appended. Views into `resp`, `edits` and `requestId`; names as received (lowercase them
// before sending). `out` is cleared first.
void h2ResponseFields(const ResponseHead& resp, bool keepLength, std::string_view requestId,
                      const config::HeaderRules* edits, std::vector<Field>& out,
                      const ExtraFields& extra = {});
// Writes an interim (1xx) response head as received: status line and end-to-end headers.
void writeInterimHead(const ResponseHead& resp, HeadWriter& w);
// The value of the only Upgrade header of a head; empty if there is none or several.
std::string_view upgradeHeader(const FieldsView& f);
std::string_view upgradeHeader(const Parser& p);
// Includes room for an X-Request-Id of up to kMaxRequestIdLength.
size_t clientResponseHeadBound(const ResponseHead& resp, const config::HeaderRules* edits = nullptr,
                               const ExtraFields& extra = {});

// A complete short response generated by the proxy itself (errors, 100 Continue excluded).
// `body` should end with "\n"; a non-empty `requestId` is sent as X-Request-Id. Returns bytes
// written (0 on overflow).
// A non-empty `location` is sent as Location (redirects); a non-zero `retryAfter` as
// Retry-After (seconds).
size_t writeLocalResponse(int status, std::string_view body, bool closeAfter, bool isHead,
                          char* out, size_t capacity, std::string_view requestId = {},
                          std::string_view location = {}, uint32_t retryAfter = 0,
                          const ExtraFields& extra = {});
// The same answer to a gRPC call over HTTP/1.1 (proxy/grpc.h): "200 OK", content-type
// application/grpc, `grpc-status` and the already encoded `grpcMessage` as header fields,
// Content-Length: 0 (what Envoy sends to HTTP/1.1 gRPC clients).
size_t writeGrpcLocalResponse(uint8_t grpcStatus, std::string_view grpcMessage, bool closeAfter,
                              char* out, size_t capacity, std::string_view requestId = {},
                              uint32_t retryAfter = 0, const ExtraFields& extra = {});

// Standard reason phrase for a status code ("Bad Gateway"); "Unknown" otherwise.
std::string_view reasonPhrase(int status);

}  // namespace sy::http
