#include "switchyard/upstream/upstream_conn.h"

#include "switchyard/common/log.h"
#include "switchyard/upstream/h2_session.h"

namespace sy::upstream {
namespace {

void onClose(uv_handle_t* h) {
  auto* c = static_cast<UpstreamConn*>(h->data);
  c->backend->stats().shard(c->worker).add(metrics::kUpConnClosed);
  delete c;
}

void onConnect(uv_connect_t* req, int status) {
  auto* c = static_cast<UpstreamConn*>(req->data);
  if (status == 0) {
    c->backend->stats().shard(c->worker).observe(metrics::kUpstreamConnect,
                                                 uv_hrtime() - c->connectStartNs);
  }
  if (!c->user) {
    c->close();  // the user left while connecting
    return;
  }
  if (status == 0 && c->tlsCtx) {
    c->startTls();  // onUpstreamConnect follows the handshake
    return;
  }
  c->user->onUpstreamConnect(status);
}

void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  auto* c = static_cast<UpstreamConn*>(h->data);
  if (c->transport.secure()) {
    *buf = net::StreamTransport::cipherBuffer();  // ciphertext, fed to OpenSSL at once
  } else if (c->user) {
    c->user->onUpstreamAlloc(suggested, buf);
  } else {
    // Idle: anything the backend sends is unexpected; a tiny buffer is enough to notice it.
    static thread_local char sink[64];
    *buf = uv_buf_init(sink, sizeof sink);
  }
}

bool onAdopt(uv_handle_t* h, net::Block* b) {
  auto* c = static_cast<UpstreamConn*>(h->data);
  return !c->transport.secure() && c->user && c->user->onUpstreamAdopt(b);
}

void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<UpstreamConn*>(s->data);
  if (c->transport.secure() && n > 0) {
    c->onCipher(buf->base, static_cast<size_t>(n));
  } else if (n < 0 && c->user && !c->transport.established()) {
    c->onClosedInHandshake(n);
  } else if (c->user) {
    c->user->onUpstreamRead(n, buf);
  } else if (n != 0) {
    c->close();  // idle connection closed by the backend, or sent unsolicited bytes
  }
}

}  // namespace

UpstreamConn* UpstreamConn::connect(uv_loop_t* loop, std::shared_ptr<Backend> backend,
                                    unsigned worker, ConnUser* user, int* err,
                                    std::shared_ptr<const net::TlsClientContext> tls,
                                    net::BlockPool* blocks, net::WritePool* writes) {
  auto* c = new UpstreamConn();
  c->tlsCtx = std::move(tls);
  c->blocks_ = blocks;
  c->writePool_ = writes;
  c->backend = std::move(backend);
  c->user = user;
  c->worker = worker;
  *err = c->sock.init(loop, c);
  if (*err != 0) {
    delete c;
    return nullptr;
  }
  c->backend->stats().shard(worker).add(metrics::kUpConnOpened);
  c->connectStartNs = uv_hrtime();
  c->connectReq_.data = c;
  *err = c->sock.connect(reinterpret_cast<const sockaddr*>(&c->backend->address().addr),
                         &c->connectReq_, onConnect);
  if (*err == 0) c->sock.noDelay();
  if (*err != 0) {
    c->user = nullptr;
    c->sock.close(onClose);
    return nullptr;
  }
  return c;
}

void UpstreamConn::close() {
  unlinkIdle();
  user = nullptr;
  if (!closing()) sock.close(onClose);
}

void UpstreamConn::shutdownWrite() {
  if (closing() || shutdownSent_) return;
  shutdownSent_ = true;
  if (transport.closeNotify()) flushTls();
  // libuv sends the FIN after the queued writes; a failure shows on the read side.
  sock.shutdown(&shutdownReq_, [](uv_shutdown_t*, int) {});
}

int UpstreamConn::startReading() {
  if (reading) return 0;
  sock.setAdopt(onAdopt);
  int rc = sock.readStart(onAlloc, onRead);
  reading = rc == 0;
  return rc;
}

void UpstreamConn::stopReading() {
  if (!reading) return;
  sock.readStop();
  reading = false;
}

int UpstreamConn::write(net::WriteBatch* batch, net::WritePool* pool, bool* done) {
  writePool_ = pool;
  if (transport.secure()) {
    batch = transport.seal(batch);
    if (!batch) {
      LOG_WARN("upstream %s (%s): TLS write failed: %s", backend->name().c_str(),
               backend->address().text.c_str(), transport.error().c_str());
      return UV_EPROTO;
    }
    if (batch->empty()) {
      pool->release(batch);
      *done = true;
      return 0;
    }
  }
  batch->owner = this;
  int rc = sock.write(batch, [](uv_write_t* req, int status) {
    auto* b = static_cast<net::WriteBatch*>(req->data);
    auto* c = static_cast<UpstreamConn*>(b->owner);
    c->writePool_->release(b);
    if (c->user) c->user->onUpstreamWriteDone(status);
  }, done);
  if (rc <= 0) pool->release(batch);
  return rc < 0 ? rc : 0;
}

void UpstreamConn::park(uint64_t now, uint32_t maxIdle) {
  IdleList& l = backend->idle(worker);
  // No keep-alive to this pool's backends, the backend was removed by a reload, or a reload
  // changed what the pool speaks to it (protocol, TLS): nothing is kept for it.
  user = nullptr;
  if (maxIdle == 0 || l.retired || configVersion < l.settingsSince) {
    close();
    return;
  }
  startReading();  // watch for close
  prev = nullptr;
  next = l.head;
  if (l.head) l.head->prev = this;
  l.head = this;
  if (!l.tail) l.tail = this;
  l.setCount(l.size() + 1);
  inIdle = true;
  idleSince = now;
}

size_t UpstreamConn::trimIdle(Backend& backend, unsigned worker, uint32_t maxIdle,
                              uint64_t cutoff) {
  // Past the cap the connections parked longest ago go (the most recently used ones stay warm),
  // but only those idle since `cutoff`: under steady load a burst of responses parks more than
  // the cap for a moment and the next requests take them again; closing them at once would
  // cost a connect per few requests.
  IdleList& l = backend.idle(worker);
  size_t n = 0;
  while (l.size() > maxIdle && l.tail && l.tail->idleSince < cutoff) {
    l.tail->close();
    ++n;
  }
  return n;
}

void UpstreamConn::unlinkIdle() {
  if (!inIdle) return;
  IdleList& l = backend->idle(worker);
  if (prev) prev->next = next; else l.head = next;
  if (next) next->prev = prev; else l.tail = prev;
  prev = next = nullptr;
  l.setCount(l.size() - 1);
  inIdle = false;
}

UpstreamConn* UpstreamConn::takeIdle(Backend& backend, unsigned worker, ConnUser* user,
                                     const net::TlsClientContext* tls) {
  IdleList& l = backend.idle(worker);
  while (UpstreamConn* c = l.head) {
    c->unlinkIdle();
    if (c->closing()) continue;
    if (c->tlsCtx.get() != tls) {
      c->close();
      continue;
    }
    c->user = user;
    return c;
  }
  return nullptr;
}

void UpstreamConn::startTls() {
  int rc = transport.connect(tlsCtx, backend->address().host, writePool_, blocks_);
  if (rc == UV_ENOMEM) {
    LOG_WARN("upstream %s (%s): cannot start TLS (out of memory)", backend->name().c_str(),
             backend->address().text.c_str());
    user->onUpstreamConnect(UV_ENOMEM);
    return;
  }
  if (rc != 0) {
    tlsFailed();
    return;
  }
  rc = startReading();
  if (rc != 0) {
    user->onUpstreamConnect(rc);
    return;
  }
  flushTls();  // the ClientHello
}

void UpstreamConn::tlsFailed() {
  LOG_WARN("upstream %s (%s): TLS handshake failed: %s", backend->name().c_str(),
           backend->address().text.c_str(), transport.error().c_str());
  flushTls();  // the alert, if any
  if (user) user->onUpstreamConnect(UV_EPROTO);
}

void UpstreamConn::onClosedInHandshake(ssize_t n) {
  LOG_WARN("upstream %s (%s): connection closed during the TLS handshake: %s",
           backend->name().c_str(), backend->address().text.c_str(),
           uv_strerror(static_cast<int>(n)));
  user->onUpstreamConnect(static_cast<int>(n));
}

void UpstreamConn::flushTls() {
  if (closing()) return;
  net::WriteBatch* b = transport.output();
  if (!b) return;
  b->owner = this;
  bool done = false;
  int rc = sock.write(b, [](uv_write_t* req, int) {
    auto* wb = static_cast<net::WriteBatch*>(req->data);
    static_cast<UpstreamConn*>(wb->owner)->writePool_->release(wb);
  }, &done);
  if (rc <= 0) writePool_->release(b);  // written at once, or failed (the read side will see it)
}

void UpstreamConn::onCipher(const char* p, size_t n) {
  using Received = net::StreamTransport::Received;
  const Received got = transport.receive(p, n);
  if (got == Received::kFailed) {
    tlsFailed();
    return;
  }
  if (got != Received::kData) {
    flushTls();
    if (got == Received::kPending) return;
    if (!user) {
      close();
      return;
    }
    user->onUpstreamConnect(0);
  }
  // Decrypt everything now (see Http1Connection::onClientCipher): nothing waits inside OpenSSL.
  while (!closing()) {
    if (!user) {
      // Idle: only TLS housekeeping (session tickets) is expected; data or close ends it.
      char sink[256];
      if (transport.read(sink, sizeof sink) != 0) close();
      break;
    }
    uv_buf_t b;
    user->onUpstreamAlloc(64 * 1024, &b);
    ssize_t r = transport.read(b.base, b.len);
    if (r == 0) {
      user->onUpstreamRead(0, &b);
      break;
    }
    if (r == UV_EPROTO) {
      LOG_WARN("upstream %s (%s): TLS error: %s", backend->name().c_str(),
               backend->address().text.c_str(), transport.error().c_str());
      user->onUpstreamRead(UV_EPROTO, &b);
      return;
    }
    user->onUpstreamRead(r, &b);
    if (r == UV_EOF) return;
  }
  flushTls();
}

size_t UpstreamConn::closeIdleHttp1Before(Backend& backend, unsigned worker, uint64_t cutoff) {
  IdleList& l = backend.idle(worker);
  size_t n = 0;
  while (l.tail && l.tail->idleSince < cutoff) {
    l.tail->close();
    ++n;
  }
  return n;
}

size_t UpstreamConn::closeAllIdle(Backend& backend, unsigned worker) {
  return closeIdleBefore(backend, worker, UINT64_MAX);
}

size_t UpstreamConn::closeIdleBefore(Backend& backend, unsigned worker, uint64_t cutoff) {
  // HTTP/2 sessions without streams are this backend's idle connections too.
  return closeIdleHttp1Before(backend, worker, cutoff) +
         H2Session::closeIdle(backend, worker, cutoff);
}

}  // namespace sy::upstream
