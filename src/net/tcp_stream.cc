#include "switchyard/net/tcp_stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "switchyard/net/ring.h"

namespace sy::net {

int TcpStream::init(uv_loop_t* loop, void* data) {
  ring_ = Ring::current();
  tcp.data = data;
  if (ring_) return 0;
  int rc = uv_tcp_init(loop, &tcp);
  tcp.data = data;
  return rc;
}

int TcpStream::connect(const sockaddr* addr, uv_connect_t* req, uv_connect_cb cb) {
  if (!ring_) return uv_tcp_connect(req, &tcp, addr, cb);
  fd_ = ::socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return -errno;
  connectReq_ = req;
  connectCb_ = cb;
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_connect(s, fd_, addr,
                        addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  io_uring_sqe_set_data64(s, Ring::tag(this, Ring::kConnect));
  ring_->hold();
  ++inflight_;
  return 0;
}

void TcpStream::onConnect(int res) {
  --inflight_;
  uv_connect_cb cb = connectCb_;
  connectCb_ = nullptr;
  if (closing_) {
    if (cb) cb(connectReq_, UV_ECANCELED);
    ring_->defer(this);
    return;
  }
  if (cb) cb(connectReq_, res);
}

void TcpStream::noDelay() {
  if (!ring_) {
    uv_tcp_nodelay(&tcp, 1);
    return;
  }
  int on = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

int TcpStream::peerName(sockaddr* sa, int* len) {
  if (!ring_) return uv_tcp_getpeername(&tcp, sa, len);
  socklen_t l = static_cast<socklen_t>(*len);
  if (getpeername(fd_, sa, &l) != 0) return -errno;
  *len = static_cast<int>(l);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Reading

int TcpStream::readStart(uv_alloc_cb alloc, uv_read_cb read) {
  if (!ring_) return uv_read_start(stream(), alloc, read);
  if (closing_) return UV_EINVAL;
  alloc_ = alloc;
  read_ = read;
  reading_ = true;
  if (stashBid_ >= 0 || stashStatus_ != 0) {
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
  reading_ = false;
  if (recvArmed_ && !cancelSent_) {
    io_uring_sqe* s = ring_->sqe();
    io_uring_prep_cancel64(s, Ring::tag(this, Ring::kRecv), 0);
    io_uring_sqe_set_data64(s, Ring::kIgnore);
  }
}

void TcpStream::armRecv() {
  if (recvArmed_ || closing_ || !reading_) return;
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_recv_multishot(s, fd_, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = Ring::kBufGroup;
  io_uring_sqe_set_data64(s, Ring::tag(this, Ring::kRecv));
  ring_->hold();
  ++inflight_;
  recvArmed_ = true;
}

void TcpStream::rearm() {
  if (reading_ && stashBid_ < 0 && stashStatus_ == 0) armRecv();
}

void TcpStream::onRecv(int res, uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) {
    recvArmed_ = false;
    --inflight_;
  }
  const bool hasBuf = (flags & IORING_CQE_F_BUFFER) != 0;
  const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
  if (closing_) {
    if (hasBuf) ring_->recycle(bid);
    ring_->defer(this);
    return;
  }
  if (res > 0 && hasBuf) {
    ring_->stashedLen(bid) = static_cast<uint32_t>(res);
    ring_->nextStashed(bid) = -1;
    if (stashTail_ >= 0) {
      ring_->nextStashed(static_cast<unsigned>(stashTail_)) = static_cast<int>(bid);
    } else {
      stashBid_ = static_cast<int>(bid);
      stashOff_ = 0;
    }
    stashTail_ = static_cast<int>(bid);
  } else if (res == 0) {
    if (stashStatus_ == 0) stashStatus_ = UV_EOF;
  } else if (res == -ENOBUFS) {
    if (reading_ && !(flags & IORING_CQE_F_MORE)) ring_->waitBuffer(this);
    return;
  } else if (res == -ECANCELED) {
    // readStop(): nothing more.
  } else if (res < 0) {
    if (stashStatus_ == 0) stashStatus_ = res;  // libuv's codes are negated errno values
  }
  // Delivered after this batch of completions (Ring::runDeferred), so that what several
  // completions brought reaches the owner in one read callback (one parse, one forward).
  if (reading_) ring_->defer(this);
}

// Hands what was received to the owner while it reads; true when all of it went. Each of the
// owner's buffers is filled from as many received buffers as fit.
bool TcpStream::deliver() {
  while (reading_ && !closing_ && stashBid_ >= 0) {
    if (adopt_ && stashOff_ == 0) {
      const auto bid = static_cast<unsigned>(stashBid_);
      if (adopt_(handle(), ring_->blockOf(bid))) {
        const uint32_t len = ring_->stashedLen(bid);
        stashBid_ = ring_->nextStashed(bid);
        if (stashBid_ < 0) stashTail_ = -1;
        uv_buf_t b = uv_buf_init(ring_->takeOver(bid)->data(), len);
        read_(stream(), static_cast<ssize_t>(len), &b);
        continue;
      }
    }
    uv_buf_t b = uv_buf_init(nullptr, 0);
    alloc_(handle(), kDeliverSize, &b);
    if (b.base == nullptr || b.len == 0) {
      read_(stream(), UV_ENOBUFS, &b);
      return false;
    }
    size_t got = 0;
    while (stashBid_ >= 0 && got < b.len) {
      const auto bid = static_cast<unsigned>(stashBid_);
      const uint32_t len = ring_->stashedLen(bid);
      const size_t n = std::min<size_t>(len - stashOff_, b.len - got);
      std::memcpy(b.base + got, ring_->buffer(bid) + stashOff_, n);
      got += n;
      stashOff_ += static_cast<uint32_t>(n);
      if (stashOff_ == len) {
        stashBid_ = ring_->nextStashed(bid);
        if (stashBid_ < 0) stashTail_ = -1;
        stashOff_ = 0;
        ring_->recycle(bid);
      }
    }
    read_(stream(), static_cast<ssize_t>(got), &b);
  }
  if (stashBid_ >= 0 || closing_) return false;
  if (reading_ && stashStatus_ != 0) {
    const int st = stashStatus_;
    stashStatus_ = 0;
    reading_ = false;  // libuv stops reading at EOF or an error too
    uv_buf_t b = uv_buf_init(nullptr, 0);
    read_(stream(), st, &b);
    return false;
  }
  return true;
}

void TcpStream::runDeferred() {
  if (closing_) {
    maybeFinishClose();
    return;
  }
  if (shutdownStatus_ != 1) {
    const int st = shutdownStatus_;
    shutdownStatus_ = 1;
    if (shutdownCb_) shutdownCb_(shutdownReq_, st);
    if (closing_) return;
  }
  if (reading_ && deliver() && reading_ && !closing_) armRecv();
}

// ---------------------------------------------------------------------------------------------
// Writing

int TcpStream::write(WriteBatch* b, uv_write_cb cb, bool* done) {
  if (!ring_) return writeBatch(stream(), b, cb, done);
  *done = false;
  if (closing_ || fd_ < 0) return UV_EBADF;
  b->finalize();
  b->req.data = b;
  b->req.cb = cb;
  b->nextFree = nullptr;
  size_t bytes = 0;
  for (unsigned i = 0; i < b->pendingCount(); ++i) bytes += b->pendingBufs()[i].len;
  queuedBytes_ += bytes;
  if (queueTail_) queueTail_->nextFree = b; else queueHead_ = b;
  queueTail_ = b;
  if (!sending_) submitSend();
  return 1;
}

size_t TcpStream::writeQueueSize() const {
  if (!ring_) return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp));
  return queuedBytes_;
}

void TcpStream::submitSend() {
  if (!sending_) {
    sending_ = queueHead_;
    if (!sending_) {
      if (shutdownPending_) submitShutdown();
      return;
    }
    queueHead_ = sending_->nextFree;
    if (!queueHead_) queueTail_ = nullptr;
    sending_->nextFree = nullptr;
  }
  io_uring_sqe* s = ring_->sqe();
  if (sending_->pendingCount() == 1) {
    // One buffer: a plain send, which skips copying in and checking a msghdr and iovec.
    const uv_buf_t& b = sending_->pendingBufs()[0];
    io_uring_prep_send(s, fd_, b.base, b.len, MSG_NOSIGNAL);
  } else {
    msg_ = msghdr{};
    // uv_buf_t is laid out as struct iovec on Unix.
    msg_.msg_iov = reinterpret_cast<iovec*>(sending_->pendingBufs());
    msg_.msg_iovlen = std::min<unsigned>(sending_->pendingCount(), IOV_MAX);
    io_uring_prep_sendmsg(s, fd_, &msg_, MSG_NOSIGNAL);
  }
  io_uring_sqe_set_data64(s, Ring::tag(this, Ring::kSend));
  ring_->hold();
  ++inflight_;
}

void TcpStream::onSend(int res) {
  --inflight_;
  WriteBatch* b = sending_;
  if (res > 0) {
    queuedBytes_ -= static_cast<size_t>(res);
    b->advance(static_cast<size_t>(res));
    if (b->pendingCount() > 0 && !closing_) {
      submitSend();  // a short send: the rest
      return;
    }
  }
  sending_ = nullptr;
  int status = res < 0 ? res : 0;
  if (closing_ && status == 0 && b->pendingCount() > 0) status = UV_ECANCELED;
  if (status < 0) {
    for (unsigned i = 0; i < b->pendingCount(); ++i) queuedBytes_ -= b->pendingBufs()[i].len;
  }
  b->req.cb(&b->req, status);
  if (closing_) {
    ring_->defer(this);
    return;
  }
  if (status < 0) {
    // libuv fails the queued writes after a failed one too, and the owner closes.
    while (WriteBatch* q = queueHead_) {
      queueHead_ = q->nextFree;
      for (unsigned i = 0; i < q->pendingCount(); ++i) queuedBytes_ -= q->pendingBufs()[i].len;
      q->req.cb(&q->req, status);
    }
    queueTail_ = nullptr;
    return;
  }
  if (!sending_) submitSend();  // the callback may have queued (and started) a send already
}

int TcpStream::shutdown(uv_shutdown_t* req, uv_shutdown_cb cb) {
  if (!ring_) return uv_shutdown(req, stream(), cb);
  if (closing_ || shutdownPending_ || shutdownStatus_ != 1) return UV_EINVAL;
  shutdownReq_ = req;
  shutdownCb_ = cb;
  shutdownPending_ = true;
  if (!sending_) submitShutdown();
  return 0;
}

// shutdown(2) itself, not IORING_OP_SHUTDOWN: the ring cannot issue that without blocking, so
// it always goes to an io-wq thread (a thread wake-up and two context switches per connection
// that closes, measured as 2-5% of a Connection: close load); the call never blocks here.
// The callback runs from the loop, as libuv's does.
void TcpStream::submitShutdown() {
  shutdownPending_ = false;
  shutdownStatus_ = ::shutdown(fd_, SHUT_WR) == 0 ? 0 : -errno;
  ring_->defer(this);
}

// ---------------------------------------------------------------------------------------------
// Closing

bool TcpStream::closing() const {
  if (!ring_) return uv_is_closing(reinterpret_cast<const uv_handle_t*>(&tcp)) != 0;
  return closing_;
}

void TcpStream::close(uv_close_cb cb) {
  if (!ring_) {
    if (!uv_is_closing(handle())) uv_close(handle(), cb);
    return;
  }
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  closeCb_ = cb;
  while (stashBid_ >= 0) {
    const auto bid = static_cast<unsigned>(stashBid_);
    stashBid_ = ring_->nextStashed(bid);
    ring_->recycle(bid);
  }
  stashTail_ = -1;
  ring_->unstarve(this);
  cancelAll();
  ring_->defer(this);  // the rest (queued writes' callbacks, the close callback) from the loop
}

void TcpStream::cancelAll() {
  if (inflight_ == 0 || fd_ < 0 || cancelSent_) return;
  cancelSent_ = true;
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_cancel_fd(s, fd_, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(s, Ring::kIgnore);
}

void TcpStream::maybeFinishClose() {
  if (closed_ || inflight_ > 0) return;
  while (WriteBatch* q = queueHead_) {
    queueHead_ = q->nextFree;
    q->req.cb(&q->req, UV_ECANCELED);
  }
  queueTail_ = nullptr;
  queuedBytes_ = 0;
  if (shutdownPending_ || shutdownStatus_ != 1) {
    shutdownPending_ = false;
    shutdownStatus_ = 1;
    if (shutdownCb_) shutdownCb_(shutdownReq_, UV_ECANCELED);
  }
  closed_ = true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (closeCb_) closeCb_(handle());  // may free this
}

}  // namespace sy::net
