// Http2Connection: the nghttp2 server session, its callbacks, output and defences.
#include "switchyard/proxy/http2_connection.h"

#include "switchyard/proxy/h2_memory.h"

#include <algorithm>
#include <cstring>

#include "http2_stream.h"
#include "switchyard/common/log.h"
#include "switchyard/proxy/http1_connection.h"
#include "switchyard/proxy/http2_stream_pool.h"
#include "switchyard/server/worker.h"
#include "switchyard/upstream/h2_session.h"

namespace sy::proxy {
namespace {

// Glitch budget: a bucket of kGlitchBurst tokens refilled at kGlitchPerSecond. A browser
// spends a handful per connection (SETTINGS, PING, a cancelled stream); floods spend hundreds.
constexpr double kGlitchBurst = 400;
constexpr double kGlitchPerSecond = 40;

Http2Connection* self(void* user) { return static_cast<Http2Connection*>(user); }

Http2Stream* streamOf(nghttp2_session* s, int32_t id) {
  return static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(s, id));
}

nghttp2_session_callbacks* callbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_headers_callback(
        c, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
          return self(u)->onBeginHeaders(f);
        });
    nghttp2_session_callbacks_set_on_header_callback2(
        c, [](nghttp2_session*, const nghttp2_frame* f, nghttp2_rcbuf* n, nghttp2_rcbuf* v,
              uint8_t, void* u) { return self(u)->onHeader(f, n, v); });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        c, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
          return self(u)->onFrameRecv(f);
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        c, [](nghttp2_session*, uint8_t flags, int32_t id, const uint8_t* d, size_t n, void* u) {
          return self(u)->onDataChunk(flags, id, d, n);
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        c, [](nghttp2_session*, int32_t id, uint32_t err, void* u) {
          return self(u)->onStreamClose(id, err);
        });
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(
        c, [](nghttp2_session*, const nghttp2_frame* f, int err, void* u) {
          return self(u)->onInvalidFrame(f, err);
        });
    nghttp2_session_callbacks_set_on_frame_send_callback(
        c, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
          return self(u)->onFrameSend(f);
        });
    return c;
  }();
  return cbs;
}

}  // namespace

Http2Connection::Http2Connection(Http1Connection& transport) : t_(transport) {
  server::Worker& w = t_.worker();
  w.stats().addListener(t_.listener().slot, metrics::kH2ConnOpened);
  idleSince_ = uv_now(w.loop());
  generation_ = t_.listener().generation;
  glitchTokens_ = kGlitchBurst;
  glitchAt_ = idleSince_;
}

Http2Connection::~Http2Connection() {
  abandon();
  if (session_) nghttp2_session_del(session_);
  if (idle_) {
    idle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(idle_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
  }
  t_.worker().stats().addListener(t_.listener().slot, metrics::kH2ConnClosed);
}

void Http2Connection::abandon() {
  finished_ = true;
  while (Http2Stream* s = streamList_) {
    if (session_) nghttp2_session_set_stream_user_data(session_, s->id(), nullptr);
    s->closed(NGHTTP2_CANCEL);  // unlinks and frees it
  }
}

bool Http2Connection::start(const config::Http2Settings& cfg, uint32_t maxHeaderBytes) {
  maxHeaderList_ = cfg.maxHeaderListBytes ? cfg.maxHeaderListBytes : maxHeaderBytes;
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) return false;
  nghttp2_option_set_no_auto_window_update(opt, 1);  // windows follow the backend's pace
  nghttp2_option_set_max_settings(opt, 32);          // entries per SETTINGS frame
  nghttp2_option_set_max_outbound_ack(opt, 100);     // unanswered PING/SETTINGS ACKs queued
  nghttp2_option_set_max_continuations(opt, 8);      // CVE-2024-27316
  nghttp2_option_set_stream_reset_rate_limit(opt, 200, 50);  // CVE-2023-44487
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  int rc = nghttp2_session_server_new3(&session_, callbacks(), this, opt, H2Memory::mem());
  nghttp2_option_del(opt);
  if (rc != 0) return false;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg.maxConcurrentStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg.initialWindowSize},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(maxHeaderList_)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // WebSocket over HTTP/2 (http2_tunnel.cc)
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0)
    return false;
  // The connection window: room for several streams' windows at once.
  const uint64_t connWindow = std::min<uint64_t>(uint64_t{cfg.initialWindowSize} * 16, 0x7fffffff);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(connWindow));
  idle_ = new uv_idle_t;
  uv_idle_init(t_.worker().loop(), idle_);
  idle_->data = this;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Input

bool Http2Connection::onInput(InputBuffer& in) {
  if (finished_) {
    in.parsed = in.end;
    return false;
  }
  checkListener();
  upstream::H2Session::Cork cork;  // streams started by this read share backend writes
  in_ = &in;
  frameSeen_ = false;
  ssize_t n = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(in.at(in.parsed)),
                                       in.unparsed());
  in_ = nullptr;
  in.parsed = in.end;
  // Bytes that completed no frame: a frame trickling in runs against client_header.
  if (frameSeen_) {
    partialSince_ = 0;
  } else if (!partialSince_) {
    partialSince_ = uv_now(t_.worker().loop());
  }
  if (n < 0) {
    LOG_DEBUG("client %s: HTTP/2: %s", t_.client().ip, nghttp2_strerror(static_cast<int>(n)));
    if (n == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      finished_ = true;
      return false;
    }
    // A connection error (flood, bad frame): GOAWAY (nghttp2 may have queued one), then close
    // whatever streams are open (RFC 9113 §5.4.1).
    terminate(NGHTTP2_PROTOCOL_ERROR);
  }
  flush();
  return !finished_;
}

uint64_t Http2Connection::deadline() const {
  if (finished_) return 0;
  const config::ClientTimeouts& to = t_.listenerTimeouts();
  // A request head runs against client_header from its first frame (HTTP/2 heads cannot
  // interleave, so one is pending at a time); bodies against client_body between DATA frames;
  // a connection without streams against client_idle from when it became idle (PINGs and
  // partial frames do not extend it).
  uint64_t d = 0;
  if (headsPending_ > 0) {
    d = headSince_ + to.clientHeader.count();
  } else if (bodiesPending_ > 0) {
    d = bodySince_ + to.clientBody.count();
  } else if (streams_ == 0) {
    d = idleSince_ + to.clientIdle.count();
  }
  if (partialSince_) {
    const uint64_t p = partialSince_ + to.clientHeader.count();
    if (!d || p < d) d = p;
  }
  return d;
}

void Http2Connection::onTimeout() {
  LOG_DEBUG("client %s: HTTP/2 connection idle or stalled: closing", t_.client().ip);
  goaway(NGHTTP2_NO_ERROR, true);
  if (!finished_) close();  // the session was already ending: do not wait for it
}

void Http2Connection::close() {
  if (finished_ && t_.closing()) return;
  finished_ = true;
  abandon();
  if (!t_.closing()) t_.closeAfterWrites();
}

void Http2Connection::checkListener() {
  // A reload removed this listener or changed how its connections are set up: GOAWAY, and the
  // client reconnects once its streams are done.
  if (!goawaySent_ && session_ && (t_.listener().closed || t_.listener().generation != generation_))
    drain();
}

void Http2Connection::drain() {
  if (goawaySent_ || !session_) return;
  goaway(NGHTTP2_NO_ERROR, false);
}

void Http2Connection::goaway(uint32_t error, bool end) {
  goawaySent_ = true;
  if (end) {
    terminate(error);
  } else {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), error, nullptr, 0);
  }
  flush();
}

void Http2Connection::glitch(uint32_t weight) {
  const uint64_t now = uv_now(t_.worker().loop());
  glitchTokens_ = std::min(kGlitchBurst, glitchTokens_ + (now - glitchAt_) * kGlitchPerSecond / 1000);
  glitchAt_ = now;
  glitchTokens_ -= weight;
  if (glitchTokens_ < 0 && !calm_) {
    calm_ = true;
    LOG_WARN("client %s: too many HTTP/2 protocol glitches: GOAWAY ENHANCE_YOUR_CALM",
             t_.client().ip);
    terminate(NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

void Http2Connection::consume(int32_t streamId, size_t n) {
  if (n == 0 || finished_) return;
  if (streamId && nghttp2_session_find_stream(session_, streamId)) {
    nghttp2_session_consume(session_, streamId, n);
  } else {
    nghttp2_session_consume_connection(session_, n);
  }
}

// ---------------------------------------------------------------------------------------------
// Callbacks

int Http2Connection::onBeginHeaders(const nghttp2_frame* f) {
  frameSeen_ = true;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    Http2Stream* s = t_.worker().h2Streams().acquire(*this);
    s->open(f->hd.stream_id);
    s->next = streamList_;
    if (streamList_) streamList_->prev = s;
    streamList_ = s;
    nghttp2_session_set_stream_user_data(session_, f->hd.stream_id, s);
    if (streams_ == 0) idleSince_ = 0;
    ++streams_;
    if (headsPending_++ == 0) headSince_ = uv_now(t_.worker().loop());
    t_.worker().stats().addListener(t_.listener().slot, metrics::kH2Streams);
  } else if (Http2Stream* s = streamOf(session_, f->hd.stream_id)) {
    s->beginTrailers();
  }
  return 0;
}

int Http2Connection::onHeader(const nghttp2_frame* f, nghttp2_rcbuf* name, nghttp2_rcbuf* value) {
  Http2Stream* s = streamOf(session_, f->hd.stream_id);
  if (!s) return 0;
  nghttp2_vec n = nghttp2_rcbuf_get_buf(name);
  nghttp2_vec v = nghttp2_rcbuf_get_buf(value);
  if (s->inTrailers()) {
    // Request trailers go on to HTTP/2 backends only (HTTP/1.1 ones get none).
    s->addTrailer({reinterpret_cast<const char*>(n.base), n.len},
                  {reinterpret_cast<const char*>(v.base), v.len});
    return 0;
  }
  if (!s->addField({reinterpret_cast<const char*>(n.base), n.len},
                   {reinterpret_cast<const char*>(v.base), v.len}, maxHeaderList_)) {
    glitch(20);  // an HPACK bomb or a header list over the limit: refuse the stream
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

int Http2Connection::onFrameRecv(const nghttp2_frame* f) {
  frameSeen_ = true;
  Http2Stream* s = f->hd.stream_id ? streamOf(session_, f->hd.stream_id) : nullptr;
  const bool endStream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (f->hd.type) {
    case NGHTTP2_HEADERS:
      if (!s) break;
      if (!s->started() && (f->hd.flags & NGHTTP2_FLAG_END_HEADERS)) {
        --headsPending_;
        if (!endStream && bodiesPending_++ == 0) bodySince_ = uv_now(t_.worker().loop());
        s->headComplete(endStream);
      } else if (s->started() && endStream) {
        s->bodyEnd();
      }
      break;
    case NGHTTP2_DATA:
      if (f->hd.length == 0 && !endStream) glitch();
      if (s && endStream) s->bodyEnd();
      break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
      if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) glitch();
      break;
    case NGHTTP2_PRIORITY:
      glitch();
      break;
    case NGHTTP2_RST_STREAM:
      glitch(s && !s->answered() ? 2 : 1);
      break;
    case NGHTTP2_WINDOW_UPDATE:
      break;
    default:
      glitch();  // unknown or unexpected frame types
      break;
  }
  return 0;
}

void Http2Connection::bodyDone() {
  if (bodiesPending_ > 0) --bodiesPending_;
}

int Http2Connection::onDataChunk(uint8_t, int32_t id, const uint8_t* data, size_t len) {
  Http2Stream* s = streamOf(session_, id);
  const char* p = reinterpret_cast<const char*>(data);
  bodySince_ = uv_now(t_.worker().loop());  // client_body runs between DATA frames
  frameSeen_ = true;
  if (!s || !s->started() || !in_ || !in_->block) {
    consume(0, len);
    return 0;
  }
  net::Block* b = in_->block;
  if (p >= b->data() && p + len <= b->data() + b->capacity) {
    s->body(b, p, len);  // referenced in place: no copy
  } else {
    net::Block* copy = t_.worker().blocks().acquire(static_cast<uint32_t>(len));
    std::memcpy(copy->data(), p, len);
    s->body(copy, copy->data(), len);
    net::BlockPool::unref(copy);
  }
  return 0;
}

int Http2Connection::onStreamClose(int32_t id, uint32_t error) {
  if (Http2Stream* s = streamOf(session_, id)) {
    nghttp2_session_set_stream_user_data(session_, id, nullptr);
    s->closed(error);
  }
  return 0;
}

void Http2Connection::streamClosed(Http2Stream* s, bool headPending, bool bodyPending) {
  if (s->prev) s->prev->next = s->next; else streamList_ = s->next;
  if (s->next) s->next->prev = s->prev;
  if (--streams_ == 0) idleSince_ = uv_now(t_.worker().loop());
  if (headPending && headsPending_ > 0) --headsPending_;
  if (bodyPending && bodiesPending_ > 0) --bodiesPending_;
  // The object (its buffers keep their capacity) goes back to the worker's pool.
  t_.worker().h2Streams().release(s);
}

int Http2Connection::onInvalidFrame(const nghttp2_frame*, int) {
  frameSeen_ = true;
  glitch(10);
  return 0;
}

void Http2Connection::terminate(uint32_t error) {
  terminating_ = true;
  // A later GOAWAY may not name a higher stream than an earlier one (RFC 9113 §6.8).
  int32_t last = nghttp2_session_get_last_proc_stream_id(session_);
  if (lastGoawayId_ >= 0 && lastGoawayId_ < last) last = lastGoawayId_;
  nghttp2_session_terminate_session2(session_, last, error);
}

int Http2Connection::onFrameSend(const nghttp2_frame* f) {
  if (f->hd.type == NGHTTP2_GOAWAY) {
    lastGoawayId_ = f->goaway.last_stream_id;
    if (f->goaway.error_code != NGHTTP2_NO_ERROR) terminating_ = true;
    t_.worker().stats().addListener(
        t_.listener().slot,
        static_cast<metrics::PerListener>(metrics::h2GoawayCell(f->goaway.error_code)));
    return 0;
  }
  if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    // A complete answer before the complete request (a refusal, 413...): the rest of the body
    // is not wanted (RFC 9113 §8.1).
    if (Http2Stream* s = streamOf(session_, f->hd.stream_id); s && s->requestOpen())
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

}  // namespace sy::proxy
