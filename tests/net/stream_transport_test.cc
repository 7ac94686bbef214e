#include "switchyard/net/stream_transport.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "../tls_util.h"
#include "../uv_test_loop.h"
#include "switchyard/config/config.h"

namespace sy::net {
namespace {

using Received = StreamTransport::Received;

// One end of a loopback TCP connection driven the way the proxy drives its sockets: libuv reads
// into cipherBuffer() (TLS) or the end's own plaintext buffer, writes go through writeBatch.
struct End {
  uv_tcp_t tcp;
  StreamTransport transport;
  WritePool* writes = nullptr;
  std::string got;        // plaintext received
  std::string error;      // the transport's error at the first failure
  bool failed = false;    // handshake failure or TLS error
  bool connected = false;  // receive() reported kConnected
  bool eof = false;       // close_notify (TLS) or FIN
  int writing = 0;        // uv_writes in flight
  char plain[97];         // small on purpose: one socket read takes several read() calls

  void startReading() {
    tcp.data = this;
    REQUIRE(uv_read_start(
                reinterpret_cast<uv_stream_t*>(&tcp),
                [](uv_handle_t* h, size_t, uv_buf_t* buf) {
                  auto* e = static_cast<End*>(h->data);
                  *buf = e->transport.secure() ? StreamTransport::cipherBuffer()
                                               : uv_buf_init(e->plain, sizeof e->plain);
                },
                [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                  static_cast<End*>(s->data)->onRead(n, buf);
                }) == 0);
  }

  void onRead(ssize_t n, const uv_buf_t* buf) {
    if (n < 0) {
      eof = true;
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
      return;
    }
    if (!transport.secure()) {
      got.append(buf->base, static_cast<size_t>(n));
      return;
    }
    if (n == 0 || failed) return;
    const Received r = transport.receive(buf->base, static_cast<size_t>(n));
    if (r == Received::kFailed) return fail();
    if (r == Received::kConnected) connected = true;
    while (r != Received::kPending) {
      ssize_t m = transport.read(plain, sizeof plain);
      if (m > 0) {
        got.append(plain, static_cast<size_t>(m));
        continue;
      }
      if (m == UV_EOF) eof = true;
      if (m == UV_EPROTO) return fail();
      break;
    }
    flush();
  }

  void fail() {
    failed = true;
    error = transport.error();
    flush();  // the alert
  }

  void send(WriteBatch* b) {
    if (b->empty()) {
      writes->release(b);
      return;
    }
    b->owner = this;
    bool done = false;
    int rc = writeBatch(reinterpret_cast<uv_stream_t*>(&tcp), b,
                        [](uv_write_t* req, int) {
                          auto* wb = static_cast<WriteBatch*>(req->data);
                          auto* e = static_cast<End*>(wb->owner);
                          e->writes->release(wb);
                          --e->writing;
                        },
                        &done);
    REQUIRE(rc >= 0);
    if (rc == 0) writes->release(b);
    if (rc == 1) ++writing;
  }

  void flush() {
    if (WriteBatch* b = transport.output()) send(b);
  }

  // Plaintext through seal(): `text` in pieces of `piece` bytes in one batch, by copy.
  void write(std::string_view text, size_t piece) {
    WriteBatch* b = writes->acquire();
    for (size_t i = 0; i < text.size(); i += piece)
      b->addCopy(text.data() + i, std::min(piece, text.size() - i));
    b = transport.seal(b);
    REQUIRE(b != nullptr);
    send(b);
  }

  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&tcp), nullptr); }
};

// A connected loopback pair: `server` accepted from a listener on 127.0.0.1:0.
struct Pair {
  UvTestLoop& l;
  uv_tcp_t listener;
  uv_connect_t connectReq;
  End client;
  End server;
  bool accepted = false;
  bool connectedTcp = false;

  Pair(UvTestLoop& loop, WritePool* writes) : l(loop) {
    client.writes = server.writes = writes;
    REQUIRE(uv_tcp_init(&l.loop, &listener) == 0);
    REQUIRE(uv_tcp_init(&l.loop, &client.tcp) == 0);
    REQUIRE(uv_tcp_init(&l.loop, &server.tcp) == 0);
    sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&addr), 0) == 0);
    listener.data = this;
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 8,
                      [](uv_stream_t* s, int status) {
                        auto* p = static_cast<Pair*>(s->data);
                        REQUIRE(status == 0);
                        REQUIRE(uv_accept(s, reinterpret_cast<uv_stream_t*>(&p->server.tcp)) == 0);
                        p->accepted = true;
                      }) == 0);
    int len = sizeof addr;
    REQUIRE(uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    connectReq.data = this;
    REQUIRE(uv_tcp_connect(&connectReq, &client.tcp, reinterpret_cast<const sockaddr*>(&addr),
                           [](uv_connect_t* req, int status) {
                             REQUIRE(status == 0);
                             static_cast<Pair*>(req->data)->connectedTcp = true;
                           }) == 0);
    REQUIRE(l.runUntil([&] { return accepted && connectedTcp; }));
  }

  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    client.close();
    server.close();
    CHECK(l.drain());
  }
};

config::ListenerTls listenerTls(const testing::CertDir& d) {
  config::ListenerTls t;
  t.certificates.push_back({(d.path() / "a.crt").string(), (d.path() / "a.key").string(), {}});
  t.certificates.push_back({(d.path() / "b.crt").string(), (d.path() / "b.key").string(), {}});
  return t;
}

std::shared_ptr<const TlsClientContext> clientTrusting(const testing::CertDir& d,
                                                       const char* crt, bool offerH2) {
  config::PoolTls pt;
  pt.ca = (d.path() / crt).string();
  std::string err;
  auto ctx = TlsClientContext::create(pt, &err);
  REQUIRE_MESSAGE(ctx, err);
  if (offerH2) {
    static const unsigned char kH2Http11[] = {2,   'h', '2', 8,   'h', 't',
                                              't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx->ctx().get(), kH2Http11, sizeof kH2Http11);
  }
  return ctx;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

TEST_CASE("a plain transport passes batches through and produces nothing of its own") {
  WritePool writes;
  StreamTransport t;
  CHECK_FALSE(t.secure());
  CHECK(t.established());
  CHECK(t.alpn().empty());
  CHECK(t.error().empty());
  WriteBatch* b = writes.acquire();
  b->addStatic("hello", 5);
  CHECK(t.seal(b) == b);  // the same batch: no copy, no second write request
  CHECK(t.output() == nullptr);
  CHECK_FALSE(t.closeNotify());
  writes.release(b);
}

TEST_CASE("plain transport over loopback TCP") {
  UvTestLoop l;
  BlockPool blocks;
  WritePool writes;
  {
    Pair p(l, &writes);
    p.client.startReading();
    p.server.startReading();
    const std::string msg = pattern(100000);
    p.client.write(msg, 3000);
    REQUIRE(l.runUntil([&] { return p.server.got.size() >= msg.size(); }));
    CHECK(p.server.got == msg);
    p.close();
  }
}

TEST_CASE("TLS over loopback TCP: handshake, ALPN h2, both directions, close_notify") {
  testing::CertDir d;
  std::string err;
  auto server = TlsServerContext::create(listenerTls(d), &err, true, true);
  REQUIRE_MESSAGE(server, err);
  auto client = clientTrusting(d, "b.crt", true);
  UvTestLoop l;
  BlockPool blocks;
  WritePool writes;
  {
    Pair p(l, &writes);
    REQUIRE(p.server.transport.accept(server, &writes, &blocks));
    CHECK(p.server.transport.secure());
    CHECK_FALSE(p.server.transport.established());
    p.server.startReading();
    REQUIRE(p.client.transport.connect(client, "b.test", &writes, &blocks) == 0);
    p.client.startReading();
    p.client.flush();  // the ClientHello
    REQUIRE(l.runUntil([&] {
      return (p.client.connected && p.server.connected) || p.client.failed || p.server.failed;
    }));
    REQUIRE_MESSAGE(!p.client.failed, p.client.error);
    REQUIRE_MESSAGE(!p.server.failed, p.server.error);
    CHECK(p.client.transport.established());
    CHECK(p.server.transport.established());
    CHECK(p.server.transport.alpn() == "h2");
    CHECK(p.client.transport.alpn() == "h2");

    // Many small buffers (coalesced into records) and large ones, both ways; the receiving end
    // takes them out through a 97-byte buffer.
    const std::string up = pattern(200000);
    const std::string down = pattern(300000).substr(7);
    p.client.write(up, 100);
    p.server.write(down, 20000);
    REQUIRE(l.runUntil([&] {
      return (p.server.got.size() >= up.size() && p.client.got.size() >= down.size()) ||
             p.client.failed || p.server.failed;
    }));
    CHECK(p.server.got == up);
    CHECK(p.client.got == down);

    // close_notify: once (the second call is a no-op), read() then reports UV_EOF.
    CHECK(p.client.transport.closeNotify());
    CHECK_FALSE(p.client.transport.closeNotify());
    p.client.flush();
    REQUIRE(l.runUntil([&] { return p.server.eof; }));
    CHECK_FALSE(p.server.failed);
    REQUIRE(l.runUntil([&] { return p.client.writing == 0 && p.server.writing == 0; }));
    p.close();
  }
  CHECK(blocks.liveCount() == 0);
}

TEST_CASE("TLS: a client that does not trust the certificate fails the handshake with the reason") {
  testing::CertDir d;
  std::string err;
  auto server = TlsServerContext::create(listenerTls(d), &err);
  REQUIRE_MESSAGE(server, err);
  auto client = clientTrusting(d, "b.crt", false);  // trusts only b; a.test is served by a
  UvTestLoop l;
  BlockPool blocks;
  WritePool writes;
  {
    Pair p(l, &writes);
    REQUIRE(p.server.transport.accept(server, &writes, &blocks));
    p.server.startReading();
    REQUIRE(p.client.transport.connect(client, "a.test", &writes, &blocks) == 0);
    p.client.startReading();
    p.client.flush();
    // The client refuses the certificate and sends an alert; the server's handshake fails on it.
    REQUIRE(l.runUntil([&] { return p.client.failed && p.server.failed; }));
    CHECK(p.client.error.find("certificate verify failed") == 0);
    CHECK_FALSE(p.server.error.empty());
    CHECK_FALSE(p.client.connected);
    CHECK_FALSE(p.client.transport.established());
    CHECK_FALSE(p.server.transport.established());
    // No close_notify before the handshake completed.
    CHECK(p.client.transport.closeNotify());
    CHECK(p.client.transport.output() == nullptr);
    REQUIRE(l.runUntil([&] { return p.client.writing == 0 && p.server.writing == 0; }));
    p.close();
  }
  CHECK(blocks.liveCount() == 0);
}

TEST_CASE("TLS: a server reading garbage fails the handshake") {
  testing::CertDir d;
  std::string err;
  auto server = TlsServerContext::create(listenerTls(d), &err);
  REQUIRE_MESSAGE(server, err);
  BlockPool blocks;
  WritePool writes;
  StreamTransport t;
  REQUIRE(t.accept(server, &writes, &blocks));
  const char request[] = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
  CHECK(t.receive(request, sizeof request - 1) == Received::kFailed);
  CHECK_FALSE(t.error().empty());
  CHECK_FALSE(t.established());
  if (WriteBatch* b = t.output()) writes.release(b);  // the alert, if any
  CHECK(blocks.liveCount() == 0);
}

}  // namespace
}  // namespace sy::net
