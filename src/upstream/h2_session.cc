// H2Session: the nghttp2 client session of one upstream HTTP/2 connection, and the worker's
// sessions per backend.
#include "switchyard/upstream/h2_session.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "switchyard/common/log.h"
#include "switchyard/proxy/h2_memory.h"

namespace sy::upstream {
namespace {

// Response bytes a stream may have in flight before the client takes them, and the whole
// connection's share (every stream of it together).
constexpr int32_t kStreamWindow = 1 << 20;
constexpr int32_t kConnectionWindow = 16 << 20;
constexpr uint32_t kMinReadRoom = 4096;
constexpr size_t kMaxWriteQueue = 256 * 1024;  // socket bytes pending before send() waits

// This worker's sessions per backend (a worker is a thread).
thread_local std::unordered_map<const Backend*, std::vector<H2Session*>> tSessions;

H2Session* self(void* u) { return static_cast<H2Session*>(u); }

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
        c, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
          return self(u)->onDataChunk(id, d, n);
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        c, [](nghttp2_session*, int32_t id, uint32_t err, void* u) {
          return self(u)->onStreamClose(id, err);
        });
    return c;
  }();
  return cbs;
}

nghttp2_option* options() {
  static nghttp2_option* opt = [] {
    nghttp2_option* o = nullptr;
    nghttp2_option_new(&o);
    nghttp2_option_set_no_auto_window_update(o, 1);  // consume() acknowledges
    nghttp2_option_set_peer_max_concurrent_streams(o, 100);  // until the backend's SETTINGS
    return o;
  }();
  return opt;
}

ssize_t readBody(nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                 nghttp2_data_source* src, void*) {
  return static_cast<H2StreamUser*>(src->ptr)->h2ReadBody(buf, len, flags);
}

}  // namespace

void H2Session::Stream::clearFields() {
  for (nghttp2_rcbuf* b : bufs) nghttp2_rcbuf_decref(b);
  bufs.clear();
  fields.clear();
}

H2Session::H2Session(uv_loop_t* loop, Backend& backend, unsigned worker, const Options& opts,
                     net::BlockPool* blocks, net::WritePool* writes)
    : loop_(loop), backend_(&backend), worker_(worker), opts_(opts), blocks_(blocks),
      writes_(writes) {
  nghttp2_session_client_new3(&session_, callbacks(), this, options(), proxy::H2Memory::mem());
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, std::size(iv));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  idleSince_ = uv_now(loop);
}

namespace {
struct CorkState {
  uint32_t depth = 0;
  std::vector<H2Session*> noted;  // sessions to send for when depth returns to 0 (or nullptr)
};
thread_local CorkState tCork;
}  // namespace

H2Session::~H2Session() {
  if (corked_) std::replace(tCork.noted.begin(), tCork.noted.end(), this, static_cast<H2Session*>(nullptr));
  if (session_) nghttp2_session_del(session_);
  for (Stream* s : live_) free_.push_back(s);
  for (Stream* s : free_) {
    s->clearFields();
    delete s;
  }
  if (in_) net::BlockPool::unref(in_);
}

H2Session* H2Session::acquire(uv_loop_t* loop, Backend& backend, unsigned worker,
                              const Options& opts, net::BlockPool* blocks, net::WritePool* writes,
                              int* err) {
  std::vector<H2Session*>& list = tSessions[&backend];
  for (H2Session* s : list)
    if (s->hasRoom() && s->opts_.tlsCtx == opts.tlsCtx) return s;
  auto* s = new H2Session(loop, backend, worker, opts, blocks, writes);
  // A request begun before a reload changed the cap opens the session with the new one.
  if (const uint32_t cap = backend.idle(worker).h2MaxStreams) s->opts_.maxStreams = cap;
  // A request that began before a reload removed the backend: this session carries it alone.
  if (backend.idle(worker).retired) s->retiring_ = s->goaway_ = true;
  s->conn_ = UpstreamConn::connect(loop, backend.shared_from_this(), worker, s, err, opts.tlsCtx,
                                   blocks, writes);
  if (!s->conn_) {
    delete s;
    return nullptr;
  }
  list.push_back(s);
  return s;
}

size_t H2Session::closeIdle(Backend& backend, unsigned, uint64_t cutoff) {
  auto it = tSessions.find(&backend);
  if (it == tSessions.end()) return 0;
  std::vector<H2Session*> idle;  // a copy: a closed session leaves the list
  for (H2Session* s : it->second)
    if (s->streams_ == 0 && s->idleSince_ < cutoff && !s->dead_ && !s->retiring_) idle.push_back(s);
  for (H2Session* s : idle) s->beginRetire();
  return idle.size();
}

size_t H2Session::retire(Backend& backend, bool all, const net::TlsClientContext* tls) {
  auto it = tSessions.find(&backend);
  if (it == tSessions.end()) return 0;
  std::vector<H2Session*> list;
  for (H2Session* s : it->second)
    if (!s->dead_ && !s->retiring_ && (all || s->opts_.tlsCtx.get() != tls)) list.push_back(s);
  for (H2Session* s : list) s->beginRetire();
  return list.size();
}

void H2Session::beginRetire() {
  if (dead_ || retiring_) return;
  retiring_ = goaway_ = true;
  if (streams_ == 0 && streamsDone()) send();
}

bool H2Session::streamsDone() {
  idleSince_ = uv_now(loop_);
  if (!retiring_ || dead_) return true;
  if (!connected_) {
    fail(0, false);  // nothing was said yet: the connect is just dropped
    return false;
  }
  if (!goawaySent_) {
    goawaySent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }
  return true;
}

void H2Session::setMaxStreams(Backend& backend, unsigned worker, uint32_t maxStreams) {
  backend.idle(worker).h2MaxStreams = maxStreams;
  auto it = tSessions.find(&backend);
  if (it == tSessions.end()) return;
  for (H2Session* s : it->second) s->opts_.maxStreams = maxStreams;  // hasRoom() reads it
}

size_t H2Session::sessionCount(const Backend& backend) {
  auto it = tSessions.find(&backend);
  return it == tSessions.end() ? 0 : it->second.size();
}

bool H2Session::hasRoom() const {
  if (dead_ || goaway_) return false;
  uint32_t limit = opts_.maxStreams;
  if (connected_)
    limit = std::min<uint32_t>(limit, nghttp2_session_get_remote_settings(
                                          session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
  return streams_ < limit;
}

H2Session::Stream* H2Session::takeStream() {
  if (free_.empty()) return new Stream();
  Stream* s = free_.back();
  free_.pop_back();
  return s;
}

H2Session::Stream* H2Session::streamOf(int32_t id) {
  return static_cast<Stream*>(nghttp2_session_get_stream_user_data(session_, id));
}

int32_t H2Session::submit(H2StreamUser* user, const nghttp2_nv* nva, size_t n, bool withBody) {
  Stream* s = takeStream();
  nghttp2_data_provider prd;
  prd.source.ptr = user;
  prd.read_callback = readBody;
  int32_t id = nghttp2_submit_request(session_, nullptr, nva, n, withBody ? &prd : nullptr, s);
  if (id < 0) {
    free_.push_back(s);
    // A fresh session of a retired backend that is left without its stream goes at once.
    if (retiring_ && streams_ == 0 && streamsDone()) send();
    return id;
  }
  live_.push_back(s);
  s->user = user;
  s->id = id;
  s->status = 0;
  s->headDone = s->inTrailers = s->bad = s->ended = false;
  ++streams_;
  ++streamsOpened_;
  return id;
}

void H2Session::detach(int32_t id, uint64_t unacked) {
  if (!dead_ && unacked > 0) nghttp2_session_consume_connection(session_, unacked);
  Stream* s = streamOf(id);
  if (!s || !s->user) {
    send();
    return;
  }
  s->user = nullptr;
  s->clearFields();
  --streams_;
  // Reset unless both sides are done (END_STREAM both ways: nothing to cancel). nghttp2 marks
  // the remote side closed only after the END_STREAM frame's callbacks, hence `ended`.
  const bool remoteDone = s->ended || nghttp2_session_get_stream_remote_close(session_, id) == 1;
  if (!dead_ && (!remoteDone || nghttp2_session_get_stream_local_close(session_, id) == 0))
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  if (streams_ == 0 && !streamsDone()) return;
  send();
}

void H2Session::resume(int32_t id) {
  if (dead_) return;
  nghttp2_session_resume_data(session_, id);
  send();
}

void H2Session::consume(int32_t id, size_t n) {
  if (dead_ || n == 0) return;
  nghttp2_session_consume(session_, id, n);
  send();
}

int H2Session::submitTrailers(int32_t id, const nghttp2_nv* nva, size_t n) {
  return nghttp2_submit_trailer(session_, id, nva, n);
}

size_t H2Session::writeQueueSize() const {
  return conn_ ? conn_->sock.writeQueueSize() : 0;
}

H2Session::Cork::Cork() { ++tCork.depth; }

H2Session::Cork::~Cork() {
  if (--tCork.depth > 0) return;
  // A session's send() may run user callbacks that cork and note again (a nested last Cork
  // sends for what is left and clears the list): index, not iterators, and each entry is
  // taken out before its send.
  for (size_t i = 0; i < tCork.noted.size(); ++i) {
    H2Session* s = tCork.noted[i];
    if (!s) continue;
    tCork.noted[i] = nullptr;
    s->corked_ = false;
    s->send();
  }
  tCork.noted.clear();
}

void H2Session::send() {
  if (busy_ > 0) return;  // inside nghttp2 or a user callback: the outer call sends
  if (tCork.depth > 0 && !dead_ && connected_ && conn_) {
    if (!corked_) {
      corked_ = true;
      tCork.noted.push_back(this);
    }
    return;
  }
  if (dead_ || !connected_ || !conn_) {
    maybeDelete();
    return;
  }
  ++busy_;  // a failure below marks the session dead; it is deleted on the way out
  net::WriteBatch* batch = nullptr;
  net::Block* b = nullptr;
  uint32_t used = 0;
  while (writeQueueSize() < kMaxWriteQueue) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      LOG_WARN("upstream %s (%s): HTTP/2 send failed: %s", backend_->name().c_str(),
               backend_->address().text.c_str(), nghttp2_strerror(static_cast<int>(n)));
      if (batch) writes_->release(batch);
      if (b) net::BlockPool::unref(b);
      fail(UV_EPROTO, false);
      --busy_;
      maybeDelete();
      return;
    }
    if (n == 0) break;
    if (!batch) batch = writes_->acquire();
    size_t left = static_cast<size_t>(n);
    while (left > 0) {
      if (!b || used == b->capacity) {
        if (b) net::BlockPool::unref(b);
        b = blocks_->acquire();
        used = 0;
      }
      size_t k = std::min<size_t>(left, b->capacity - used);
      std::memcpy(b->data() + used, data, k);
      batch->addRef(b, b->data() + used, k);
      used += static_cast<uint32_t>(k);
      data += k;
      left -= k;
    }
    if (batch->bytes >= kMaxWriteQueue) break;
  }
  if (b) net::BlockPool::unref(b);
  bool done = false;
  if (batch && conn_->write(batch, writes_, &done) != 0) {
    fail(UV_EPIPE, false);
  } else if (goawaySent_ && streams_ == 0 && !nghttp2_session_want_write(session_)) {
    // Retired, no stream left: closed once our GOAWAY has left (else the write's end sends).
    if (writeQueueSize() == 0) fail(0, false);
  } else if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
    fail(0, false);  // both sides said goodbye
  }
  --busy_;
  maybeDelete();
}

void H2Session::onUpstreamConnect(int status) {
  if (status != 0) {
    fail(status, true);
    return;
  }
  if (opts_.tls && conn_->transport.alpn() != "h2") {
    LOG_WARN("upstream %s (%s): TLS ALPN did not select h2 (pools[].protocol h2)",
             backend_->name().c_str(), backend_->address().text.c_str());
    fail(UV_EPROTO, true);
    return;
  }
  connected_ = true;
  conn_->startReading();
  ++busy_;
  // Streams submitted while connecting may go now.
  std::vector<H2StreamUser*> users;
  for (Stream* s : live_)
    if (s->user) users.push_back(s->user);
  for (H2StreamUser* u : users) u->h2Connected();
  --busy_;
  send();  // deletes the session if a user's call made it fail
}

void H2Session::onUpstreamAlloc(size_t, uv_buf_t* buf) {
  if (in_ && in_->capacity - inUsed_ < kMinReadRoom) {
    net::BlockPool::unref(in_);
    in_ = nullptr;
  }
  if (!in_) {
    in_ = blocks_->acquire();
    inUsed_ = 0;
  }
  *buf = uv_buf_init(in_->data() + inUsed_, in_->capacity - inUsed_);
}

void H2Session::onUpstreamRead(ssize_t n, const uv_buf_t*) {
  if (n == 0) return;
  if (n < 0) {
    fail(static_cast<int>(n), false);
    return;
  }
  net::BlockPool::ref(in_);  // the stream callbacks may release the session's hold on it
  net::Block* block = in_;
  ++busy_;
  ssize_t rc = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(block->data() + inUsed_),
                                        static_cast<size_t>(n));
  --busy_;
  if (in_ == block) inUsed_ += static_cast<uint32_t>(n);
  net::BlockPool::unref(block);
  if (rc < 0) {
    LOG_WARN("upstream %s (%s): HTTP/2 protocol error: %s", backend_->name().c_str(),
             backend_->address().text.c_str(), nghttp2_strerror(static_cast<int>(rc)));
    fail(UV_EPROTO, false);
    return;
  }
  if (goaway_ && !retiring_ && streams_ == 0) {
    fail(0, false);  // the backend said goodbye and nothing is left to finish
    return;
  }
  send();
}

void H2Session::onUpstreamWriteDone(int status) {
  if (status < 0) {
    if (status != UV_ECANCELED) fail(status, false);
    return;
  }
  send();
}

void H2Session::unlink() {
  auto it = tSessions.find(backend_);
  if (it == tSessions.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
  if (v.empty()) tSessions.erase(it);
}

void H2Session::fail(int status, bool connecting) {
  if (dead_) {
    maybeDelete();
    return;
  }
  dead_ = goaway_ = true;
  unlink();
  if (conn_) {
    conn_->close();
    conn_ = nullptr;
  }
  ++busy_;
  std::vector<Stream*> open = live_;
  for (Stream* s : open) {
    H2StreamUser* u = s->user;
    if (!u) continue;
    s->user = nullptr;
    --streams_;
    if (connecting) {
      u->h2ConnectFailed(status ? status : UV_ECONNRESET);
    } else {
      u->h2Reset(NGHTTP2_INTERNAL_ERROR, false);
    }
  }
  --busy_;
  maybeDelete();
}

void H2Session::maybeDelete() {
  if (dead_ && busy_ == 0) delete this;
}

}  // namespace sy::upstream
