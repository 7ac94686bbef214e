#include "switchyard/net/ring.h"

#include <poll.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "switchyard/common/log.h"
#include "switchyard/net/tcp_stream.h"

namespace sy::net {
namespace {

thread_local Ring* tCurrent = nullptr;
constexpr unsigned kEntries = 1024;
constexpr unsigned kSetupFlags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;

std::string setupError(int rc) {
  switch (-rc) {
    case EPERM:
      return "io_uring_setup: operation not permitted (a seccomp profile or "
             "/proc/sys/kernel/io_uring_disabled forbids io_uring)";
    case ENOSYS:
      return "io_uring_setup: not implemented by this kernel";
    case EINVAL:
      return "io_uring_setup: this kernel lacks IORING_SETUP_DEFER_TASKRUN (Linux 6.1 or later "
             "is needed)";
    default:
      return std::string("io_uring_setup: ") + std::strerror(-rc);
  }
}

}  // namespace

Ring* Ring::current() { return tCurrent; }

Ring::Batch::Batch() {
  const char* e = std::getenv("SWITCHYARD_RING_BATCH");  // "0": off, to measure against
  enabled = !(e && std::strcmp(e, "0") == 0);
}

void Ring::Batch::update(unsigned seen, unsigned sending, unsigned asked) {
  if (!enabled) return;
  want = 0;
  if (asked) {
    if (seen < sending + asked) {  // came back short: the wait timed out
      skip = backoff;
      backoff = std::min(backoff * 2, kBackoffMax);
      return;
    }
    backoff = 1;
  }
  if (skip) {
    --skip;
    return;
  }
  if (seen >= kAt) want = kWant;
}

std::string Ring::probe() {
  std::string why;
  BlockPool pool;
  std::unique_ptr<Ring> r = create(&pool, &why);
  return r ? std::string() : why;
}

std::unique_ptr<Ring> Ring::create(BlockPool* pool, std::string* why) {
  std::unique_ptr<Ring> r(new Ring());
  r->pool_ = pool;
  io_uring_params p{};
  p.flags = kSetupFlags;
  if (int rc = io_uring_queue_init_params(kEntries, &r->ring_, &p); rc < 0) {
    r->ring_.ring_fd = -1;
    *why = setupError(rc);
    return nullptr;
  }
  const unsigned need = IORING_FEAT_EXT_ARG | IORING_FEAT_FAST_POLL | IORING_FEAT_NODROP |
                        IORING_FEAT_SUBMIT_STABLE;
  if ((p.features & need) != need) {
    *why = "io_uring: this kernel lacks features the data path needs (ext_arg, fast poll, nodrop, "
            "submit stable)";
    return nullptr;
  }
  r->brBytes_ = kBufCount * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, r->brBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (mem == MAP_FAILED) {
    *why = std::string("io_uring: buffer ring: ") + std::strerror(errno);
    return nullptr;
  }
  r->br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(r->br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(r->br_);
  reg.ring_entries = kBufCount;
  reg.bgid = kBufGroup;
  if (int rc = io_uring_register_buf_ring(&r->ring_, &reg, 0); rc < 0) {
    *why = std::string("io_uring: provided buffer ring (Linux 5.19 or later): ") +
           std::strerror(-rc);
    return nullptr;
  }
  for (unsigned i = 0; i < kBufCount; ++i) {
    r->slots_[i] = pool->acquire();
    r->provide(i);
  }
  return r;
}

Ring::~Ring() {
  if (tCurrent == this) tCurrent = nullptr;
  if (ring_.ring_fd >= 0) io_uring_queue_exit(&ring_);
  if (br_) munmap(br_, brBytes_);
  for (Block* b : slots_)
    if (b) BlockPool::unref(b);
}

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (!s) {
    // Not submitted(): a caller may hold iovecs() for the entry it is about to fill, so the
    // scratch space is reclaimed only where no such entry is pending (run(), iovecs()).
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

iovec* Ring::iovecs(unsigned n) {
  if (n > kIovecs) return nullptr;
  if (iovecsUsed_ + n > kIovecs) {
    io_uring_submit(&ring_);
    submitted();
    if (iovecsUsed_ + n > kIovecs) return nullptr;
  }
  iovec* v = iovecs_ + iovecsUsed_;
  iovecsUsed_ += n;
  return v;
}

void Ring::provide(unsigned bid) {
  io_uring_buf_ring_add(br_, slots_[bid]->data(), kBufSize, static_cast<unsigned short>(bid),
                        io_uring_buf_ring_mask(kBufCount), 0);
  io_uring_buf_ring_advance(br_, 1);
}

void Ring::recycle(unsigned bid) {
  provide(bid);
  // A receive that ended for want of buffers goes on now that there is one.
  while (TcpStream* s = starved_) {
    starved_ = s->u_.ring.starvedNext;
    s->u_.ring.starvedNext = nullptr;
    s->u_.ring.starved = false;
    s->rearm();
  }
}

Block* Ring::takeOver(unsigned bid) {
  Block* b = slots_[bid];
  slots_[bid] = pool_->acquire();
  recycle(bid);
  return b;
}

void Ring::defer(TcpStream* s) {
  if (s->u_.ring.deferred) return;
  s->u_.ring.deferred = true;
  s->u_.ring.deferNext = deferred_;
  deferred_ = s;
}

void Ring::waitBuffer(TcpStream* s) {
  if (s->u_.ring.starved) return;
  s->u_.ring.starved = true;
  s->u_.ring.starvedNext = starved_;
  starved_ = s;
}

void Ring::unstarve(TcpStream* s) {
  if (!s->u_.ring.starved) return;
  for (TcpStream** pp = &starved_; *pp; pp = &(*pp)->u_.ring.starvedNext) {
    if (*pp != s) continue;
    *pp = s->u_.ring.starvedNext;
    break;
  }
  s->u_.ring.starvedNext = nullptr;
  s->u_.ring.starved = false;
}

void Ring::armAccept(RingAcceptor* a) {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, a->fd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, tag(a, kAccept));
  a->armed = true;
  hold();
}

void Ring::cancelAccept(RingAcceptor* a) {
  if (!a->armed) return;
  io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, tag(a, kAccept), 0);
  io_uring_sqe_set_data64(s, kIgnore);
}

void Ring::armUvPoll() {
  io_uring_sqe* s = sqe();
  io_uring_prep_poll_multishot(s, uvFd_, POLLIN);
  io_uring_sqe_set_data64(s, kUvPoll);
  uvPollArmed_ = true;
}

void Ring::complete(io_uring_cqe* cqe) {
  const uint64_t ud = cqe->user_data;
  const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  const auto t = static_cast<Tag>(ud & 7);
  if (t == kUvPoll) {
    uvDue_ = true;
    if (!more) uvPollArmed_ = false;
    return;
  }
  if (t == kIgnore) return;
  if (!more) release();
  void* p = reinterpret_cast<void*>(ud & ~uint64_t{7});
  if (t == kAccept) {
    auto* a = static_cast<RingAcceptor*>(p);
    if (!more) a->armed = false;
    a->onAccept(a, cqe->res, more);
    return;
  }
  auto* s = static_cast<TcpStream*>(p);
  switch (t) {
    case kRecv:
      s->onRecv(cqe->res, cqe->flags);
      break;
    case kSend:
      s->onSend(cqe->res);
      break;
    case kConnect:
      s->onConnect(cqe->res);
      break;
    default:
      break;
  }
}

void Ring::runDeferred() {
  while (TcpStream* s = deferred_) {
    deferred_ = s->u_.ring.deferNext;
    s->u_.ring.deferNext = nullptr;
    s->u_.ring.deferred = false;
    s->runDeferred();  // may free s (a close callback)
  }
}

void Ring::run(uv_loop_t* loop) {
  tCurrent = this;
  loop_ = loop;
  uvFd_ = uv_backend_fd(loop);
  for (;;) {
    if (!uvPollArmed_) armUvPoll();
    if (uvDue_) {
      uvDue_ = false;
      uv_run(loop, UV_RUN_NOWAIT);
      runDeferred();
    }
    if (!uv_loop_alive(loop) && inflight_ == 0 && !deferred_) break;
    int timeout = deferred_ ? 0 : uv_backend_timeout(loop);
    const unsigned sending = io_uring_sq_ready(&ring_);
    unsigned asked = 0;  // completions this wait asks for beyond one per entry submitted
    int rc;
    if (timeout == 0) {
      rc = io_uring_submit_and_get_events(&ring_);
    } else {
      // A batched wait asks for its inline send completions plus batch_.want more, for at
      // most kWaitNs: less than libuv's next timer, which is whole milliseconds away.
      static_assert(Batch::kWaitNs < 1000000);
      asked = batch_.want;
      __kernel_timespec ts{};
      if (asked) {
        ts.tv_nsec = Batch::kWaitNs;
      } else {
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = static_cast<long long>(timeout % 1000) * 1000000;
      }
      io_uring_cqe* first = nullptr;
      rc = io_uring_submit_and_wait_timeout(&ring_, &first, asked ? sending + asked : 1,
                                            !asked && timeout < 0 ? nullptr : &ts, nullptr);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
      LOG_ERROR("io_uring_enter: %s", std::strerror(-rc));
    submitted();
    uv_update_time(loop);
    unsigned head;
    io_uring_cqe* cqe;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      complete(cqe);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    batch_.update(seen, sending, asked);
    runDeferred();
    if (uv_backend_timeout(loop) == 0) uvDue_ = true;  // a timer due, a handle closing
  }
  tCurrent = nullptr;
}

}  // namespace sy::net
