#pragma once
// One active health check of one backend, on the main loop. `tcp`: a completed connect
// passes. `http`: connect, send "GET <path> HTTP/1.1" with Host and "Connection: close", read
// the status line, pass if the status is expected; the rest of the answer is not read. The
// whole check, connect included, must finish within the timeout. With a TLS context (the pool's
// `tls:`) the check runs over TLS with the same verification as live traffic; a `tcp` check
// then passes once the handshake completes.
//
// A Probe owns its handles and frees itself once they are closed: after delivering its result
// (exactly once) or after cancel() (then no result is delivered).

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/health/probe_base.h"
#include "switchyard/net/buffer.h"
#include "switchyard/net/stream_transport.h"

namespace sy::health {

class Probe final : public ProbeBase {
 public:
  // Starts a check of `addr` on `loop`. `host` is the Host header for http checks. Errors,
  // even immediate ones, are delivered through `done` from the loop, never from start().
  // nullptr (and no callback) only if libuv could not set up a timer. `http2`: an http check
  // speaks HTTP/2 (pools[].protocol h2 or h2c; h2_probe.h).
  static Probe* start(uv_loop_t* loop, const config::SocketAddress& addr,
                      const config::HealthCheck& hc, std::string_view host, Done done,
                      std::shared_ptr<const net::TlsClientContext> tls = nullptr,
                      bool http2 = false);

 private:
  Probe() = default;
  ~Probe() override = default;
  void onConnected(int status) override;
  void onData(ssize_t n);
  void onCipher(const char* p, size_t n);
  void sendRequest();
  void flushTls();

  bool http_ = true;
  bool http2_ = false;
  std::string request_;
  std::vector<std::pair<int, int>> expected_;
  char buf_[4096];
  size_t len_ = 0;
};

// The status code of an HTTP/1.x status line at the start of `data`: > 0 when the line is
// complete and valid, 0 when it is invalid, -1 when more bytes are needed.
int parseStatusLine(std::string_view data);
// Whether `status` is in one of the inclusive ranges.
bool statusExpected(int status, const std::vector<std::pair<int, int>>& ranges);

}  // namespace sy::health
