#pragma once
// What every active health check shares (probe.h, grpc_probe.h): a deadline timer, a TCP
// connect, an optional TLS transport with the pool's context, writes, and the lifetime rule.
// A check owns its handles and frees itself once they are closed: after delivering its result
// (exactly once) or after cancel() (then no result is delivered). Main loop.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "switchyard/config/config.h"
#include "switchyard/net/buffer.h"
#include "switchyard/net/stream_transport.h"

namespace sy::health {

struct CheckResult {
  bool pass = false;
  int status = 0;      // HTTP status seen (0 = none)
  std::string reason;  // why it failed ("connect refused", "status 500", "timed out after 1s")
};

class ProbeBase {
 public:
  using Done = std::function<void(const CheckResult&)>;
  // No result will be delivered; the check closes and frees itself. Idempotent.
  void cancel();

 protected:
  ProbeBase() = default;
  virtual ~ProbeBase() = default;
  // Arms the deadline and connects to `addr`; the derived check goes on in onConnected().
  // Errors, even immediate ones, are delivered from the loop. Returns false only when libuv
  // could not set up the timer: the check is deleted then (nothing could report a result).
  bool begin(uv_loop_t* loop, const config::SocketAddress& addr, uint64_t timeoutMs,
             Done done, std::shared_ptr<const net::TlsClientContext> tls);
  // The TCP connect ended (not called after finish or cancel).
  virtual void onConnected(int status) = 0;
  // "connect refused" / "connect failed: ..." for a failed connect; true when it failed.
  bool connectFailed(int status);
  void finish(CheckResult r);
  void fail(std::string reason) { finish({false, 0, std::move(reason)}); }
  // Writes on the socket; a failure fails the check.
  void send(net::WriteBatch* batch);
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  // The check behind a libuv handle's or a write's `data`.
  template <class T>
  static T* of(void* data) {
    return static_cast<T*>(static_cast<ProbeBase*>(data));
  }

  bool finished_ = false;
  uint64_t timeoutMs_ = 0;
  std::string addrHost_;  // TLS name default
  std::shared_ptr<const net::TlsClientContext> tlsCtx_;
  // Main loop, a few writes per check: pools of the check's own (declared before the
  // transport, which holds pointers to them).
  net::BlockPool blocks_;
  net::WritePool writes_;
  net::StreamTransport transport_;

 private:
  void closeHandles();
  static void onClosed(uv_handle_t* h);
  static void onTimer(uv_timer_t* t);

  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_connect_t connectReq_;
  int openHandles_ = 0;
  bool tcpOpen_ = false;
  CheckResult early_;  // a failure found in begin(), delivered by a 0 ms timer
  bool hasEarly_ = false;
  Done done_;
};

// The text of a duration for messages: "250ms", "1s", "1.5s".
std::string formatMs(int64_t ms);

}  // namespace sy::health
