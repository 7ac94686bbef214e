#pragma once
// `health_check.type: grpc`: one call of grpc.health.v1.Health/Check on a backend, over HTTP/2
// (cleartext prior knowledge, or TLS when the pool has `tls:`), asking about
// `health_check.service` ("" = the server as a whole). Passes only when the call ends with
// grpc-status 0 and the answer says SERVING. The whole check, connect included, must finish
// within the timeout (sent as the call's grpc-timeout too). Main loop.
//
// Like Probe, a GrpcProbe owns its handles and frees itself once they are closed: after
// delivering its result (exactly once) or after cancel() (then no result is delivered).

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "switchyard/config/config.h"
#include "switchyard/health/grpc_health_message.h"
#include "switchyard/health/probe.h"
#include "switchyard/net/buffer.h"
#include "switchyard/net/stream_transport.h"

struct nghttp2_session;

namespace sy::health {

class GrpcProbe {
 public:
  using Done = Probe::Done;

  // As Probe::start: `host` is the call's :authority. Errors are delivered through `done` from
  // the loop, never from start(); nullptr (and no callback) only if libuv could not set up a
  // timer.
  static GrpcProbe* start(uv_loop_t* loop, const config::SocketAddress& addr,
                          const config::HealthCheck& hc, std::string_view host, Done done,
                          std::shared_ptr<const net::TlsClientContext> tls = nullptr);
  // No result will be delivered; the probe closes and frees itself. Idempotent.
  void cancel();

 private:
  GrpcProbe() = default;
  ~GrpcProbe();
  void finish(CheckResult r);
  void fail(std::string reason) { finish({false, 0, std::move(reason)}); }
  void closeHandles();
  void onConnected(int status);
  void onCipher(const char* p, size_t n);
  void onPlain(const char* p, size_t n);
  bool startSession();
  void flushSession();
  void send(net::WriteBatch* batch);
  void streamClosed(uint32_t errorCode);
  static void onClosed(uv_handle_t* h);

  friend struct GrpcProbeCallbacks;

  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_connect_t connectReq_;
  int openHandles_ = 0;
  bool tcpOpen_ = false;
  bool finished_ = false;
  uint64_t timeoutMs_ = 0;
  CheckResult early_;
  bool hasEarly_ = false;
  Done done_;
  std::string authority_;
  std::string addrHost_;
  std::string request_;  // the encoded HealthCheckRequest
  size_t requestSent_ = 0;
  char readBuf_[16 * 1024];
  nghttp2_session* session_ = nullptr;
  int32_t streamId_ = -1;
  int httpStatus_ = 0;
  int grpcStatus_ = -1;
  std::string grpcMessage_;
  std::string body_;  // the response message (bounded)
  std::shared_ptr<const net::TlsClientContext> tlsCtx_;
  net::BlockPool blocks_;
  net::WritePool writes_;
  net::StreamTransport transport_;
};

}  // namespace sy::health
