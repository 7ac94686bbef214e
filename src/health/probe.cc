#include "switchyard/health/probe.h"

#include "switchyard/health/h2_probe.h"

#include <algorithm>
#include <cstdio>

namespace sy::health {

int parseStatusLine(std::string_view data) {
  const size_t eol = data.find("\r\n");
  if (eol == std::string_view::npos) {
    // Reject early what can never become a status line.
    constexpr std::string_view kPrefix = "HTTP/1.";
    const size_t n = std::min(data.size(), kPrefix.size());
    return data.substr(0, n) == kPrefix.substr(0, n) ? -1 : 0;
  }
  std::string_view line = data.substr(0, eol);
  // "HTTP/1.x SSS" followed by end of line or " reason".
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ')
    return 0;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return 0;
    status = status * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return 0;
  return status >= 100 && status <= 599 ? status : 0;
}

bool statusExpected(int status, const std::vector<std::pair<int, int>>& ranges) {
  for (const auto& [lo, hi] : ranges)
    if (status >= lo && status <= hi) return true;
  return false;
}

Probe* Probe::start(uv_loop_t* loop, const config::SocketAddress& addr,
                    const config::HealthCheck& hc, std::string_view host, Done done,
                    std::shared_ptr<const net::TlsClientContext> tls, bool http2) {
  auto* p = new Probe();
  p->http_ = hc.type == config::HealthCheckType::kHttp;
  p->expected_ = hc.expectedStatuses;
  p->http2_ = http2 && p->http_;
  if (p->http2_) {
    p->request_ = http2ProbeRequest(hc.path, host, tls != nullptr);
  } else if (p->http_) {
    p->request_.reserve(hc.path.size() + host.size() + 96);
    p->request_.append("GET ").append(hc.path).append(" HTTP/1.1\r\nHost: ");
    p->request_.append(host).append(
        "\r\nUser-Agent: switchyard-health-check\r\nConnection: close\r\n\r\n");
  }
  const auto timeoutMs = static_cast<uint64_t>(std::max<int64_t>(hc.timeout.count(), 1));
  return p->begin(loop, addr, timeoutMs, std::move(done), std::move(tls)) ? p : nullptr;
}

void Probe::onConnected(int status) {
  if (connectFailed(status)) return;
  if (!http_ && !tlsCtx_) {
    finish({true, 0, ""});
    return;
  }
  if (tlsCtx_) {
    int rc = transport_.connect(tlsCtx_, addrHost_, &writes_, &blocks_);
    if (rc == UV_ENOMEM) {
      fail("cannot start TLS");
      return;
    }
    if (rc != 0) {
      fail("TLS handshake failed: " + transport_.error());
      return;
    }
  }
  uv_stream_t* s = stream();
  int rc = uv_read_start(
      s,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = of<Probe>(h->data);
        if (self->transport_.secure()) {
          *buf = net::StreamTransport::cipherBuffer();
          return;
        }
        *buf = uv_buf_init(self->buf_ + self->len_,
                           static_cast<unsigned>(sizeof self->buf_ - self->len_));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* self = of<Probe>(s->data);
        if (self->transport_.secure() && n > 0) {
          self->onCipher(buf->base, static_cast<size_t>(n));
        } else {
          self->onData(n);
        }
      });
  if (rc != 0) {
    fail(std::string("read: ") + uv_strerror(rc));
    return;
  }
  if (transport_.secure()) {
    flushTls();  // the ClientHello; the request follows the handshake
    return;
  }
  sendRequest();
}

void Probe::sendRequest() {
  net::WriteBatch* b = writes_.acquire();
  b->addStatic(request_.data(), request_.size());  // request_ lives as long as the probe
  b = transport_.seal(b);
  if (!b) {
    fail("TLS write failed: " + transport_.error());
    return;
  }
  send(b);
}

void Probe::flushTls() {
  if (net::WriteBatch* b = transport_.output()) send(b);
}

void Probe::onCipher(const char* p, size_t n) {
  if (finished_) return;
  using Received = net::StreamTransport::Received;
  const Received got = transport_.receive(p, n);
  if (got == Received::kFailed) {
    flushTls();  // the alert
    fail("TLS handshake failed: " + transport_.error());
    return;
  }
  if (got != Received::kData) {
    flushTls();
    if (got == Received::kPending) return;
    if (!http_) {
      finish({true, 0, ""});
      return;
    }
    sendRequest();
  }
  while (!finished_ && len_ < sizeof buf_) {
    ssize_t r = transport_.read(buf_ + len_, sizeof buf_ - len_);
    if (r == 0) break;
    if (r == UV_EPROTO) {
      fail("TLS error: " + transport_.error());
      return;
    }
    onData(r);  // bytes, or UV_EOF
    if (r == UV_EOF) return;
  }
  if (!finished_) flushTls();
}

void Probe::onData(ssize_t n) {
  if (finished_ || n == 0) return;
  if (n < 0) {
    fail(n == UV_EOF ? std::string("connection closed before a status line")
                     : std::string("read failed: ") + uv_strerror(static_cast<int>(n)));
    return;
  }
  len_ += static_cast<size_t>(n);
  const std::string_view got(buf_, len_);
  int status = http2_ ? http2ProbeStatus(got) : parseStatusLine(got);
  if (status < 0 && len_ < sizeof buf_) return;  // need more
  if (status <= 0) {
    fail(http2_ ? "no HTTP/2 response head" : "invalid status line");
    return;
  }
  if (statusExpected(status, expected_)) {
    finish({true, status, ""});
  } else {
    finish({false, status, "status " + std::to_string(status)});
  }
}

}  // namespace sy::health
