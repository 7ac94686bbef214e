#pragma once
// One TCP socket of the data path (a client connection, an upstream connection), on libuv
// (epoll) or on the worker's io_uring (ring.h), with libuv's contract either way so that the
// owners' code is the same on both:
//   - the callbacks are libuv's (alloc, read, write, shutdown, connect, close) and receive the
//     uv_tcp_t `tcp` of the stream (its `data` is the owner);
//   - reads: alloc then read callbacks, never from inside readStart(); readStop() stops them;
//     UV_EOF and errors as libuv reports them;
//   - writes: write() (net::writeBatch's contract); writeQueueSize() is the bytes not yet sent;
//     callbacks in order; a close cancels the queued writes (UV_ECANCELED) before its callback;
//   - shutdown() half-closes once the queued writes are out;
//   - close(): no read callback afterwards; the close callback runs later, from the loop, once
//     nothing of the stream is in flight (the owner frees itself there).
//
// On the ring, receives are multishot into the ring's provided buffers (blocks of the worker's
// BlockPool), delivered after each batch of completions. An owner that set an adopt callback
// may take a whole received block over as its input (no copy: the read callback then points
// into that block); otherwise the bytes are copied into the owner's buffers (alloc callback),
// several provided buffers per owner buffer. What a stopped stream receives before the cancel
// lands is kept and delivered first on readStart(). shutdown() is shutdown(2), its callback
// from the loop. Sends are IORING_OP_SEND (one buffer) or IORING_OP_SENDMSG, one in flight per
// socket; the batches written meanwhile queue behind it and the next send carries all of them
// (up to IOV_MAX buffers). They go to the kernel when the worker next waits.

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include <uv.h>

#include "switchyard/net/buffer.h"

namespace sy::net {

class Ring;

class TcpStream {
 public:
  TcpStream() = default;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  // On the calling thread's ring (Ring::current()) if it has one, else libuv. `data` is the
  // owner, given back to callbacks as tcp.data.
  int init(uv_loop_t* loop, void* data);
  bool onRing() const { return ring_ != nullptr; }

  // libuv: the listener calls uv_accept() into tcp. Ring: takes the accepted socket `fd`.
  void adopt(int fd) { u_.ring.fd_ = fd; }  // ring only
  int connect(const sockaddr* addr, uv_connect_t* req, uv_connect_cb cb);
  void noDelay();
  int peerName(sockaddr* sa, int* len);

  int readStart(uv_alloc_cb alloc, uv_read_cb read);
  // Ring only (ignored on libuv): offered each received block before the alloc callback is
  // asked for a buffer. Returning true takes the block (and its one reference) as the owner's
  // empty input buffer; the read callback follows with the bytes at its start. False: the
  // bytes are copied into what the alloc callback gives.
  using AdoptCb = bool (*)(uv_handle_t* h, Block* b);
  void setAdopt(AdoptCb cb) {
    if (ring_) u_.ring.adopt_ = cb;
  }
  void readStop();
  // Same contract as net::writeBatch (on the ring: always 1, the send is queued).
  int write(WriteBatch* b, uv_write_cb cb, bool* done);
  size_t writeQueueSize() const;
  int shutdown(uv_shutdown_t* req, uv_shutdown_cb cb);
  void close(uv_close_cb cb);
  bool closing() const;

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&u_.tcp); }
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&u_.tcp); }

 private:
  friend class Ring;  // defers and starves streams through their ring state
  static constexpr size_t kDeliverSize = 65536;  // suggested to the alloc callback (libuv's)

  // Ring internals (ring.cc dispatches completions here).
  void onRecv(int res, uint32_t flags);
  void onSend(int res);
  void onConnect(int res);
  void runDeferred();
  void rearm();
  void armRecv();
  bool deliver();
  void submitSend();
  void submitShutdown();
  void maybeFinishClose();
  void cancelAll();

  // A stream on the ring uses none of libuv's handle but its `data`, so its own state shares
  // the handle's storage: every client and upstream connection pays for one of the two, not
  // both (the ring's fields beside the handle made each connection about 230 bytes larger on
  // both data paths).
  struct RingState {
    void* data = nullptr;  // the owner: where libuv's handle has it (callbacks read h->data)
    int fd_ = -1;
    bool reading_ = false;
    bool recvArmed_ = false;
    bool closing_ = false;
    bool closed_ = false;
    uv_alloc_cb alloc_ = nullptr;
    uv_read_cb read_ = nullptr;
    AdoptCb adopt_ = nullptr;
    // Received while stopped (the receive's cancel is on its way): buffers in order, chained
    // through the ring (Ring::nextStashed), the first one read up to stashOff_; and a final
    // status.
    int stashBid_ = -1;
    int stashTail_ = -1;
    uint32_t stashOff_ = 0;
    int stashStatus_ = 0;     // UV_EOF or an error to report after the stash, 0 for none
    int shutdownStatus_ = 1;  // done, its callback still to run (from the loop); 1: none
    uint32_t inflight_ = 0;   // operations of this stream the kernel still holds
    bool shutdownPending_ = false;
    bool cancelSent_ = false;
    bool deferred = false;  // on the ring's deferred list
    bool starved = false;   // on the ring's list of streams waiting for a provided buffer
    // Sends: the queued batches (linked through nextFree), the first sendGroup_ of them in
    // the send in flight (0: none in flight).
    uint32_t sendGroup_ = 0;
    WriteBatch* queueHead_ = nullptr;
    WriteBatch* queueTail_ = nullptr;
    size_t queuedBytes_ = 0;
    msghdr msg_{};
    uv_shutdown_t* shutdownReq_ = nullptr;
    uv_shutdown_cb shutdownCb_ = nullptr;
    uv_connect_t* connectReq_ = nullptr;
    uv_connect_cb connectCb_ = nullptr;
    uv_close_cb closeCb_ = nullptr;
    TcpStream* deferNext = nullptr;
    TcpStream* starvedNext = nullptr;
  };
  // Which member is in use is set by init() (ring_). Both begin with the owner pointer, so
  // callbacks read it the same way on either path.
  union Handle {
    Handle() {}
    uv_tcp_t tcp;     // libuv (epoll)
    RingState ring;   // io_uring
  };
  static_assert(sizeof(RingState) <= sizeof(uv_tcp_t), "the ring's state fits in the handle");
  static_assert(offsetof(uv_tcp_t, data) == 0 && offsetof(RingState, data) == 0);

  Handle u_;
  Ring* ring_ = nullptr;
};

}  // namespace sy::net
