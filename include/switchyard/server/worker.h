#pragma once
// A worker: one thread running one libuv loop with its own listening sockets (SO_REUSEPORT),
// client sessions, upstream connection pools, balancing cursors and buffers. Nothing on its
// request path takes a lock. Other threads talk to it only through post*() (uv_async).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#include "switchyard/metrics/access_log.h"
#include "switchyard/metrics/stats.h"
#include "switchyard/http/parser.h"
#include "switchyard/net/buffer.h"
#include "switchyard/net/ring.h"
#include "switchyard/net/timer_wheel.h"
#include "switchyard/ratelimit/redis_link.h"
#include "switchyard/server/snapshot.h"

namespace sy::proxy {
class ClientConnection;
class ExchangePool;
class Http2StreamPool;
}

namespace sy::server {

class Worker;

// One listening socket of one worker.
struct WorkerListener {
  uv_tcp_t tcp;                // epoll: the listening handle
  net::RingAcceptor acceptor;  // io_uring: multishot accept on fd
  Worker* worker = nullptr;
  std::string key;  // listenerKey(): a reload keeps the socket while name and address match
  std::string name;
  int routeIndex = -1;  // index of this listener in the worker's current snapshot
  // Bumped when a reload changes what a connection was set up with (tls, protocols, http2):
  // HTTP/2 connections of an older generation are drained (GOAWAY) so clients reconnect.
  uint32_t generation = 0;
  uint32_t slot = 0;    // the listener's metrics slot (Server::listenerSlot)
  int fd = -1;          // handed over by the main thread
  bool tls = false;
  // Lifetime: sessions refer to their listener, so a listener removed by a reload is freed
  // only once its handle is closed and its last session has ended.
  uint32_t sessions = 0;
  bool closed = false;
  bool handleClosed = false;
};

// Whether two configs of one listener set up connections the same way (TLS certificates and
// version, protocols, HTTP/2 settings).
bool sameConnectionSettings(const config::Listener& a, const config::Listener& b);

// Identity of a listener across reloads.
std::string listenerKey(const config::Listener& l);

// A listening socket opened by the main thread for one worker.
struct ListenFd {
  std::string key;
  int fd = -1;
  uint32_t slot = 0;  // metrics slot of the listener
};

class Worker {
 public:
  Worker(unsigned id, std::atomic<uint32_t>* connectionCount);
  ~Worker();

  // Main thread: takes ownership of listening fds (one per config listener, same order) and
  // starts the thread.
  void start(std::shared_ptr<const Snapshot> snap, std::vector<ListenFd> listenFds);
  // Any thread: publish a new snapshot; the worker adopts it between requests. `newFds` are
  // sockets for listeners the worker does not have yet; listeners no longer in the snapshot
  // are closed, the others keep their sockets (no connection is refused by a reload).
  void postSnapshot(std::shared_ptr<const Snapshot> snap, std::vector<ListenFd> newFds = {});
  // Main thread, before start(): the server's stats block and this worker's access log buffer
  // (both outlive the worker).
  void attachTelemetry(metrics::StatsBlock* stats, metrics::WorkerLog* log) {
    stats_ = stats;
    log_ = log;
  }
  // Any thread: stop accepting, finish in-flight requests, close idle connections, then the
  // loop ends. Call join() afterwards.
  void postShutdown();
  // Any thread: a slot freed in a pool where a request of this worker waits (pool_gate.h).
  void postGateWake();
  void join();
  // Main thread, before start(): run the data path on io_uring (net/ring.h; Ring::probe()
  // succeeded). A worker whose ring cannot be made falls back to epoll and says so.
  void useIoUring(bool on) { wantRing_ = on; }
  bool finished() const { return finished_.load(); }
  // Any thread: uv_hrtime() of the loop's last heartbeat (a timer every kHeartbeatMs); one
  // that stops advancing means the loop is stuck in a callback (readiness, /readyz).
  static constexpr uint64_t kHeartbeatMs = 250;
  uint64_t lastHeartbeatNs() const { return heartbeat_.load(std::memory_order_relaxed); }

  // Worker thread only.
  uv_loop_t* loop() { return &loop_; }
  unsigned id() const { return id_; }
  net::BlockPool& blocks() { return blocks_; }
  net::WritePool& writes() { return writes_; }
  http::HeaderPool& headerPool() { return headerPool_; }
  proxy::ExchangePool& exchanges() { return *exchanges_; }
  proxy::Http2StreamPool& h2Streams() { return *h2Streams_; }
  // Client connections' deadlines.
  net::TimerWheel& timers() { return *timers_; }
  const std::shared_ptr<WorkerView>& view() const { return view_; }
  bool draining() const { return draining_; }
  // The server-wide block (client connections, bytes, unrouted answers): this worker's shard.
  metrics::ShardRef stats() { return stats_->shard(id_); }
  metrics::WorkerLog* accessLog() { return log_; }
  // This worker's connection to the rate-limit redis store (made on first use).
  ratelimit::RedisLink& rateLimitRedis() {
    if (!redis_) redis_ = std::make_unique<ratelimit::RedisLink>(&loop_);
    return *redis_;
  }
  void sessionOpened(proxy::ClientConnection* s);
  void sessionClosed(proxy::ClientConnection* s);

 private:
  void run();
  void addListener(const ListenFd& lf);
  void closeListener(std::unique_ptr<WorkerListener> l);
  void adoptPending();
  void beginDrain();
  void maybeFinish();
  void sweepIdle();
  void serveGates();
  static void onConnection(uv_stream_t* server, int status);
  void openListener(WorkerListener* l);
  static void onRingAccept(net::RingAcceptor* a, int res, bool more);
  void accepted(WorkerListener* l, proxy::ClientConnection* s);

  unsigned id_;
  std::atomic<uint32_t>* connectionCount_;
  uv_loop_t loop_;
  uv_async_t async_;
  uv_timer_t sweep_;
  uv_timer_t logFlush_;
  uv_timer_t heartbeatTimer_;
  std::atomic<uint64_t> heartbeat_{0};
  std::thread thread_;
  std::vector<std::unique_ptr<WorkerListener>> listeners_;
  std::shared_ptr<WorkerView> view_;
  net::BlockPool blocks_;
  net::WritePool writes_;
  http::HeaderPool headerPool_;
  std::unique_ptr<proxy::ExchangePool> exchanges_;  // after headerPool_: borrows from it
  std::unique_ptr<proxy::Http2StreamPool> h2Streams_;  // likewise
  std::unique_ptr<net::TimerWheel> timers_;         // created with the loop
  std::unique_ptr<ratelimit::RedisLink> redis_;     // closed with the loop
  std::unique_ptr<net::Ring> ring_;                 // io_uring data path (null: epoll)
  bool wantRing_ = false;
  bool running_ = false;  // run() has opened the listeners
  metrics::StatsBlock* stats_ = nullptr;
  metrics::WorkerLog* log_ = nullptr;
  proxy::ClientConnection* sessions_ = nullptr;  // intrusive list of open sessions
  size_t sessionCount_ = 0;
  bool draining_ = false;
  bool stopped_ = false;
  std::atomic<bool> finished_{false};
  std::atomic<bool> gateWake_{false};

  std::mutex mu_;  // guards the two fields below (cross-thread mailbox, not the request path)
  std::shared_ptr<const Snapshot> pendingSnap_;
  std::vector<ListenFd> pendingFds_;
  bool pendingShutdown_ = false;
};

}  // namespace sy::server
