#pragma once
// `health_check.type: grpc`: one call of grpc.health.v1.Health/Check on a backend, over HTTP/2
// (cleartext prior knowledge, or TLS when the pool has `tls:`), asking about
// `health_check.service` ("" = the server as a whole). Passes only when the call ends with
// grpc-status 0 and the answer says SERVING. The whole check, connect included, must finish
// within the timeout (sent as the call's grpc-timeout too). Main loop.
//
// Like every check (probe_base.h), a GrpcProbe owns its handles and frees itself once they are closed: after
// delivering its result (exactly once) or after cancel() (then no result is delivered).

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "switchyard/config/config.h"
#include "switchyard/health/grpc_health_message.h"
#include "switchyard/health/probe_base.h"
#include "switchyard/net/buffer.h"
#include "switchyard/net/stream_transport.h"

struct nghttp2_session;

namespace sy::health {

class GrpcProbe final : public ProbeBase {
 public:
  // As Probe::start: `host` is the call's :authority. Errors are delivered through `done` from
  // the loop, never from start(); nullptr (and no callback) only if libuv could not set up a
  // timer.
  static GrpcProbe* start(uv_loop_t* loop, const config::SocketAddress& addr,
                          const config::HealthCheck& hc, std::string_view host, Done done,
                          std::shared_ptr<const net::TlsClientContext> tls = nullptr);

 private:
  GrpcProbe() = default;
  ~GrpcProbe() override;
  void onConnected(int status) override;
  void onCipher(const char* p, size_t n);
  void onPlain(const char* p, size_t n);
  bool startSession();
  void flushSession();
  void streamClosed(uint32_t errorCode);
  friend struct GrpcProbeCallbacks;

  std::string authority_;
  std::string request_;  // the encoded HealthCheckRequest
  size_t requestSent_ = 0;
  char readBuf_[16 * 1024];
  nghttp2_session* session_ = nullptr;
  int32_t streamId_ = -1;
  int httpStatus_ = 0;
  int grpcStatus_ = -1;
  std::string grpcMessage_;
  std::string body_;  // the response message (bounded)
};

}  // namespace sy::health
