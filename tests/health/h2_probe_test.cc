// h2_probe.cc: the HTTP/2 health check's request, read by a real nghttp2 server session, and
// the server's answers read back.
#include "switchyard/health/h2_probe.h"

#include <doctest/doctest.h>
#include <nghttp2/nghttp2.h>

#include <string>
#include <vector>

namespace sy::health {
namespace {

struct Server {
  nghttp2_session* s = nullptr;
  std::string path, authority, scheme;
  int32_t stream = 0;
  std::vector<int> statuses;  // answers to give stream 1: interim ones first
  bool goaway = false;
  Server() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
               const uint8_t* v, size_t vl, uint8_t, void* u) {
          auto* self = static_cast<Server*>(u);
          std::string name(reinterpret_cast<const char*>(n), nl);
          std::string value(reinterpret_cast<const char*>(v), vl);
          if (name == ":path") self->path = value;
          if (name == ":authority") self->authority = value;
          if (name == ":scheme") self->scheme = value;
          self->stream = f->hd.stream_id;
          return 0;
        });
    nghttp2_session_server_new(&s, cb, this);
    nghttp2_session_callbacks_del(cb);
  }
  ~Server() { nghttp2_session_del(s); }
  std::string answer(const std::string& request) {
    REQUIRE(nghttp2_session_mem_recv(s, reinterpret_cast<const uint8_t*>(request.data()),
                                     request.size()) == static_cast<ssize_t>(request.size()));
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, nullptr, 0);
    if (goaway) {
      nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
    } else {
      for (size_t i = 0; i < statuses.size(); ++i) {
        std::string st = std::to_string(statuses[i]);
        nghttp2_nv nv[] = {{(uint8_t*)":status", (uint8_t*)st.data(), 7, st.size(), 0},
                           {(uint8_t*)"server", (uint8_t*)"test", 6, 4, 0}};
        if (i + 1 < statuses.size()) {
          nghttp2_submit_headers(s, NGHTTP2_FLAG_NONE, 1, nullptr, nv, 2, nullptr);
        } else {
          nghttp2_submit_response(s, 1, nv, 2, nullptr);
        }
      }
    }
    std::string out;
    for (;;) {
      const uint8_t* d = nullptr;
      ssize_t n = nghttp2_session_mem_send(s, &d);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(d), static_cast<size_t>(n));
    }
    return out;
  }
};

}  // namespace

TEST_CASE("http2ProbeRequest: a GET a real HTTP/2 server reads") {
  Server srv;
  srv.statuses = {204};
  const std::string req = http2ProbeRequest("/healthz?x=1", "api.test:8080", false);
  const std::string out = srv.answer(req);
  CHECK(srv.path == "/healthz?x=1");
  CHECK(srv.authority == "api.test:8080");
  CHECK(srv.scheme == "http");
  CHECK(srv.stream == 1);
  CHECK(http2ProbeStatus(out) == 204);
  // Every prefix short of the head needs more bytes; never a wrong answer.
  size_t headAt = out.size();
  for (size_t n = 0; n < out.size(); ++n) {
    const int st = http2ProbeStatus(std::string_view(out).substr(0, n));
    CHECK((st == -1 || st == 204));
    if (st == 204 && n < headAt) headAt = n;
  }
  CHECK(headAt == out.size());
  Server tls;
  tls.statuses = {200};
  tls.answer(http2ProbeRequest("/", "b", true));
  CHECK(tls.scheme == "https");
}

TEST_CASE("http2ProbeStatus: interim heads are skipped, failures are 0") {
  Server srv;
  srv.statuses = {103, 503};
  CHECK(http2ProbeStatus(srv.answer(http2ProbeRequest("/", "b", false))) == 503);
  Server gone;
  gone.goaway = true;
  CHECK(http2ProbeStatus(gone.answer(http2ProbeRequest("/", "b", false))) == 0);
  CHECK(http2ProbeStatus("HTTP/1.1 200 OK\r\n\r\n") == 0);  // not HTTP/2 at all: no head can come
  CHECK(http2ProbeStatus("") == -1);
}

}  // namespace sy::health
