#pragma once
// The downstream end of one request: what an UpstreamRequest tells the client side. An
// HTTP/1.1 connection implements it for its current request, an HTTP/2 stream for itself; each
// frames the response in its own protocol. Worker thread only.

#include <cstddef>
#include <string_view>

#include "switchyard/http/response_head.h"
#include "switchyard/metrics/local_responses.h"
#include "switchyard/net/buffer.h"

namespace sy::proxy {

class RequestSink {
 public:
  virtual ~RequestSink() = default;
  // The proxy accepted a body with "Expect: 100-continue": ask the client to send it.
  virtual void sendContinue() = 0;
  // An interim (1xx, not 101) answer from the backend.
  virtual void sendInterim(const http::ResponseHead& resp) = 0;
  // The backend's final (or 101) response head, from whichever backend protocol. Return 0 to
  // go on, 1 when no body follows (answer to HEAD, 204, 304), -1 when it cannot be relayed
  // (too large: the request fails with 502).
  virtual int sendResponseHead(const http::ResponseHead& resp) = 0;
  // Why the last sendResponseHead() returned -1 (logged with the 502).
  virtual const char* headRefusal() const { return "response head too large"; }
  // Response body bytes (framing removed), referenced in `block` (take a reference to keep).
  virtual void sendResponseBody(net::Block* block, const char* data, size_t n) = 0;
  // The backend's trailer fields (HTTP/2 backends), before sendResponseEnd(); valid during the
  // call only. Relayed to HTTP/2 clients, and to HTTP/1.1 ones that sent "TE: trailers" when
  // the body goes chunked; dropped otherwise.
  virtual void sendResponseTrailers(const http::FieldsView& fields) = 0;
  // The body is complete.
  virtual void sendResponseEnd() = 0;
  // End of one upstream read: push what was collected to the client.
  virtual void flushResponse() = 0;
  // Whether the client side holds too many unsent response bytes (upstream reading pauses,
  // and resumes through UpstreamRequest::resumeResponse()).
  virtual bool responseBackpressured() const = 0;
  // Upstream reading was paused for backpressure.
  virtual void responseStalled() = 0;
  // The response is complete and the upstream side released.
  virtual void responseDone() = 0;
  // Answer locally (no response has started): `close` asks to end the connection afterwards
  // (HTTP/1.1) or the stream (HTTP/2: the request body is abandoned). Counted in
  // switchyard_local_responses_total{listener,code,reason} under `reason` (local_responses.h).
  virtual void respondLocal(int status, metrics::LocalReason reason, const char* body, bool close,
                            std::string_view location = {}) = 0;
  // The request failed after its response started: the only honest signal is to cut it.
  virtual void abortResponse() = 0;
  // The upstream side drained its write queue: more request body may be read.
  virtual void requestBodyDrained() = 0;
  // Tunnels (an HTTP/1.1 upgrade, or WebSocket over HTTP/2): the backend switched protocols
  // (101 relayed, or answered 200 on the HTTP/2 stream); bytes it sends afterwards; it closed.
  virtual void tunnelOpened() {}
  virtual void tunnelData() {}
  virtual void tunnelClosed() {}
};

}  // namespace sy::proxy
