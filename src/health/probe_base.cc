#include "switchyard/health/probe_base.h"

#include <cstdio>

namespace sy::health {

std::string formatMs(int64_t ms) {
  char buf[32];
  if (ms < 1000 || ms % 100 != 0) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  } else if (ms % 1000 == 0) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%lld.%llds", static_cast<long long>(ms / 1000),
                  static_cast<long long>(ms % 1000 / 100));
  }
  return buf;
}

bool ProbeBase::begin(uv_loop_t* loop, const config::SocketAddress& addr, uint64_t timeoutMs,
                      Done done, std::shared_ptr<const net::TlsClientContext> tls) {
  done_ = std::move(done);
  tlsCtx_ = std::move(tls);
  addrHost_ = addr.host;
  timeoutMs_ = timeoutMs;
  // The timer is the check's anchor: if it cannot be set up, nothing can report a result.
  if (uv_timer_init(loop, &timer_) != 0) {
    delete this;
    return false;
  }
  timer_.data = this;
  ++openHandles_;
  auto early = [&](std::string reason) {
    early_ = {false, 0, std::move(reason)};
    hasEarly_ = true;
    if (uv_timer_start(&timer_, onTimer, 0, 0) != 0) cancel();  // frees itself once closed
    return !finished_;
  };
  int rc = uv_tcp_init(loop, &tcp_);
  if (rc != 0) return early(std::string("socket: ") + uv_strerror(rc));
  tcp_.data = this;
  ++openHandles_;
  tcpOpen_ = true;
  connectReq_.data = this;
  rc = uv_tcp_connect(&connectReq_, &tcp_, reinterpret_cast<const sockaddr*>(&addr.addr),
                      [](uv_connect_t* req, int status) {
                        auto* self = static_cast<ProbeBase*>(req->data);
                        if (!self->finished_) self->onConnected(status);
                      });
  if (rc != 0) return early(std::string("connect failed: ") + uv_strerror(rc));
  rc = uv_timer_start(&timer_, onTimer, timeoutMs_, 0);
  if (rc != 0) return early(std::string("timer: ") + uv_strerror(rc));
  return true;
}

void ProbeBase::onTimer(uv_timer_t* t) {
  auto* self = static_cast<ProbeBase*>(t->data);
  if (self->hasEarly_) {
    self->finish(std::move(self->early_));
  } else {
    self->fail("timed out after " + formatMs(static_cast<int64_t>(self->timeoutMs_)));
  }
}

bool ProbeBase::connectFailed(int status) {
  if (status == 0) return false;
  fail(status == UV_ECONNREFUSED ? std::string("connect refused")
                                 : std::string("connect failed: ") + uv_strerror(status));
  return true;
}

void ProbeBase::send(net::WriteBatch* batch) {
  if (finished_ || batch->empty()) {
    writes_.release(batch);
    return;
  }
  batch->owner = this;
  bool done = false;
  int rc = net::writeBatch(stream(), batch,
                           [](uv_write_t* req, int status) {
                             auto* b = static_cast<net::WriteBatch*>(req->data);
                             auto* self = static_cast<ProbeBase*>(b->owner);
                             self->writes_.release(b);
                             if (status != 0 && !self->finished_)
                               self->fail(std::string("sending the check failed: ") +
                                          uv_strerror(status));
                           },
                           &done);
  if (rc <= 0) writes_.release(batch);
  if (rc < 0) fail(std::string("sending the check failed: ") + uv_strerror(rc));
}

void ProbeBase::finish(CheckResult r) {
  if (finished_) return;
  finished_ = true;
  Done done = std::move(done_);
  done_ = nullptr;
  closeHandles();
  if (done) done(r);  // the check's memory stays valid until the close callbacks run
}

void ProbeBase::cancel() {
  finished_ = true;
  done_ = nullptr;
  closeHandles();
}

void ProbeBase::closeHandles() {
  auto close = [](uv_handle_t* h) {
    if (!uv_is_closing(h)) uv_close(h, onClosed);
  };
  close(reinterpret_cast<uv_handle_t*>(&timer_));
  if (tcpOpen_) close(reinterpret_cast<uv_handle_t*>(&tcp_));
}

void ProbeBase::onClosed(uv_handle_t* h) {
  auto* p = static_cast<ProbeBase*>(h->data);
  if (--p->openHandles_ == 0) delete p;
}

}  // namespace sy::health
