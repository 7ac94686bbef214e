#include "switchyard/health/probe.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "../uv_test_loop.h"
#include "health_test_util.h"

using sy::health::CheckResult;
using sy::health::formatMs;
using sy::health::parseStatusLine;
using sy::health::Probe;
using sy::health::statusExpected;
using namespace std::chrono_literals;
namespace t = sy::health::testing;

TEST_CASE("parseStatusLine") {
  CHECK(parseStatusLine("HTTP/1.1 200 OK\r\n") == 200);
  CHECK(parseStatusLine("HTTP/1.0 503 Service Unavailable\r\nX: y\r\n\r\n") == 503);
  CHECK(parseStatusLine("HTTP/1.1 204\r\n") == 204);
  CHECK(parseStatusLine("HTTP/1.1 200 OK") == -1);
  CHECK(parseStatusLine("HTTP/1.") == -1);
  CHECK(parseStatusLine("") == -1);
  CHECK(parseStatusLine("HTT") == -1);
  CHECK(parseStatusLine("SSH-2.0-OpenSSH") == 0);
  CHECK(parseStatusLine("HTTP/2 200\r\n") == 0);
  CHECK(parseStatusLine("HTTP/1.1 20 OK\r\n") == 0);
  CHECK(parseStatusLine("HTTP/1.1 2000 OK\r\n") == 0);
  CHECK(parseStatusLine("HTTP/1.1 099 x\r\n") == 0);
  CHECK(parseStatusLine("HTTP/1.1 600 x\r\n") == 0);
  CHECK(parseStatusLine("HTTP/1.1  200 OK\r\n") == 0);
}

TEST_CASE("statusExpected") {
  std::vector<std::pair<int, int>> ranges = {{200, 299}, {308, 308}};
  CHECK(statusExpected(200, ranges));
  CHECK(statusExpected(299, ranges));
  CHECK(statusExpected(308, ranges));
  CHECK_FALSE(statusExpected(300, ranges));
  CHECK_FALSE(statusExpected(500, ranges));
  CHECK_FALSE(statusExpected(0, ranges));
}

TEST_CASE("formatMs") {
  CHECK(formatMs(250) == "250ms");
  CHECK(formatMs(1000) == "1s");
  CHECK(formatMs(1500) == "1.5s");
  CHECK(formatMs(1234) == "1234ms");
  CHECK(formatMs(120000) == "120s");
}

namespace {

// A tiny origin on the test's loop: answers every connection with `reply` (after reading the
// request head), or never answers when `reply` is empty.
struct TestOrigin {
  uv_tcp_t server;
  std::string reply;
  std::string lastRequest;
  int connections = 0;
  uint16_t port = 0;
  struct Conn;
  std::set<Conn*> open;
  bool serverClosed = false;

  struct Conn {
    uv_tcp_t tcp;
    TestOrigin* origin;
    std::string in;
    uv_write_t w;
    bool answered = false;
  };

  explicit TestOrigin(uv_loop_t* loop) {
    REQUIRE(uv_tcp_init(loop, &server) == 0);
    server.data = this;
    sockaddr_in sa;
    REQUIRE(uv_ip4_addr("127.0.0.1", 0, &sa) == 0);
    REQUIRE(uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&sa), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server), 16, onConnection) == 0);
    sockaddr_storage bound;
    int len = sizeof bound;
    REQUIRE(uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&bound), &len) == 0);
    port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }

  // Closes the listener and every connection (idempotent); the destructor waits for them.
  void close() {
    auto* h = reinterpret_cast<uv_handle_t*>(&server);
    if (!uv_is_closing(h))
      uv_close(h, [](uv_handle_t* hh) { static_cast<TestOrigin*>(hh->data)->serverClosed = true; });
    for (Conn* c : std::set<Conn*>(open)) closeConn(c);
  }
  ~TestOrigin() {
    close();
    while (!serverClosed || !open.empty()) uv_run(server.loop, UV_RUN_ONCE);
  }

  static void onConnection(uv_stream_t* s, int status) {
    auto* o = static_cast<TestOrigin*>(s->data);
    if (status != 0) return;
    auto* c = new Conn();
    c->origin = o;
    o->open.insert(c);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      closeConn(c);
      return;
    }
    ++o->connections;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char mem[4096];
          *buf = uv_buf_init(mem, sizeof mem);
        },
        [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
          auto* conn = static_cast<Conn*>(st->data);
          if (n < 0) {
            closeConn(conn);
            return;
          }
          conn->in.append(buf->base, static_cast<size_t>(n));
          if (conn->answered || conn->in.find("\r\n\r\n") == std::string::npos) return;
          conn->origin->lastRequest = conn->in;
          if (conn->origin->reply.empty()) return;  // silent
          conn->answered = true;
          uv_buf_t out = uv_buf_init(conn->origin->reply.data(),
                                     static_cast<unsigned>(conn->origin->reply.size()));
          conn->w.data = conn;
          uv_write(&conn->w, st, &out, 1,
                   [](uv_write_t* w, int) { closeConn(static_cast<Conn*>(w->data)); });
        });
  }

  static void closeConn(Conn* c) {
    auto* h = reinterpret_cast<uv_handle_t*>(&c->tcp);
    if (uv_is_closing(h)) return;
    uv_close(h, [](uv_handle_t* hh) {
      auto* conn = static_cast<Conn*>(hh->data);
      conn->origin->open.erase(conn);
      delete conn;
    });
  }
};

using Loop = UvTestLoop;

sy::config::HealthCheck httpCheck() {
  sy::config::HealthCheck hc;
  hc.path = "/healthz";
  hc.timeout = 300ms;
  return hc;
}

std::optional<CheckResult> runProbe(Loop& l, uint16_t port, const sy::config::HealthCheck& hc,
                                    std::string host = "backend.test") {
  std::optional<CheckResult> result;
  sy::config::Backend b = t::backendConfig("b", port);
  Probe* p = Probe::start(&l.loop, b.address, hc, host, [&](const CheckResult& r) { result = r; });
  REQUIRE(p != nullptr);
  l.runUntil([&] { return result.has_value(); });
  return result;
}

uint16_t refusedPort() {
  Loop l;
  TestOrigin o(&l.loop);
  uint16_t port = o.port;
  o.close();
  return port;  // nothing listens there any more
}

}  // namespace

TEST_CASE("Probe: http check passes on an expected status and sends path and Host") {
  Loop l;
  TestOrigin o(&l.loop);
  o.reply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
  auto r = runProbe(l, o.port, httpCheck(), "api.example:8080");
  REQUIRE(r);
  CHECK(r->pass);
  CHECK(r->status == 200);
  CHECK(o.lastRequest.starts_with("GET /healthz HTTP/1.1\r\n"));
  CHECK(o.lastRequest.find("\r\nHost: api.example:8080\r\n") != std::string::npos);
  CHECK(o.lastRequest.find("\r\nConnection: close\r\n") != std::string::npos);
  o.close();
}

TEST_CASE("Probe: http check fails on an unexpected status") {
  Loop l;
  TestOrigin o(&l.loop);
  o.reply = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
  auto r = runProbe(l, o.port, httpCheck());
  REQUIRE(r);
  CHECK_FALSE(r->pass);
  CHECK(r->status == 500);
  CHECK(r->reason == "status 500");
  SUBCASE("unless it is listed") {
    sy::config::HealthCheck hc = httpCheck();
    hc.expectedStatuses = {{200, 299}, {500, 500}};
    auto r2 = runProbe(l, o.port, hc);
    REQUIRE(r2);
    CHECK(r2->pass);
  }
  o.close();
}

TEST_CASE("Probe: garbage instead of a status line fails") {
  Loop l;
  TestOrigin o(&l.loop);
  o.reply = "SSH-2.0-OpenSSH_9.2\r\n";
  auto r = runProbe(l, o.port, httpCheck());
  REQUIRE(r);
  CHECK_FALSE(r->pass);
  CHECK(r->reason == "invalid status line");
  o.close();
}

TEST_CASE("Probe: a backend that never answers fails at the timeout") {
  Loop l;
  TestOrigin o(&l.loop);  // reply empty: silent
  const uint64_t t0 = uv_hrtime();
  auto r = runProbe(l, o.port, httpCheck());
  const uint64_t ms = (uv_hrtime() - t0) / 1000000;
  REQUIRE(r);
  CHECK_FALSE(r->pass);
  CHECK(r->reason == "timed out after 300ms");
  CHECK(ms >= 290);
  CHECK(ms < 2000);
  o.close();
}

TEST_CASE("Probe: refused connection fails at once") {
  const uint16_t port = refusedPort();
  Loop l;
  auto r = runProbe(l, port, httpCheck());
  REQUIRE(r);
  CHECK_FALSE(r->pass);
  CHECK(r->reason == "connect refused");
}

TEST_CASE("Probe: tcp check passes on connect alone") {
  Loop l;
  TestOrigin o(&l.loop);  // silent: a tcp check does not wait for bytes
  sy::config::HealthCheck hc = httpCheck();
  hc.type = sy::config::HealthCheckType::kTcp;
  auto r = runProbe(l, o.port, hc);
  REQUIRE(r);
  CHECK(r->pass);
  CHECK(o.lastRequest.empty());
  o.close();
  SUBCASE("and fails when refused") {
    auto r2 = runProbe(l, refusedPort(), hc);
    REQUIRE(r2);
    CHECK_FALSE(r2->pass);
  }
}

TEST_CASE("Probe: cancel delivers nothing and frees the probe") {
  Loop l;
  TestOrigin o(&l.loop);
  bool called = false;
  sy::config::Backend b = t::backendConfig("b", o.port);
  Probe* p = Probe::start(&l.loop, b.address, httpCheck(), "h",
                          [&](const CheckResult&) { called = true; });
  REQUIRE(p != nullptr);
  p->cancel();
  p->cancel();  // idempotent
  l.runUntil([] { return false; }, 50);
  CHECK_FALSE(called);
  o.close();
}
