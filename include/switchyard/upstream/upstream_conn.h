#pragma once
// One TCP (or TLS over TCP) connection to a backend, owned by a worker. While a session uses it, the session
// drives reads and writes (`user` is set); while idle it sits in the backend's per-worker
// idle list and any byte or EOF from the backend closes it. Freed only in its close callback.

#include <cstdint>

#include <uv.h>

#include "switchyard/net/buffer.h"
#include "switchyard/net/stream_transport.h"
#include "switchyard/net/tcp_stream.h"
#include "switchyard/upstream/backend.h"

namespace sy::upstream {

// Receives the events of a connection in use.
class ConnUser {
 public:
  virtual ~ConnUser() = default;
  virtual void onUpstreamConnect(int status) = 0;
  virtual void onUpstreamAlloc(size_t suggested, uv_buf_t* buf) = 0;
  // io_uring only: take a received block over as the input buffer (net::TcpStream::setAdopt);
  // false has the bytes copied into onUpstreamAlloc's buffer instead.
  virtual bool onUpstreamAdopt(net::Block*) { return false; }
  virtual void onUpstreamRead(ssize_t n, const uv_buf_t* buf) = 0;
  virtual void onUpstreamWriteDone(int status) = 0;
};

class UpstreamConn {
 public:
  // Starts a connect to `backend` on `loop`. Events go to `user`. With `tls` (pools[].tls) the
  // TLS handshake runs before onUpstreamConnect(0); a failed handshake or certificate check is
  // logged (backend name, address, reason) and reported as onUpstreamConnect(UV_EPROTO).
  // `blocks`/`writes` are the worker's pools, required with `tls` (they carry the ciphertext).
  static UpstreamConn* connect(uv_loop_t* loop, std::shared_ptr<Backend> backend,
                               unsigned worker, ConnUser* user, int* err,
                               std::shared_ptr<const net::TlsClientContext> tls = nullptr,
                               net::BlockPool* blocks = nullptr, net::WritePool* writes = nullptr);

  net::TcpStream sock;
  std::shared_ptr<Backend> backend;
  ConnUser* user = nullptr;
  unsigned worker = 0;
  uint32_t requests = 0;     // requests sent on this connection
  // BackendSet::version of the pool it was made for: older than IdleList::settingsSince (a
  // reload changed the pool's protocol or TLS settings), it closes instead of parking.
  uint64_t configVersion = 0;
  uint64_t idleSince = 0;    // uv_now() when it entered the idle list
  uint64_t connectStartNs = 0;  // uv_hrtime() when the connect began (metrics)
  UpstreamConn* prev = nullptr;  // idle list links
  UpstreamConn* next = nullptr;
  bool inIdle = false;
  bool reading = false;
  std::shared_ptr<const net::TlsClientContext> tlsCtx;  // null: plain TCP
  net::StreamTransport transport;  // TLS once connected when tlsCtx is set

  bool closing() const { return sock.closing(); }
  // Idempotent; removes it from the idle list.
  void close();
  // Reading dispatches on `user` (a session's callbacks, or the idle watcher), so it stays on
  // across park/take: no epoll changes per request. Idempotent.
  int startReading();
  void stopReading();
  // Writes `batch` (from the worker's write pool; released when written). *done = true when it
  // was all written at once (no onUpstreamWriteDone follows). Returns <0 on error.
  int write(net::WriteBatch* batch, net::WritePool* pool, bool* done);
  // Half-closes the sending side once queued writes are out (TLS: close_notify first); the
  // connection is not reusable afterwards. Idempotent.
  void shutdownWrite();

  // Puts the connection in the backend's idle list (this worker) and watches it for close;
  // closes it instead when `maxIdle` (pools[].max_idle_per_backend) is 0, the backend is
  // retired, or it was made for protocol or TLS settings a reload has since changed. The cap
  // itself is applied by trimIdle() from the worker's sweep.
  void park(uint64_t now, uint32_t maxIdle = UINT32_MAX);
  // Closes the idle connections past `maxIdle` that were parked before `cutoff` (uv_now() ms),
  // the one parked longest ago first; returns how many.
  static size_t trimIdle(Backend& backend, unsigned worker, uint32_t maxIdle, uint64_t cutoff);
  // Takes the most recently parked healthy connection of `backend` on `worker`, or nullptr.
  // Connections made with another TLS context than `tls` (a reload changed pools[].tls) are
  // closed instead.
  static UpstreamConn* takeIdle(Backend& backend, unsigned worker, ConnUser* user,
                                const net::TlsClientContext* tls = nullptr);
  // Closes idle connections parked before `cutoff` (uv_now() ms); returns how many.
  static size_t closeIdleBefore(Backend& backend, unsigned worker, uint64_t cutoff);
  static size_t closeAllIdle(Backend& backend, unsigned worker);
  static size_t closeIdleHttp1Before(Backend& backend, unsigned worker, uint64_t cutoff);

  // Internal (libuv callbacks in upstream_conn.cc): TLS handshake and decryption.
  void startTls();
  void onCipher(const char* p, size_t n);
  void tlsFailed();
  void onClosedInHandshake(ssize_t n);

 private:
  UpstreamConn() = default;
  // Sends what OpenSSL produced outside a user write (handshake, alerts).
  void flushTls();
  void unlinkIdle();
  uv_connect_t connectReq_;
  uv_shutdown_t shutdownReq_;
  bool shutdownSent_ = false;
  net::WritePool* writePool_ = nullptr;
  net::BlockPool* blocks_ = nullptr;
};

}  // namespace sy::upstream
