#include "switchyard/net/tcp_stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <new>

#include "switchyard/net/ring.h"

namespace sy::net {

int TcpStream::init(uv_loop_t* loop, void* data) {
  ring_ = Ring::current();
  if (ring_) {
    new (&u_.ring) RingState();
    u_.ring.data = data;
    return 0;
  }
  int rc = uv_tcp_init(loop, &u_.tcp);
  u_.tcp.data = data;
  return rc;
}

int TcpStream::connect(const sockaddr* addr, uv_connect_t* req, uv_connect_cb cb) {
  if (!ring_) return uv_tcp_connect(req, &u_.tcp, addr, cb);
  u_.ring.fd_ = ::socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (u_.ring.fd_ < 0) return -errno;
  u_.ring.connectReq_ = req;
  u_.ring.connectCb_ = cb;
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_connect(s, u_.ring.fd_, addr,
                        addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  io_uring_sqe_set_data64(s, Ring::tag(this, Ring::kConnect));
  ring_->hold();
  ++u_.ring.inflight_;
  return 0;
}

void TcpStream::onConnect(int res) {
  --u_.ring.inflight_;
  uv_connect_cb cb = u_.ring.connectCb_;
  u_.ring.connectCb_ = nullptr;
  if (u_.ring.closing_) {
    if (cb) cb(u_.ring.connectReq_, UV_ECANCELED);
    ring_->defer(this);
    return;
  }
  if (cb) cb(u_.ring.connectReq_, res);
}

void TcpStream::noDelay() {
  if (!ring_) {
    uv_tcp_nodelay(&u_.tcp, 1);
    return;
  }
  int on = 1;
  setsockopt(u_.ring.fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

int TcpStream::peerName(sockaddr* sa, int* len) {
  if (!ring_) return uv_tcp_getpeername(&u_.tcp, sa, len);
  socklen_t l = static_cast<socklen_t>(*len);
  if (getpeername(u_.ring.fd_, sa, &l) != 0) return -errno;
  *len = static_cast<int>(l);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Reading

int TcpStream::readStart(uv_alloc_cb alloc, uv_read_cb read) {
  if (!ring_) return uv_read_start(stream(), alloc, read);
  if (u_.ring.closing_) return UV_EINVAL;
  u_.ring.alloc_ = alloc;
  u_.ring.read_ = read;
  u_.ring.reading_ = true;
  if (u_.ring.stashBid_ >= 0 || u_.ring.stashStatus_ != 0) {
    ring_->defer(this);  // delivered from the loop, never inside readStart()
  } else {
    armRecv();
  }
  return 0;
}

void TcpStream::readStop() {
  if (!ring_) {
    uv_read_stop(stream());
    return;
  }
  u_.ring.reading_ = false;
  if (u_.ring.recvArmed_ && !u_.ring.cancelSent_) {
    io_uring_sqe* s = ring_->sqe();
    io_uring_prep_cancel64(s, Ring::tag(this, Ring::kRecv), 0);
    io_uring_sqe_set_data64(s, Ring::kIgnore);
  }
}

void TcpStream::armRecv() {
  if (u_.ring.recvArmed_ || u_.ring.closing_ || !u_.ring.reading_) return;
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_recv_multishot(s, u_.ring.fd_, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = Ring::kBufGroup;
  io_uring_sqe_set_data64(s, Ring::tag(this, Ring::kRecv));
  ring_->hold();
  ++u_.ring.inflight_;
  u_.ring.recvArmed_ = true;
}

void TcpStream::rearm() {
  if (u_.ring.reading_ && u_.ring.stashBid_ < 0 && u_.ring.stashStatus_ == 0) armRecv();
}

void TcpStream::onRecv(int res, uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) {
    u_.ring.recvArmed_ = false;
    --u_.ring.inflight_;
  }
  const bool hasBuf = (flags & IORING_CQE_F_BUFFER) != 0;
  const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
  if (u_.ring.closing_) {
    if (hasBuf) ring_->recycle(bid);
    ring_->defer(this);
    return;
  }
  if (res > 0 && hasBuf) {
    ring_->stashedLen(bid) = static_cast<uint32_t>(res);
    ring_->nextStashed(bid) = -1;
    if (u_.ring.stashTail_ >= 0) {
      ring_->nextStashed(static_cast<unsigned>(u_.ring.stashTail_)) = static_cast<int>(bid);
    } else {
      u_.ring.stashBid_ = static_cast<int>(bid);
      u_.ring.stashOff_ = 0;
    }
    u_.ring.stashTail_ = static_cast<int>(bid);
  } else if (res == 0) {
    if (u_.ring.stashStatus_ == 0) u_.ring.stashStatus_ = UV_EOF;
  } else if (res == -ENOBUFS) {
    if (u_.ring.reading_ && !(flags & IORING_CQE_F_MORE)) ring_->waitBuffer(this);
    return;
  } else if (res == -ECANCELED) {
    // readStop(): nothing more.
  } else if (res < 0) {
    // libuv's codes are negated errno values
    if (u_.ring.stashStatus_ == 0) u_.ring.stashStatus_ = res;
  }
  // Delivered after this batch of completions (Ring::runDeferred), so that what several
  // completions brought reaches the owner in one read callback (one parse, one forward).
  if (u_.ring.reading_) ring_->defer(this);
}

// Hands what was received to the owner while it reads; true when all of it went. Each of the
// owner's buffers is filled from as many received buffers as fit.
bool TcpStream::deliver() {
  while (u_.ring.reading_ && !u_.ring.closing_ && u_.ring.stashBid_ >= 0) {
    if (u_.ring.adopt_ && u_.ring.stashOff_ == 0) {
      const auto bid = static_cast<unsigned>(u_.ring.stashBid_);
      if (u_.ring.adopt_(handle(), ring_->blockOf(bid))) {
        const uint32_t len = ring_->stashedLen(bid);
        u_.ring.stashBid_ = ring_->nextStashed(bid);
        if (u_.ring.stashBid_ < 0) u_.ring.stashTail_ = -1;
        uv_buf_t b = uv_buf_init(ring_->takeOver(bid)->data(), len);
        u_.ring.read_(stream(), static_cast<ssize_t>(len), &b);
        continue;
      }
    }
    uv_buf_t b = uv_buf_init(nullptr, 0);
    u_.ring.alloc_(handle(), kDeliverSize, &b);
    if (b.base == nullptr || b.len == 0) {
      u_.ring.read_(stream(), UV_ENOBUFS, &b);
      return false;
    }
    size_t got = 0;
    while (u_.ring.stashBid_ >= 0 && got < b.len) {
      const auto bid = static_cast<unsigned>(u_.ring.stashBid_);
      const uint32_t len = ring_->stashedLen(bid);
      const size_t n = std::min<size_t>(len - u_.ring.stashOff_, b.len - got);
      std::memcpy(b.base + got, ring_->buffer(bid) + u_.ring.stashOff_, n);
      got += n;
      u_.ring.stashOff_ += static_cast<uint32_t>(n);
      if (u_.ring.stashOff_ == len) {
        u_.ring.stashBid_ = ring_->nextStashed(bid);
        if (u_.ring.stashBid_ < 0) u_.ring.stashTail_ = -1;
        u_.ring.stashOff_ = 0;
        ring_->recycle(bid);
      }
    }
    u_.ring.read_(stream(), static_cast<ssize_t>(got), &b);
  }
  if (u_.ring.stashBid_ >= 0 || u_.ring.closing_) return false;
  if (u_.ring.reading_ && u_.ring.stashStatus_ != 0) {
    const int st = u_.ring.stashStatus_;
    u_.ring.stashStatus_ = 0;
    u_.ring.reading_ = false;  // libuv stops reading at EOF or an error too
    uv_buf_t b = uv_buf_init(nullptr, 0);
    u_.ring.read_(stream(), st, &b);
    return false;
  }
  return true;
}

void TcpStream::runDeferred() {
  if (u_.ring.closing_) {
    maybeFinishClose();
    return;
  }
  if (u_.ring.shutdownStatus_ != 1) {
    const int st = u_.ring.shutdownStatus_;
    u_.ring.shutdownStatus_ = 1;
    if (u_.ring.shutdownCb_) u_.ring.shutdownCb_(u_.ring.shutdownReq_, st);
    if (u_.ring.closing_) return;
  }
  if (u_.ring.reading_ && deliver() && u_.ring.reading_ && !u_.ring.closing_) armRecv();
}

// ---------------------------------------------------------------------------------------------
// Writing

namespace {

size_t pendingBytes(WriteBatch* b) {
  size_t n = 0;
  for (unsigned i = 0; i < b->pendingCount(); ++i) n += b->pendingBufs()[i].len;
  return n;
}

}  // namespace

int TcpStream::write(WriteBatch* b, uv_write_cb cb, bool* done) {
  if (!ring_) return writeBatch(stream(), b, cb, done);
  *done = false;
  if (u_.ring.closing_ || u_.ring.fd_ < 0) return UV_EBADF;
  b->finalize();
  b->req.data = b;
  b->req.cb = cb;
  b->nextFree = nullptr;
  u_.ring.queuedBytes_ += pendingBytes(b);
  if (u_.ring.queueTail_) u_.ring.queueTail_->nextFree = b; else u_.ring.queueHead_ = b;
  u_.ring.queueTail_ = b;
  if (u_.ring.sendGroup_ == 0) submitSend();
  return 1;
}

size_t TcpStream::writeQueueSize() const {
  if (!ring_)
    return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&u_.tcp));
  return u_.ring.queuedBytes_;
}

// One send at a time per socket. It carries every batch queued so far (up to IOV_MAX
// buffers), as libuv writes its whole queue when the socket turns writable: a client that
// reads slowly gets a few large sends, not one per batch, each waiting for the previous one's
// completion.
void TcpStream::submitSend() {
  WriteBatch* head = u_.ring.queueHead_;
  if (!head) {
    if (u_.ring.shutdownPending_) submitShutdown();
    return;
  }
  unsigned count = 0;
  unsigned group = 0;
  for (WriteBatch* b = head; b && count + b->pendingCount() <= IOV_MAX; b = b->nextFree) {
    count += b->pendingCount();
    ++group;
  }
  iovec* iov = nullptr;
  if (group > 1) iov = ring_->iovecs(count);
  if (!iov) {  // the first batch alone (capped at IOV_MAX buffers)
    group = 1;
    count = std::min<unsigned>(head->pendingCount(), IOV_MAX);
    // uv_buf_t is laid out as struct iovec on Unix.
    iov = reinterpret_cast<iovec*>(head->pendingBufs());
  } else {
    unsigned k = 0;
    WriteBatch* b = head;
    for (unsigned g = 0; g < group; ++g, b = b->nextFree)
      for (unsigned i = 0; i < b->pendingCount(); ++i, ++k)
        iov[k] = iovec{b->pendingBufs()[i].base, b->pendingBufs()[i].len};
  }
  io_uring_sqe* s = ring_->sqe();
  if (count == 1) {
    // One buffer: a plain send, which skips copying in and checking a msghdr and iovec.
    io_uring_prep_send(s, u_.ring.fd_, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
  } else {
    u_.ring.msg_ = msghdr{};
    u_.ring.msg_.msg_iov = iov;
    u_.ring.msg_.msg_iovlen = count;
    io_uring_prep_sendmsg(s, u_.ring.fd_, &u_.ring.msg_, MSG_NOSIGNAL);
  }
  io_uring_sqe_set_data64(s, Ring::tag(this, Ring::kSend));
  ring_->hold();
  ++u_.ring.inflight_;
  u_.ring.sendGroup_ = group;
}

void TcpStream::onSend(int res) {
  --u_.ring.inflight_;
  const unsigned group = u_.ring.sendGroup_;
  u_.ring.sendGroup_ = 0;
  if (res < 0) {
    // libuv fails the queued writes after a failed one too, and the owner closes. After a
    // close, the ones still queued are cancelled when it finishes.
    while (WriteBatch* q = u_.ring.queueHead_) {
      u_.ring.queueHead_ = q->nextFree;
      if (!u_.ring.queueHead_) u_.ring.queueTail_ = nullptr;
      u_.ring.queuedBytes_ -= pendingBytes(q);
      q->req.cb(&q->req, res);
      if (u_.ring.closing_) {
        ring_->defer(this);
        return;
      }
    }
    return;
  }
  // The batches the send took out completely leave the queue; their callbacks run in order
  // once it is consistent again (a callback may queue another write, or close).
  size_t left = static_cast<size_t>(res);
  u_.ring.queuedBytes_ -= left;
  WriteBatch* done = nullptr;
  WriteBatch* doneTail = nullptr;
  for (unsigned g = 0; g < group; ++g) {
    WriteBatch* b = u_.ring.queueHead_;
    const size_t pending = pendingBytes(b);
    const size_t take = std::min(pending, left);
    b->advance(take);
    left -= take;
    if (take < pending) break;
    u_.ring.queueHead_ = b->nextFree;
    if (!u_.ring.queueHead_) u_.ring.queueTail_ = nullptr;
    b->nextFree = nullptr;
    if (doneTail) doneTail->nextFree = b; else done = b;
    doneTail = b;
  }
  while (WriteBatch* b = done) {
    done = b->nextFree;
    b->nextFree = nullptr;
    b->req.cb(&b->req, 0);
  }
  if (u_.ring.closing_) {
    ring_->defer(this);  // what is still queued is cancelled when the close finishes
    return;
  }
  if (u_.ring.sendGroup_ == 0) submitSend();  // a callback may have started a send already
}

int TcpStream::shutdown(uv_shutdown_t* req, uv_shutdown_cb cb) {
  if (!ring_) return uv_shutdown(req, stream(), cb);
  if (u_.ring.closing_ || u_.ring.shutdownPending_ || u_.ring.shutdownStatus_ != 1)
    return UV_EINVAL;
  u_.ring.shutdownReq_ = req;
  u_.ring.shutdownCb_ = cb;
  u_.ring.shutdownPending_ = true;
  if (u_.ring.sendGroup_ == 0 && !u_.ring.queueHead_) submitShutdown();
  return 0;
}

// shutdown(2) itself, not IORING_OP_SHUTDOWN: the ring cannot issue that without blocking, so
// it always goes to an io-wq thread (a thread wake-up and two context switches per connection
// that closes, measured as 2-5% of a Connection: close load); the call never blocks here.
// The callback runs from the loop, as libuv's does.
void TcpStream::submitShutdown() {
  u_.ring.shutdownPending_ = false;
  u_.ring.shutdownStatus_ = ::shutdown(u_.ring.fd_, SHUT_WR) == 0 ? 0 : -errno;
  ring_->defer(this);
}

// ---------------------------------------------------------------------------------------------
// Closing

bool TcpStream::closing() const {
  if (!ring_) return uv_is_closing(reinterpret_cast<const uv_handle_t*>(&u_.tcp)) != 0;
  return u_.ring.closing_;
}

void TcpStream::close(uv_close_cb cb) {
  if (!ring_) {
    if (!uv_is_closing(handle())) uv_close(handle(), cb);
    return;
  }
  if (u_.ring.closing_) return;
  u_.ring.closing_ = true;
  u_.ring.reading_ = false;
  u_.ring.closeCb_ = cb;
  while (u_.ring.stashBid_ >= 0) {
    const auto bid = static_cast<unsigned>(u_.ring.stashBid_);
    u_.ring.stashBid_ = ring_->nextStashed(bid);
    ring_->recycle(bid);
  }
  u_.ring.stashTail_ = -1;
  ring_->unstarve(this);
  cancelAll();
  ring_->defer(this);  // the rest (queued writes' callbacks, the close callback) from the loop
}

void TcpStream::cancelAll() {
  if (u_.ring.inflight_ == 0 || u_.ring.fd_ < 0 || u_.ring.cancelSent_) return;
  u_.ring.cancelSent_ = true;
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_cancel_fd(s, u_.ring.fd_, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(s, Ring::kIgnore);
}

void TcpStream::maybeFinishClose() {
  if (u_.ring.closed_ || u_.ring.inflight_ > 0) return;
  while (WriteBatch* q = u_.ring.queueHead_) {
    u_.ring.queueHead_ = q->nextFree;
    q->req.cb(&q->req, UV_ECANCELED);
  }
  u_.ring.queueTail_ = nullptr;
  u_.ring.queuedBytes_ = 0;
  if (u_.ring.shutdownPending_ || u_.ring.shutdownStatus_ != 1) {
    u_.ring.shutdownPending_ = false;
    u_.ring.shutdownStatus_ = 1;
    if (u_.ring.shutdownCb_) u_.ring.shutdownCb_(u_.ring.shutdownReq_, UV_ECANCELED);
  }
  u_.ring.closed_ = true;
  if (u_.ring.fd_ >= 0) ::close(u_.ring.fd_);
  u_.ring.fd_ = -1;
  if (u_.ring.closeCb_) u_.ring.closeCb_(handle());  // may free this
}

}  // namespace sy::net
