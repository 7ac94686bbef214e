#pragma once
// A client connection as the worker sees it, whatever its protocol: started once accepted,
// drained on shutdown and reload, aborted. The worker keeps them in an intrusive list. Worker
// thread only; an implementation frees itself once its socket has closed.

#include <uv.h>

#include "switchyard/net/tcp_stream.h"

namespace sy::server {
class Worker;
struct WorkerListener;
}  // namespace sy::server

namespace sy::proxy {

class ClientConnection {
 public:
  virtual ~ClientConnection() = default;
  // The socket to accept into (before start()).
  virtual net::TcpStream& socket() = 0;
  // Called once after the accept succeeded into socket().
  virtual void start() = 0;
  // Close once idle: finish the requests in progress, take no new ones.
  virtual void drain() = 0;
  // Closes now (idempotent).
  virtual void abort() = 0;
  // A new config was adopted (its listener may be gone or set up differently now).
  virtual void configAdopted() {}

  ClientConnection* prev = nullptr;  // the worker's list
  ClientConnection* next = nullptr;
};

// A new connection for a socket accepted on `listener`. The protocol is chosen per connection:
// HTTP/1.1 unless ALPN (TLS) or the connection preface (cleartext h2c) selects HTTP/2.
ClientConnection* newClientConnection(server::Worker& w, server::WorkerListener& listener);

}  // namespace sy::proxy
