#pragma once
// A worker's io_uring (`io_uring: on|auto`): one ring per worker thread, set up with
// IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, one provided-buffer ring for multishot
// receives, and submissions batched until the thread next waits.
//
// The ring drives the worker: run() waits in io_uring_submit_and_wait_timeout() with libuv's
// next timer as the timeout, and runs the libuv loop (UV_RUN_NOWAIT) only when libuv has work:
// a timer is due, a handle is closing, or its epoll fd (watched by a multishot poll on the ring)
// is readable (cross-thread wake-ups, the redis link). On the request path that costs one
// io_uring_enter per loop iteration and nothing else; a uv_poll on the ring's fd inside libuv
// would add an epoll_wait per iteration (not built: chosen by that count, not measured).
//
// Completions name their target in user_data: a pointer (8-byte aligned) with a tag in the low
// three bits. Worker thread only.

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>

#include <liburing.h>
#include <uv.h>

#include "switchyard/net/buffer.h"

namespace sy::net {

class TcpStream;

// A listening socket accepting through the ring (multishot accept).
struct RingAcceptor {
  int fd = -1;
  // Each accepted socket (res >= 0: a blocking fd) or error (res < 0, a negated errno); `more`
  // false means the accept ended (cancelled, or an error) and is not re-armed by the ring.
  void (*onAccept)(RingAcceptor* a, int res, bool more) = nullptr;
  void* data = nullptr;
  bool armed = false;
};

class Ring {
 public:
  enum Tag : uint64_t { kIgnore = 0, kRecv = 1, kSend = 2, kConnect = 3, kAccept = 4,
                        kUvPoll = 5 };
  // Provided buffers (a power of two): each is a standard block of the worker's BlockPool, so
  // an owner can take a received buffer over instead of copying it (TcpStream::setAdopt).
  static constexpr unsigned kBufCount = 256;
  static constexpr unsigned kBufSize = BlockPool::kBlockSize;
  static constexpr uint16_t kBufGroup = 0;

  // Checks that this kernel and sandbox give a ring with the flags and features the data path
  // needs (creates one and drops it). Empty when they do, else why not (for the log / error).
  static std::string probe();
  // Creates the calling thread's ring, its provided buffers taken from `pool` (which must
  // outlive it); nullptr and *why on failure.
  static std::unique_ptr<Ring> create(BlockPool* pool, std::string* why);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // The ring of the calling thread (set by run()), or nullptr: streams made on a thread without
  // one use libuv.
  static Ring* current();

  // Runs `loop` and the ring until the loop has no active handle left and no ring operation
  // is in flight.
  void run(uv_loop_t* loop);

  // A free submission entry (submits the queue when it is full). The caller fills it and tags
  // it with tag(); operations counted by hold() keep run() going until they complete.
  io_uring_sqe* sqe();
  static uint64_t tag(const void* p, Tag t) { return reinterpret_cast<uint64_t>(p) | t; }
  void hold() { ++inflight_; }
  void release() { --inflight_; }
  // Room for n iovecs that the kernel reads only while the SQE naming them is submitted
  // (IORING_FEAT_SUBMIT_STABLE), so the space is reused once the queue is submitted; nullptr
  // when there is not enough even after submitting. Call it before sqe() for the entry that
  // will name them (it may submit the queue, which must then hold no unfilled entry).
  iovec* iovecs(unsigned n);

  void armAccept(RingAcceptor* a);
  void cancelAccept(RingAcceptor* a);

  // Provided buffers.
  char* buffer(unsigned bid) { return slots_[bid]->data(); }
  // Gives buffer bid back to the kernel once its bytes are copied out.
  void recycle(unsigned bid);
  // The block of buffer bid, taken over by an owner (its reference goes with it): the slot gets
  // a fresh block from the pool.
  Block* takeOver(unsigned bid);
  Block* blockOf(unsigned bid) { return slots_[bid]; }
  // Received buffers a stream keeps until its owner reads again, chained through the ring.
  int& nextStashed(unsigned bid) { return stashNext_[bid]; }
  uint32_t& stashedLen(unsigned bid) { return stashLen_[bid]; }
  // `s` runs its deferred work (TcpStream::runDeferred) after this batch of completions.
  void defer(TcpStream* s);
  // `s` re-arms its receive once a buffer is given back (the buffer ring ran dry).
  void waitBuffer(TcpStream* s);
  void unstarve(TcpStream* s);
  uv_loop_t* loop() const { return loop_; }

  // Completion batching under load, as a network card coalesces interrupts (run() keeps one).
  // When a wait brings kAt completions or more, the next one asks the kernel for the
  // completions its submitted sends post at once plus kWant more, for at most kWaitNs
  // (DEFER_TASKRUN does not wake the worker before then), so that many clients' requests and
  // backends' answers are handled, and written, together. A wait that comes back short (too
  // few connections are busy to fill a batch) turns batching off for `backoff` waits, doubling
  // up to kBackoffMax while batches keep coming back short; a full batch resets it.
  // SWITCHYARD_RING_BATCH=0 in the environment turns it off (to measure against).
  struct Batch {
    static constexpr unsigned kAt = 8;
    static constexpr unsigned kWant = 16;
    static constexpr unsigned kBackoffMax = 256;
    static constexpr long long kWaitNs = 50'000;
    Batch();
    // After a wait: `seen` completions came back, `sending` entries were submitted with it,
    // and it asked for `asked` completions beyond those (0: an ordinary wait).
    void update(unsigned seen, unsigned sending, unsigned asked);
    bool enabled = true;
    unsigned want = 0;  // what the next wait asks for beyond the submitted entries; 0: off
    unsigned skip = 0;
    unsigned backoff = 1;
  };

 private:
  Ring() = default;
  void complete(io_uring_cqe* cqe);
  void runDeferred();
  void armUvPoll();

  io_uring ring_{};
  void provide(unsigned bid);
  io_uring_buf_ring* br_ = nullptr;
  size_t brBytes_ = 0;
  BlockPool* pool_ = nullptr;
  Block* slots_[kBufCount] = {};
  uv_loop_t* loop_ = nullptr;
  int uvFd_ = -1;
  bool uvDue_ = true;
  bool uvPollArmed_ = false;
  uint64_t inflight_ = 0;
  int stashNext_[kBufCount] = {};
  uint32_t stashLen_[kBufCount] = {};
  TcpStream* deferred_ = nullptr;
  TcpStream* starved_ = nullptr;
  static constexpr unsigned kIovecs = 2048;
  unsigned iovecsUsed_ = 0;
  iovec iovecs_[kIovecs];
  Batch batch_;
  void submitted() {
    if (io_uring_sq_ready(&ring_) == 0) iovecsUsed_ = 0;
  }
};

}  // namespace sy::net
