#pragma once
// One HTTP/2 connection to a backend (pools[].protocol h2 or h2c), owned by a worker, carrying
// many requests at once as streams: the nghttp2 client session over an UpstreamConn (TCP, or
// TLS with ALPN h2 through the same transport as HTTP/1.1 backends).
//
// A worker keeps a few sessions per backend: acquire() returns one with a free stream slot
// (below the backend's SETTINGS_MAX_CONCURRENT_STREAMS and pools[].http2.max_concurrent_streams,
// the newest config's: a reload changes it for the sessions already open) and opens another
// only when all are full. A session without streams stays open as the
// keep-alive connection (closed by the idle sweep, a GOAWAY, or the backend).
//
// A retired session (its backend left the config in a reload, or its pool's protocol or TLS
// settings changed; also one the idle sweep closes) takes no new stream; the streams it
// carries finish, then it sends GOAWAY (NO_ERROR) and closes, at once when it carries none.
//
// Flow control: response bytes are acknowledged (WINDOW_UPDATE) only when the stream's user
// calls consume(), i.e. once the client side took them; request bodies are pulled through
// H2StreamUser::h2ReadBody() as the backend's window allows. Worker thread only.

#include <cstdint>
#include <memory>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "switchyard/http/response_head.h"
#include "switchyard/net/buffer.h"
#include "switchyard/upstream/upstream_conn.h"

namespace sy::upstream {

// The request side of one stream (an UpstreamRequest).
class H2StreamUser {
 public:
  virtual ~H2StreamUser() = default;
  // The session's connection is up (the stream's frames can go out).
  virtual void h2Connected() = 0;
  // The connection could not be made (status: a libuv error): nothing was sent.
  virtual void h2ConnectFailed(int status) = 0;
  // A response head (interim or final; `h` is valid during the call only).
  virtual void h2Head(const http::ResponseHead& h) = 0;
  // Response body bytes in `block` (take a reference to keep them).
  virtual void h2Data(net::Block* block, const char* data, size_t n) = 0;
  // The backend's trailer fields (valid during the call only).
  virtual void h2Trailers(const http::FieldsView& f) = 0;
  // The backend ended its side of the stream.
  virtual void h2End() = 0;
  // The stream closed without a complete response: `refused` when the backend did not process
  // it (REFUSED_STREAM, or above a GOAWAY's last stream id): safe to send again.
  virtual void h2Reset(uint32_t errorCode, bool refused) = 0;
  // nghttp2's data source: fill up to `len` request body bytes; NGHTTP2_ERR_DEFERRED when none
  // are ready yet (resume() follows), NGHTTP2_DATA_FLAG_EOF in *flags at the end.
  virtual ssize_t h2ReadBody(uint8_t* buf, size_t len, uint32_t* flags) = 0;
};

class H2Session final : public ConnUser {
 public:
  struct Options {
    uint32_t maxStreams = 100;  // pools[].http2.max_concurrent_streams
    bool tls = false;
    std::shared_ptr<const net::TlsClientContext> tlsCtx;
  };
  // A session of `backend` on this worker with room for one more stream, opening a connection
  // when none has room. nullptr with *err (a libuv error) when no connection could be started.
  static H2Session* acquire(uv_loop_t* loop, Backend& backend, unsigned worker,
                            const Options& opts, net::BlockPool* blocks, net::WritePool* writes,
                            int* err);
  // Closes this worker's sessions of `backend` that carry no stream (and were idle since before
  // `cutoff`, uv_now() ms), with a GOAWAY; returns how many.
  static size_t closeIdle(Backend& backend, unsigned worker, uint64_t cutoff);
  // Retires this worker's sessions of `backend` (see above): all of them, or with `all` false
  // those made with another TLS context than `tls` (null: plain TCP). Returns how many.
  static size_t retire(Backend& backend, bool all, const net::TlsClientContext* tls = nullptr);
  // A reload set the pool's http2.max_concurrent_streams to `maxStreams`: this worker's
  // sessions of `backend` take new streams only below it (streams in flight above a lowered
  // cap finish), and sessions it opens later get it too.
  static void setMaxStreams(Backend& backend, unsigned worker, uint32_t maxStreams);
  // Sessions and streams this worker has open to `backend` (tests, metrics).
  static size_t sessionCount(const Backend& backend);

  // Starts a request: `nva` (copied), a body pulled from `user` when `withBody`. Returns the
  // stream id (>0) or <0 (nghttp2 error). Nothing is sent before the caller's send().
  int32_t submit(H2StreamUser* user, const nghttp2_nv* nva, size_t n, bool withBody);
  // The stream's user leaves (done, or giving up: the stream is reset when still open);
  // `unacked` response bytes it held back are acknowledged on the connection.
  void detach(int32_t id, uint64_t unacked);
  // More request body is ready for a deferred stream.
  void resume(int32_t id);
  // The client took `n` response bytes of the stream: they may be acknowledged.
  void consume(int32_t id, size_t n);
  // Request trailers to send after the body (then the stream ends).
  int submitTrailers(int32_t id, const nghttp2_nv* nva, size_t n);
  bool connected() const { return connected_; }
  bool reused() const { return streamsOpened_ > 1; }
  // Pending output bytes on the socket (request-side backpressure).
  size_t writeQueueSize() const;
  // Sends what nghttp2 has queued (no-op inside nghttp2 callbacks; done after them). Under a
  // Cork the session is only noted and sends when the last Cork of the thread goes.
  void send();

  // Held while a client connection processes one read or one flush: the streams it starts or
  // acknowledges on a backend connection leave in one write, not one write per stream.
  class Cork {
   public:
    Cork();
    ~Cork();
    Cork(const Cork&) = delete;
    Cork& operator=(const Cork&) = delete;
  };

  // ConnUser
  void onUpstreamConnect(int status) override;
  void onUpstreamAlloc(size_t suggested, uv_buf_t* buf) override;
  void onUpstreamRead(ssize_t n, const uv_buf_t* buf) override;
  void onUpstreamWriteDone(int status) override;

  // nghttp2 callbacks (h2_session.cc)
  int onBeginHeaders(const nghttp2_frame* f);
  int onHeader(const nghttp2_frame* f, nghttp2_rcbuf* name, nghttp2_rcbuf* value);
  int onFrameRecv(const nghttp2_frame* f);
  int onDataChunk(int32_t id, const uint8_t* data, size_t n);
  int onStreamClose(int32_t id, uint32_t err);

 private:
  struct Stream {
    H2StreamUser* user = nullptr;
    int32_t id = 0;
    int status = 0;
    bool headDone = false;   // a final head was handed over
    bool inTrailers = false;
    bool ended = false;      // the backend ended its side (END_STREAM seen)
    bool bad = false;        // a malformed head
    std::vector<http::Field> fields;
    std::vector<nghttp2_rcbuf*> bufs;
    void clearFields();
  };
  H2Session(uv_loop_t* loop, Backend& backend, unsigned worker, const Options& opts,
            net::BlockPool* blocks, net::WritePool* writes);
  ~H2Session() override;
  bool hasRoom() const;
  Stream* streamOf(int32_t id);
  Stream* takeStream();
  void deliverHead(Stream& s, bool endStream);
  // No new stream; GOAWAY and close once no stream is left.
  void beginRetire();
  // The last stream with a user left: a retired session says GOAWAY (sent by the caller's
  // send()), or closes at once when it never connected. False when the session is gone.
  bool streamsDone();
  // The connection is gone: every stream's user is told, the session deleted when safe.
  void fail(int status, bool connecting);
  void unlink();
  void maybeDelete();

  uv_loop_t* loop_;
  Backend* backend_;
  unsigned worker_;
  Options opts_;
  net::BlockPool* blocks_;
  net::WritePool* writes_;
  UpstreamConn* conn_ = nullptr;
  nghttp2_session* session_ = nullptr;
  net::Block* in_ = nullptr;  // read buffer (response bodies are forwarded by reference)
  uint32_t inUsed_ = 0;
  uint32_t streams_ = 0;       // streams with a user
  uint64_t streamsOpened_ = 0;
  uint64_t idleSince_ = 0;
  uint32_t busy_ = 0;          // nesting of nghttp2 calls (send() waits for it)
  bool connected_ = false;
  bool corked_ = false;        // noted for the end of the thread's Cork
  bool goaway_ = false;        // no new streams (GOAWAY received or sent, connection lost)
  bool retiring_ = false;      // GOAWAY and close once the last stream ends
  bool goawaySent_ = false;    // our GOAWAY is submitted
  bool dead_ = false;          // connection gone: deleted once unbusy
  std::vector<Stream*> live_;  // streams nghttp2 knows (with or without a user)
  std::vector<Stream*> free_;
};

}  // namespace sy::upstream
