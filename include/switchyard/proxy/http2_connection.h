#pragma once
// The HTTP/2 codec of a client connection (libnghttp2, server side). The Http1Connection that
// accepted the socket stays the transport (socket, TLS, input block, writes, deadlines) and
// hands every plaintext byte to this codec once ALPN chose "h2" or the cleartext connection
// began with the HTTP/2 preface (listeners[].protocols h2c).
//
// Every stream is a full request: an Http2Stream (the RequestSink) with its own UpstreamRequest,
// so routing, header rules, balancing, retries, health, metrics and the access log behave as
// for HTTP/1.1. Request bodies stream to the backend as references into the input blocks; the
// stream's receive window is only given back (nghttp2_session_consume) once the backend side
// has room, so a client cannot make the proxy buffer more than a window per stream. Response
// bodies queue per stream up to kHighWater before the backend is paused.
//
// nghttp2 output is produced only from the codec's flush (end of input processing, or the
// loop's idle phase), never from inside a stream callback: a stream may be closed and freed
// by nghttp2 during output, and no stream frame is on the stack then.
//
// Defences beyond nghttp2's own (Rapid Reset rate limit, CONTINUATION limit, SETTINGS and
// outbound-ACK limits): a decoded header-list limit per stream, and a per-connection budget of
// protocol glitches (refilled over time) that ends the connection with GOAWAY
// ENHANCE_YOUR_CALM. Worker thread only.

#include <cstdint>
#include <string>
#include <vector>

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "switchyard/config/config.h"
#include "switchyard/net/buffer.h"
#include "switchyard/proxy/input_buffer.h"

namespace sy::proxy {

class Http1Connection;
class Http2Stream;

class Http2Connection {
 public:
  explicit Http2Connection(Http1Connection& transport);
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Creates the nghttp2 session and queues the server's SETTINGS. False when out of memory.
  bool start(const config::Http2Settings& settings, uint32_t maxHeaderBytes);
  // Plaintext bytes in `in` (all of them are consumed). False: the connection must close
  // (after what was queued is written).
  bool onInput(InputBuffer& in);
  // Client writes drained below the low-water mark: more output may be produced.
  void onWritable();
  // No new streams; in-flight ones finish (GOAWAY NO_ERROR with the last stream id).
  void drain();
  // Drains when a reload removed the listener or changed its connection settings.
  void checkListener();
  // The client made no progress for the connection's deadline (see deadline()).
  void onTimeout();
  // Produces and writes queued frames now (not from inside stream callbacks).
  void flush();
  // Asks for a flush from the loop's idle phase (safe from any callback).
  void scheduleFlush();
  // The deadline the transport should arm for this codec (uv_now ms; 0 = none).
  uint64_t deadline() const;
  bool finished() const { return finished_; }

  // Used by streams.
  nghttp2_session* session() { return session_; }
  Http1Connection& transport() { return t_; }
  // A stream is gone (unlinks it; the counters say what it was still waiting for).
  void streamClosed(Http2Stream* s, bool headPending, bool bodyPending);
  // A stream's request body ended.
  void bodyDone();
  // Closes every stream now (the client went away or the connection is aborted).
  void abandon();
  // Counts a protocol glitch (invalid frame, refused header list, flood frame...); past the
  // budget the connection ends with GOAWAY ENHANCE_YOUR_CALM.
  void glitch(uint32_t weight = 1);
  // Consumes connection/stream window for `n` request body bytes once the backend side took them.
  void consume(int32_t streamId, size_t n);

  // nghttp2 callbacks (static trampolines in http2_connection.cc).
  int onBeginHeaders(const nghttp2_frame* f);
  int onHeader(const nghttp2_frame* f, nghttp2_rcbuf* name, nghttp2_rcbuf* value);
  int onFrameRecv(const nghttp2_frame* f);
  int onDataChunk(uint8_t flags, int32_t id, const uint8_t* data, size_t len);
  int onStreamClose(int32_t id, uint32_t error);
  int onInvalidFrame(const nghttp2_frame* f, int err);
  int onFrameSend(const nghttp2_frame* f);

 private:
  // GOAWAY with the last stream id; `end`: no stream may finish (see terminate()).
  void goaway(uint32_t error, bool end);
  void checkDone();
  // One write of frames; true when it stopped for room while nghttp2 had more to send.
  bool flushBatch();
  // GOAWAY with `error` and no stream may finish (never a higher last-stream-id than before).
  void terminate(uint32_t error);
  // Closes every stream and the connection after what is queued.
  void close();
  static void onIdle(uv_idle_t* h);

  Http1Connection& t_;
  nghttp2_session* session_ = nullptr;
  uv_idle_t* idle_ = nullptr;  // heap: freed in its close callback, after this object
  bool idleActive_ = false;
  bool inFlush_ = false;
  bool goawaySent_ = false;
  bool finished_ = false;
  bool calm_ = false;         // ENHANCE_YOUR_CALM sent
  Http2Stream* streamList_ = nullptr;
  uint32_t streams_ = 0;      // open streams (with an Http2Stream)
  uint32_t headsPending_ = 0;   // streams whose request head is still arriving
  uint32_t bodiesPending_ = 0;  // streams whose request body is still arriving
  uint64_t maxHeaderList_ = 0;
  InputBuffer* in_ = nullptr;  // the input being processed (body bytes are referenced in it)
  // glitch budget: a token bucket
  double glitchTokens_ = 0;
  uint64_t glitchAt_ = 0;
  uint64_t idleSince_ = 0;     // when the last stream closed (or the connection started)
  uint64_t headSince_ = 0;     // when the pending request head began
  uint64_t bodySince_ = 0;     // the last DATA frame (or body start) of a pending body
  uint64_t partialSince_ = 0;  // input that completed no frame arrived since (0: none)
  bool frameSeen_ = false;     // a frame callback ran during the current input
  int32_t lastGoawayId_ = -1;  // last-stream-id of the GOAWAY sent, if any
  bool terminating_ = false;   // a connection error: close once the GOAWAY is out
  uint32_t generation_ = 0;    // the listener's settings generation at start
};

}  // namespace sy::proxy
