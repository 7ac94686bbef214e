#include "switchyard/upstream/upstream_conn.h"

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
  if (c->user) {
    c->user->onUpstreamConnect(status);
  } else {
    c->close();  // the user left while connecting
  }
}

void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  auto* c = static_cast<UpstreamConn*>(h->data);
  if (c->user) {
    c->user->onUpstreamAlloc(suggested, buf);
  } else {
    // Idle: anything the backend sends is unexpected; a tiny buffer is enough to notice it.
    static thread_local char sink[64];
    *buf = uv_buf_init(sink, sizeof sink);
  }
}

void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<UpstreamConn*>(s->data);
  if (c->user) {
    c->user->onUpstreamRead(n, buf);
  } else if (n != 0) {
    c->close();  // idle connection closed by the backend, or sent unsolicited bytes
  }
}

}  // namespace

UpstreamConn* UpstreamConn::connect(uv_loop_t* loop, std::shared_ptr<Backend> backend,
                                    unsigned worker, ConnUser* user, int* err) {
  auto* c = new UpstreamConn();
  c->backend = std::move(backend);
  c->user = user;
  c->worker = worker;
  *err = uv_tcp_init(loop, &c->tcp);
  if (*err != 0) {
    delete c;
    return nullptr;
  }
  c->tcp.data = c;
  c->backend->stats().shard(worker).add(metrics::kUpConnOpened);
  c->connectStartNs = uv_hrtime();
  uv_tcp_nodelay(&c->tcp, 1);
  c->connectReq_.data = c;
  *err = uv_tcp_connect(&c->connectReq_, &c->tcp,
                        reinterpret_cast<const sockaddr*>(&c->backend->address().addr), onConnect);
  if (*err != 0) {
    c->user = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), onClose);
    return nullptr;
  }
  return c;
}

void UpstreamConn::close() {
  unlinkIdle();
  user = nullptr;
  if (!closing()) uv_close(reinterpret_cast<uv_handle_t*>(&tcp), onClose);
}

int UpstreamConn::startReading() {
  if (reading) return 0;
  int rc = uv_read_start(stream(), onAlloc, onRead);
  reading = rc == 0;
  return rc;
}

void UpstreamConn::stopReading() {
  if (!reading) return;
  uv_read_stop(stream());
  reading = false;
}

int UpstreamConn::write(net::WriteBatch* batch, net::WritePool* pool, bool* done) {
  writePool_ = pool;
  batch->owner = this;
  int rc = net::writeBatch(stream(), batch, [](uv_write_t* req, int status) {
    auto* b = static_cast<net::WriteBatch*>(req->data);
    auto* c = static_cast<UpstreamConn*>(b->owner);
    c->writePool_->release(b);
    if (c->user) c->user->onUpstreamWriteDone(status);
  }, done);
  if (rc <= 0) pool->release(batch);
  return rc < 0 ? rc : 0;
}

void UpstreamConn::park(uint64_t now) {
  user = nullptr;
  startReading();  // watch for close
  IdleList& l = backend->idle(worker);
  prev = nullptr;
  next = l.head;
  if (l.head) l.head->prev = this;
  l.head = this;
  if (!l.tail) l.tail = this;
  ++l.count;
  inIdle = true;
  idleSince = now;
}

void UpstreamConn::unlinkIdle() {
  if (!inIdle) return;
  IdleList& l = backend->idle(worker);
  if (prev) prev->next = next; else l.head = next;
  if (next) next->prev = prev; else l.tail = prev;
  prev = next = nullptr;
  --l.count;
  inIdle = false;
}

UpstreamConn* UpstreamConn::takeIdle(Backend& backend, unsigned worker, ConnUser* user) {
  IdleList& l = backend.idle(worker);
  while (UpstreamConn* c = l.head) {
    c->unlinkIdle();
    if (c->closing()) continue;
    c->user = user;
    return c;
  }
  return nullptr;
}

size_t UpstreamConn::closeIdleBefore(Backend& backend, unsigned worker, uint64_t cutoff) {
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

}  // namespace sy::upstream
