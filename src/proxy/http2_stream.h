#pragma once
// One HTTP/2 stream of an Http2Connection: the request head as received (HPACK-decoded fields
// copied into the stream's storage), its UpstreamRequest, and the response body waiting for
// the client's flow-control window. Internal to src/proxy. Worker thread only.

#include <cstdint>
#include <string>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "switchyard/http/request_head.h"
#include "switchyard/http/websocket_key.h"
#include "switchyard/net/timer_wheel.h"
#include "switchyard/proxy/http2_connection.h"
#include "switchyard/proxy/request_sink.h"
#include "switchyard/proxy/upstream_request.h"

namespace sy::proxy {

// Storage for one response head being converted to nghttp2's form (worker thread; reused, so
// steady state allocates nothing): the fields to send, then their nva.
struct HeadScratch {
  std::vector<http::Field> fields;
  std::vector<nghttp2_nv> nva;
  std::string lower;  // the lowercase names the nva points at
};
HeadScratch& headScratch();
// s.nva for s.fields: :status (3 characters at `status`), then the fields with lowercase names
// (x-request-id and set-cookie never indexed).
void buildNva(HeadScratch& s, const char* status);

class Http2Stream final : public RequestSink {
 public:
  explicit Http2Stream(http::HeaderPool* headers);
  ~Http2Stream() override;
  // The connection the next open() belongs to (objects are pooled per worker: Http2StreamPool).
  void bind(Http2Connection& conn) { c_ = &conn; }
  // (Re)starts the object for stream `id` of its bound connection.
  void open(int32_t id);

  int32_t id() const { return id_; }
  // A header field of the request head (names are lowercase, nghttp2 validated them). False
  // when the decoded head exceeds `limit` bytes.
  bool addField(std::string_view name, std::string_view value, uint64_t limit);
  // The head is complete (END_HEADERS): start the request. `endStream`: no body follows.
  void headComplete(bool endStream);
  // Request body bytes referenced in `block`.
  void body(net::Block* block, const char* data, size_t n);
  void bodyEnd();
  // The stream closed (nghttp2): records the request and gives everything back (the object
  // returns to its connection's free list).
  void closed(uint32_t error);
  // nghttp2 asks for response body bytes.
  ssize_t readBody(uint8_t* buf, size_t length, uint32_t* flags);
  bool started() const { return started_; }
  void beginTrailers() { trailers_ = true; }
  bool inTrailers() const { return trailers_; }
  void addTrailer(std::string_view name, std::string_view value) {
    if (up_.begun()) up_.addTrailer(name, value);
  }
  // A response (or a local answer) was submitted.
  bool answered() const { return responded_; }
  // The request body is still arriving.
  bool requestOpen() const { return started_ && !bodyEnded_in_; }

  Http2Stream* prev = nullptr;  // the connection's list
  Http2Stream* next = nullptr;
  Http2Stream* nextFree = nullptr;  // the worker's Http2StreamPool

  // RequestSink
  void sendContinue() override {}
  void sendInterim(const http::ResponseHead& resp) override;
  int sendResponseHead(const http::ResponseHead& resp) override;
  const char* headRefusal() const override { return headRefusal_; }
  void sendResponseTrailers(const http::FieldsView& fields) override;
  void submitTrailers();
  void sendResponseBody(net::Block* block, const char* data, size_t n) override;
  void sendResponseEnd() override;
  void flushResponse() override;
  bool responseBackpressured() const override;
  void responseStalled() override {}
  void responseDone() override;
  void respondLocal(int status, metrics::LocalReason reason, const char* body, bool close,
                    std::string_view location = {}) override;
  void abortResponse() override;
  void requestBodyDrained() override;
  // WebSocket over HTTP/2 (http2_tunnel.cc): the backend's 101 opened the tunnel; its bytes;
  // it closed.
  void tunnelOpened() override;
  void tunnelData() override;
  void tunnelClosed() override;

 private:
  struct Chunk {
    net::Block* block;
    const char* data;
    uint32_t len;
  };
  void submit(const std::vector<nghttp2_nv>& nva, bool withBody);
  // respondLocal() for a gRPC call: a trailers-only answer (http2_grpc_answer.cc).
  void respondGrpc(int status, metrics::LocalReason reason, const char* body);
  void clearChunks();

  // WebSocket over HTTP/2 (RFC 8441, http2_tunnel.cc). An extended CONNECT with
  // ":protocol websocket" goes to the backend as an HTTP/1.1 upgrade GET with a key made here;
  // the backend's 101 (its Sec-WebSocket-Accept checked) becomes a 200 and the stream's DATA
  // frames carry the tunnel's bytes both ways, under the pool's tunnel_idle.
  enum class Ws : uint8_t { kNone, kWaiting, kOpen };
  // The head is an extended CONNECT for websocket: turns `head` into the upgrade GET.
  bool wsPrepare(http::RequestHead& head);
  // Client DATA for a tunnel stream (held until the tunnel opens, window not given back).
  void wsClientData(net::Block* block, const char* data, size_t n);
  void wsClientEnd();
  // The backend's 101: checks the accept value and answers 200 (0), or fails the head (-1).
  int wsAccept(const http::ResponseHead& resp);
  void wsSend(net::Block* block, const char* data, size_t n);
  void wsArmIdle();
  void wsClosed();
  static void wsIdleFired(net::TimerWheel::Entry* e);

  Http2Connection* c_ = nullptr;
  int32_t id_ = 0;
  UpstreamRequest up_;
  // request head storage: names and values back to back; fields_ views into it once complete
  std::string store_;
  std::vector<uint32_t> offsets_;  // name off, name len, value off, value len per field
  std::vector<http::Field> fields_;
  std::string_view method_, scheme_, authority_, path_;
  uint32_t pseudo_[10] = {0};  // :method, :scheme, :authority, :path, :protocol (off, len)
  bool started_ = false;
  bool trailers_ = false;   // a second HEADERS (trailers) is arriving
  bool localBody_ = false;  // the response body is local text in localText_
  std::string localText_;
  std::string trailerStore_;   // the backend's trailers: names and values, back to back
  std::vector<uint32_t> trailerLens_;  // name and value lengths, in order
  size_t localSent_ = 0;
  // response body waiting for the window
  std::vector<Chunk> chunks_;
  size_t chunkHead_ = 0;
  size_t chunkOff_ = 0;
  size_t pending_ = 0;
  bool bodyEnded_ = false;    // the response body is complete
  bool bodyEnded_in_ = false; // the request body is complete
  bool deferred_ = false;     // readBody returned NGHTTP2_ERR_DEFERRED
  bool responded_ = false;    // a response was submitted
  size_t unconsumed_ = 0;     // request body bytes not yet given back as window
  uint64_t headBytes_ = 0;    // decoded request head size (RFC 9113 measure)
  char status_[4] = {0};
  char retryAfter_[12] = {0};  // Retry-After value of a local answer (nghttp2 keeps a pointer)
  // WebSocket tunnel
  Ws ws_ = Ws::kNone;
  bool wsClientEnded_ = false;            // END_STREAM from the client before the tunnel opened
  std::vector<Chunk> wsEarly_;            // client DATA before the tunnel opened
  net::TimerWheel::Entry wsIdle_;         // tunnel_idle
  char wsKey_[http::kWebSocketKeyLength] = {0};
  const char* headRefusal_ = "response head too large";
};

}  // namespace sy::proxy
