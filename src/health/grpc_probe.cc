// GrpcProbe: grpc.health.v1.Health/Check over one HTTP/2 client session (nghttp2), cleartext or
// TLS (grpc_probe.h).
#include "switchyard/health/grpc_probe.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace sy::health {
namespace {

constexpr std::string_view kPath = "/grpc.health.v1.Health/Check";
constexpr size_t kMaxResponse = 64 * 1024;  // a HealthCheckResponse is a few bytes
constexpr size_t kMaxMessage = 200;         // grpc-message kept for the reason

nghttp2_nv field(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

// nghttp2's callbacks, with the probe as user data.
struct GrpcProbeCallbacks {
  static GrpcProbe* self(void* user) { return static_cast<GrpcProbe*>(user); }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    GrpcProbe* p = self(user);
    if (frame->hd.stream_id != p->streamId_) return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    auto number = [](std::string_view s) {
      int x = 0;
      if (s.empty() || s.size() > 3) return -1;
      for (char c : s) {
        if (c < '0' || c > '9') return -1;
        x = x * 10 + (c - '0');
      }
      return x;
    };
    if (n == ":status") {
      p->httpStatus_ = number(v);
    } else if (n == "grpc-status") {
      p->grpcStatus_ = number(v);
    } else if (n == "grpc-message") {
      p->grpcMessage_.assign(v.substr(0, kMaxMessage));
    }
    return 0;
  }

  static int onData(nghttp2_session*, uint8_t, int32_t stream, const uint8_t* data, size_t len,
                    void* user) {
    GrpcProbe* p = self(user);
    if (stream != p->streamId_) return 0;
    if (p->body_.size() + len > kMaxResponse) return NGHTTP2_ERR_CALLBACK_FAILURE;
    p->body_.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int onClose(nghttp2_session*, int32_t stream, uint32_t error, void* user) {
    GrpcProbe* p = self(user);
    if (stream == p->streamId_) p->streamClosed(error);
    return 0;
  }

  static ssize_t readRequest(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                             uint32_t* flags, nghttp2_data_source*, void* user) {
    GrpcProbe* p = self(user);
    const size_t n = std::min(length, p->request_.size() - p->requestSent_);
    std::memcpy(buf, p->request_.data() + p->requestSent_, n);
    p->requestSent_ += n;
    if (p->requestSent_ == p->request_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

GrpcProbe* GrpcProbe::start(uv_loop_t* loop, const config::SocketAddress& addr,
                            const config::HealthCheck& hc, std::string_view host, Done done,
                            std::shared_ptr<const net::TlsClientContext> tls) {
  auto* p = new GrpcProbe();
  p->authority_ = host;
  p->request_ = encodeHealthCheckRequest(hc.service);
  const auto timeoutMs = static_cast<uint64_t>(std::max<int64_t>(hc.timeout.count(), 1));
  return p->begin(loop, addr, timeoutMs, std::move(done), std::move(tls)) ? p : nullptr;
}

GrpcProbe::~GrpcProbe() {
  if (session_) nghttp2_session_del(session_);
}

void GrpcProbe::onConnected(int status) {
  if (connectFailed(status)) return;
  if (tlsCtx_) {
    // gRPC over TLS is HTTP/2 chosen by ALPN; servers refuse a connection without it.
    int rc = transport_.connect(tlsCtx_, addrHost_, &writes_, &blocks_, "\x02h2");
    if (rc != 0) {
      fail(rc == UV_ENOMEM ? std::string("cannot start TLS")
                           : "TLS handshake failed: " + transport_.error());
      return;
    }
  }
  int rc = uv_read_start(
      stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = of<GrpcProbe>(h->data);
        *buf = self->transport_.secure() ? net::StreamTransport::cipherBuffer()
                                         : uv_buf_init(self->readBuf_, sizeof self->readBuf_);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* self = of<GrpcProbe>(s->data);
        if (self->finished_ || n == 0) return;
        if (n < 0) {
          self->fail(n == UV_EOF ? std::string("connection closed before the answer")
                                 : std::string("read failed: ") + uv_strerror(static_cast<int>(n)));
        } else if (self->transport_.secure()) {
          self->onCipher(buf->base, static_cast<size_t>(n));
        } else {
          self->onPlain(buf->base, static_cast<size_t>(n));
        }
      });
  if (rc != 0) {
    fail(std::string("read: ") + uv_strerror(rc));
    return;
  }
  if (transport_.secure()) {
    if (net::WriteBatch* b = transport_.output()) send(b);  // the ClientHello
    return;
  }
  if (startSession()) flushSession();
}

bool GrpcProbe::startSession() {
  nghttp2_session_callbacks* cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0) {
    fail("cannot set up HTTP/2");
    return false;
  }
  nghttp2_session_callbacks_set_on_header_callback(cbs, GrpcProbeCallbacks::onHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, GrpcProbeCallbacks::onData);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, GrpcProbeCallbacks::onClose);
  int rc = nghttp2_session_client_new(&session_, cbs, this);
  nghttp2_session_callbacks_del(cbs);
  if (rc != 0) {
    session_ = nullptr;
    fail("cannot set up HTTP/2");
    return false;
  }
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
  char timeout[24];
  const int tlen = std::snprintf(timeout, sizeof timeout, "%llum",
                                 static_cast<unsigned long long>(std::min<uint64_t>(timeoutMs_, 99'999'999)));
  const nghttp2_nv nva[] = {
      field(":method", "POST"),
      field(":scheme", transport_.secure() ? "https" : "http"),
      field(":authority", authority_),
      field(":path", kPath),
      field("content-type", "application/grpc"),
      field("te", "trailers"),
      field("grpc-timeout", std::string_view(timeout, static_cast<size_t>(tlen))),
      field("user-agent", "switchyard-health-check"),
  };
  nghttp2_data_provider body;
  body.source.ptr = this;
  body.read_callback = GrpcProbeCallbacks::readRequest;
  streamId_ = nghttp2_submit_request(session_, nullptr, nva, std::size(nva), &body, this);
  if (streamId_ < 0) {
    fail(std::string("cannot send the check: ") + nghttp2_strerror(streamId_));
    return false;
  }
  return true;
}

void GrpcProbe::flushSession() {
  if (finished_ || !session_) return;
  net::WriteBatch* b = writes_.acquire();
  for (;;) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      writes_.release(b);
      fail(std::string("HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(n)));
      return;
    }
    if (n == 0) break;
    b->addCopy(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  if (b->empty()) {
    writes_.release(b);
    return;
  }
  b = transport_.seal(b);
  if (!b) {
    fail("TLS write failed: " + transport_.error());
    return;
  }
  send(b);
}

void GrpcProbe::onCipher(const char* p, size_t n) {
  using Received = net::StreamTransport::Received;
  const Received got = transport_.receive(p, n);
  if (got == Received::kFailed) {
    if (net::WriteBatch* b = transport_.output()) send(b);  // the alert
    fail("TLS handshake failed: " + transport_.error());
    return;
  }
  if (got != Received::kData) {
    if (net::WriteBatch* b = transport_.output()) send(b);
    if (got == Received::kPending) return;
    if (!startSession()) return;  // connected: the session's preface and the call follow
    flushSession();
  }
  while (!finished_) {
    ssize_t r = transport_.read(readBuf_, sizeof readBuf_);
    if (r == 0) break;
    if (r == UV_EOF) {
      fail("connection closed before the answer");
      return;
    }
    if (r < 0) {
      fail("TLS error: " + transport_.error());
      return;
    }
    onPlain(readBuf_, static_cast<size_t>(r));
  }
  if (!finished_)
    if (net::WriteBatch* b = transport_.output()) send(b);
}

void GrpcProbe::onPlain(const char* p, size_t n) {
  if (finished_ || !session_) return;
  ssize_t rc = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(p), n);
  if (finished_) return;  // the call ended in a callback
  if (rc < 0) {
    fail(std::string("HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(rc)));
    return;
  }
  flushSession();
}

void GrpcProbe::streamClosed(uint32_t errorCode) {
  if (errorCode != 0) {
    fail(std::string("the backend reset the call: ") + nghttp2_http2_strerror(errorCode));
    return;
  }
  if (httpStatus_ != 200) {
    finish({false, std::max(httpStatus_, 0),
            httpStatus_ > 0 ? "status " + std::to_string(httpStatus_) : "no response head"});
    return;
  }
  if (grpcStatus_ < 0) {
    finish({false, 200, "no grpc-status in the answer"});
    return;
  }
  if (grpcStatus_ != 0) {
    finish({false, 200,
            "grpc-status " + std::to_string(grpcStatus_) +
                (grpcMessage_.empty() ? std::string() : ": " + grpcMessage_)});
    return;
  }
  std::optional<int> status = decodeHealthCheckResponse(body_);
  if (!status) {
    finish({false, 200, "invalid HealthCheckResponse"});
    return;
  }
  if (*status != static_cast<int>(ServingStatus::kServing)) {
    finish({false, 200, servingStatusName(*status)});
    return;
  }
  finish({true, 200, ""});
}

}  // namespace sy::health
