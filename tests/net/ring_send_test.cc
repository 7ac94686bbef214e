// TcpStream's sends on the io_uring path: batches queued behind a send the socket cannot take
// yet go out together in one later send (TcpStream::submitSend), and still complete one by
// one, in order, with their bytes in order on the wire. Skipped where the kernel or a sandbox
// refuses io_uring.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "switchyard/net/ring.h"
#include "switchyard/net/tcp_stream.h"

namespace sy::net {
namespace {

constexpr int kBatches = 64;
constexpr size_t kPieces[] = {1000, 7, 3000};  // the buffers of each batch

const std::string& pattern() {
  static const std::string p = [] {
    std::string s(1 << 20, '\0');
    for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
  }();
  return p;
}

struct Pair {
  uv_loop_t loop;
  BlockPool pool;
  WritePool writes;
  std::unique_ptr<Ring> ring;
  TcpStream sender;
  TcpStream receiver;
  bool withReceiver = true;
  int fds[2] = {-1, -1};
  uv_timer_t start;
  std::string sent;
  std::string got;
  std::vector<WriteBatch*> queued;   // in write() order
  std::vector<WriteBatch*> completed;  // in callback order
  std::vector<int> status;
  size_t queueAtStart = 0;
  size_t queueAtEnd = 1;
  bool eof = false;
  int closes = 0;
  char buf[4096];
};

void onClosed(uv_handle_t* h) { ++static_cast<Pair*>(h->data)->closes; }

void closeAll(Pair* p) {
  if (!p->sender.closing()) p->sender.close(onClosed);
  if (p->withReceiver && !p->receiver.closing()) p->receiver.close(onClosed);
}

void onWrite(uv_write_t* req, int status) {
  auto* b = static_cast<WriteBatch*>(req->data);
  auto* p = static_cast<Pair*>(b->owner);
  p->completed.push_back(b);
  p->status.push_back(status);
  p->writes.release(b);  // its address is still compared below: every batch was acquired first
  if (status < 0 && !p->sender.closing()) closeAll(p);
  if (p->completed.size() == p->queued.size()) {
    p->queueAtEnd = p->sender.writeQueueSize();
    if (status == 0) {
      static uv_shutdown_t req;
      p->sender.shutdown(&req, [](uv_shutdown_t*, int) {});
    }
  }
}

void startWrites(Pair* p) {
  for (int i = 0; i < kBatches; ++i) {
    WriteBatch* b = p->writes.acquire();
    b->owner = p;
    for (size_t n : kPieces) {
      const char* at = pattern().data() + p->sent.size();
      b->addStatic(at, n);
      p->sent.append(at, n);
    }
    p->queued.push_back(b);
    bool done = false;
    REQUIRE(p->sender.write(b, onWrite, &done) == 1);
  }
  p->queueAtStart = p->sender.writeQueueSize();
}

void run(Pair& p) {
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p.fds) == 0);
  int small = 4096;  // the first send fills the socket: the rest queue behind it
  setsockopt(p.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  uv_loop_init(&p.loop);
  uv_timer_init(&p.loop, &p.start);
  p.start.data = &p;
  uv_timer_start(&p.start, [](uv_timer_t* t) {
    auto* p = static_cast<Pair*>(t->data);
    uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
    REQUIRE(p->sender.init(&p->loop, p) == 0);
    REQUIRE(p->sender.onRing());
    p->sender.adopt(p->fds[0]);
    startWrites(p);
    if (!p->withReceiver) {
      ::close(p->fds[1]);  // the peer goes away with everything still queued
      return;
    }
    REQUIRE(p->receiver.init(&p->loop, p) == 0);
    p->receiver.adopt(p->fds[1]);
    p->receiver.readStart(
        [](uv_handle_t* h, size_t, uv_buf_t* out) {
          auto* p = static_cast<Pair*>(h->data);
          *out = uv_buf_init(p->buf, sizeof p->buf);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* p = static_cast<Pair*>(s->data);
          if (n > 0) p->got.append(b->base, static_cast<size_t>(n));
          if (n < 0) {
            p->eof = n == UV_EOF;
            closeAll(p);
          }
        });
  }, 0, 0);
  p.ring->run(&p.loop);
  uv_loop_close(&p.loop);
}

}  // namespace

TEST_CASE("ring sends: batches queued behind a full socket arrive whole and in order") {
  if (!Ring::probe().empty()) return;  // no io_uring here (the integration suite reports it)
  Pair p;
  std::string why;
  p.ring = Ring::create(&p.pool, &why);
  REQUIRE(p.ring);
  run(p);
  CHECK(p.queueAtStart == p.sent.size());
  CHECK(p.eof);
  CHECK(p.got.size() == p.sent.size());
  CHECK(p.got == p.sent);
  REQUIRE(p.completed.size() == p.queued.size());
  CHECK(p.completed == p.queued);
  for (int s : p.status) CHECK(s == 0);
  CHECK(p.queueAtEnd == 0);
  CHECK(p.closes == 2);
}

TEST_CASE("ring sends: a peer that goes away fails every queued batch, in order, once") {
  if (!Ring::probe().empty()) return;
  Pair p;
  p.withReceiver = false;
  std::string why;
  p.ring = Ring::create(&p.pool, &why);
  REQUIRE(p.ring);
  run(p);
  REQUIRE(p.completed.size() == p.queued.size());
  CHECK(p.completed == p.queued);
  // What the socket took before the peer left completed; everything after it failed.
  size_t firstError = 0;
  while (firstError < p.status.size() && p.status[firstError] == 0) ++firstError;
  CHECK(firstError < p.status.size());
  for (size_t i = firstError; i < p.status.size(); ++i) CHECK(p.status[i] < 0);
  CHECK(p.closes == 1);
}

}  // namespace sy::net
