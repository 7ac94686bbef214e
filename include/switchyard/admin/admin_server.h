#pragma once
// The admin listener (admin.listen) on the main loop: accepts connections, parses requests
// with the strict llhttp wrapper, and answers them through admin::handle() (api.h). Requests
// are small and answered at once; keep-alive and pipelining work, junk gets a 4xx and a close.
// Main thread only.

#include <cstddef>
#include <cstdint>
#include <string>

#include <uv.h>

#include "switchyard/admin/api.h"
#include "switchyard/config/config.h"

namespace sy::admin {

class AdminConn;

class AdminServer {
 public:
  static constexpr size_t kMaxConnections = 64;
  static constexpr uint64_t kIdleTimeoutMs = 30'000;

  AdminServer(uv_loop_t* loop, Host& host);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens. Returns "" or what went wrong.
  std::string listen(const config::SocketAddress& addr);
  // Listens on `fd`, a socket already bound to `addr` (taken over in a binary upgrade; owned
  // from now on). Returns "" or what went wrong.
  std::string adopt(int fd, const config::SocketAddress& addr);
  // The listening socket (for an upgrade's handover), or -1.
  int fd() const;
  // Bearer token POSTs need; "" = none.
  void setToken(std::string token) { token_ = std::move(token); }
  uint16_t port() const { return port_; }
  // Stops accepting; open connections are served on (after a binary upgrade handed the
  // socket to the new process, which answers new connections from then on). Idempotent.
  void stopListening();
  // Stops listening and closes all connections (idempotent). The loop can end afterwards.
  void close();

 private:
  friend class AdminConn;
  static void onConnection(uv_stream_t* server, int status);
  std::string startListening(int rc, const config::SocketAddress& addr);

  uv_loop_t* loop_;
  Host& host_;
  uv_tcp_t tcp_;
  bool open_ = false;
  bool closed_ = false;
  uint16_t port_ = 0;
  std::string token_;
  AdminConn* conns_ = nullptr;  // intrusive list
  size_t connCount_ = 0;
};

}  // namespace sy::admin
