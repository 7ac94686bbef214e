#include "switchyard/server/worker.h"

#include <cstdio>
#include <cstdlib>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>

#include "switchyard/common/log.h"
#include "switchyard/proxy/client_connection.h"
#include "switchyard/proxy/exchange_pool.h"
#include "switchyard/proxy/http2_stream_pool.h"
#include "switchyard/upstream/pool_gate.h"
#include "switchyard/upstream/retire.h"
#include "switchyard/upstream/upstream_conn.h"

namespace sy::server {
namespace {
constexpr int kBacklog = 4096;
// Running workers by id, for pool gates waking a worker whose request waits for a slot.
constexpr unsigned kMaxWorkerSlots = 1024;
std::atomic<Worker*> gWorkers[kMaxWorkerSlots];

void wakeWorkerGates(unsigned id) {
  if (id >= kMaxWorkerSlots) return;
  if (Worker* w = gWorkers[id].load(std::memory_order_acquire)) w->postGateWake();
}
constexpr uint64_t kSweepMs = 1000;
constexpr size_t kKeepBlocks = 32;     // idle I/O blocks always kept (1 MiB of address space)
constexpr size_t kKeepExchanges = 32;
constexpr size_t kKeepH2Streams = 32;
constexpr size_t kPrefillWrites = 16;  // write batches made at start (about 12 KiB)
}  // namespace

Worker::Worker(unsigned id, std::atomic<uint32_t>* connectionCount)
    : id_(id),
      connectionCount_(connectionCount),
      exchanges_(std::make_unique<proxy::ExchangePool>(&headerPool_)),
      h2Streams_(std::make_unique<proxy::Http2StreamPool>(&headerPool_)) {}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
}

std::string listenerKey(const config::Listener& l) { return l.name + "|" + l.listen.text; }

void Worker::addListener(const ListenFd& lf) {
  const auto& cfg = *view_->snap->config;
  auto l = std::make_unique<WorkerListener>();
  l->worker = this;
  l->key = lf.key;
  l->fd = lf.fd;
  l->slot = lf.slot;
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    if (listenerKey(cfg.listeners[i]) != lf.key) continue;
    l->name = cfg.listeners[i].name;
    l->routeIndex = static_cast<int>(i);
    l->tls = cfg.listeners[i].tls.has_value();
  }
  if (running_) openListener(l.get());  // else run() opens it, once the ring (if any) is made
  listeners_.push_back(std::move(l));
}

void Worker::openListener(WorkerListener* l) {
  if (ring_) {
    l->acceptor.fd = l->fd;
    l->acceptor.data = l;
    l->acceptor.onAccept = onRingAccept;
    ring_->armAccept(&l->acceptor);
    return;
  }
  uv_tcp_init(&loop_, &l->tcp);
  l->tcp.data = l;
  int rc = uv_tcp_open(&l->tcp, l->fd);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), kBacklog, onConnection);
  if (rc != 0) LOG_ERROR("worker %u: listener %s: %s", id_, l->name.c_str(), uv_strerror(rc));
}

void Worker::start(std::shared_ptr<const Snapshot> snap, std::vector<ListenFd> listenFds) {
  // These fail only without descriptors or memory (epoll, eventfd), at start-up: fatal.
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    LOG_ERROR("worker %u: cannot create its event loop: %s", id_, uv_strerror(rc));
    std::_Exit(1);
  }
  loop_.data = this;
  if (int rc = uv_async_init(&loop_, &async_,
                             [](uv_async_t* a) {
                               auto* w = static_cast<Worker*>(a->data);
                               if (w->gateWake_.exchange(false, std::memory_order_acq_rel))
                                 w->serveGates();
                               w->adoptPending();
                             });
      rc != 0) {
    LOG_ERROR("worker %u: cannot create its wake-up handle: %s", id_, uv_strerror(rc));
    std::_Exit(1);
  }
  async_.data = this;
  if (id_ < kMaxWorkerSlots) {
    gWorkers[id_].store(this, std::memory_order_release);
    upstream::setWorkerWake(wakeWorkerGates);
  }
  timers_ = std::make_unique<net::TimerWheel>(&loop_);
  writes_.prefill(kPrefillWrites);
  uv_timer_init(&loop_, &sweep_);
  sweep_.data = this;
  uv_timer_start(&sweep_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->sweepIdle(); },
                 kSweepMs, kSweepMs);
  uv_timer_init(&loop_, &logFlush_);
  logFlush_.data = this;
  uv_timer_start(&logFlush_, [](uv_timer_t* t) {
    if (auto* log = static_cast<Worker*>(t->data)->log_) log->flush();
  }, metrics::WorkerLog::kFlushIntervalMs, metrics::WorkerLog::kFlushIntervalMs);
  heartbeat_.store(uv_hrtime(), std::memory_order_relaxed);
  uv_timer_init(&loop_, &heartbeatTimer_);
  heartbeatTimer_.data = this;
  uv_timer_start(&heartbeatTimer_, [](uv_timer_t* t) {
    static_cast<Worker*>(t->data)->heartbeat_.store(uv_hrtime(), std::memory_order_relaxed);
  }, kHeartbeatMs, kHeartbeatMs);
  view_ = std::make_shared<WorkerView>(snap);
  for (const ListenFd& lf : listenFds) addListener(lf);
  thread_ = std::thread([this] {
    char name[16];
    std::snprintf(name, sizeof name, "sy-worker-%u", id_);
    pthread_setname_np(pthread_self(), name);  // `top -H`, and tests that stall one worker
    run();
  });
}

void Worker::run() {
  if (wantRing_) {
    std::string why;
    ring_ = net::Ring::create(&blocks_, &why);
    if (!ring_) LOG_WARN("worker %u: io_uring unavailable, using epoll: %s", id_, why.c_str());
  }
  running_ = true;
  for (auto& l : listeners_) openListener(l.get());
  if (ring_) {
    ring_->run(&loop_);
  } else {
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop_);
  ring_.reset();
  redis_.reset();
  view_.reset();
  finished_.store(true);
}

void Worker::postSnapshot(std::shared_ptr<const Snapshot> snap, std::vector<ListenFd> newFds) {
  {
    std::lock_guard<std::mutex> g(mu_);
    pendingSnap_ = std::move(snap);
    for (ListenFd& f : newFds) pendingFds_.push_back(std::move(f));
  }
  uv_async_send(&async_);
}

void Worker::postGateWake() {
  if (!gateWake_.exchange(true, std::memory_order_acq_rel)) uv_async_send(&async_);
}

void Worker::serveGates() {
  if (!view_) return;
  for (const auto& set : view_->snap->pools)
    if (set->gate && set->gate->pending() > 0) set->gate->serve(id_);
}

void Worker::postShutdown() {
  {
    std::lock_guard<std::mutex> g(mu_);
    pendingShutdown_ = true;
  }
  uv_async_send(&async_);
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

bool sameConnectionSettings(const config::Listener& a, const config::Listener& b) {
  if (a.protocols != b.protocols || a.http2.maxConcurrentStreams != b.http2.maxConcurrentStreams ||
      a.http2.initialWindowSize != b.http2.initialWindowSize ||
      a.http2.maxHeaderListBytes != b.http2.maxHeaderListBytes || a.tls.has_value() != b.tls.has_value())
    return false;
  if (!a.tls) return true;
  if (a.tls->minVersion != b.tls->minVersion ||
      a.tls->certificates.size() != b.tls->certificates.size())
    return false;
  for (size_t i = 0; i < a.tls->certificates.size(); ++i)
    if (a.tls->certificates[i].cert != b.tls->certificates[i].cert ||
        a.tls->certificates[i].key != b.tls->certificates[i].key)
      return false;
  return true;
}

void Worker::adoptPending() {
  std::shared_ptr<const Snapshot> snap;
  std::vector<ListenFd> fds;
  bool shutdown;
  {
    std::lock_guard<std::mutex> g(mu_);
    snap = std::move(pendingSnap_);
    pendingSnap_.reset();
    fds.swap(pendingFds_);
    shutdown = pendingShutdown_;
  }
  if (draining_ || !snap) {
    for (const ListenFd& f : fds) ::close(f.fd);
    fds.clear();
  }
  if (snap && !draining_) {
    auto next = std::make_shared<WorkerView>(snap);
    // Backends that left the config: their connections go (busy ones once their requests end).
    upstream::retireConnections(view_->snap->pools, snap->pools, id_);
    std::shared_ptr<const Snapshot> old = view_->snap;
    view_ = std::move(next);
    // Listeners: keep those whose name and address are unchanged, close the removed ones,
    // open the added ones.
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      WorkerListener* l = it->get();
      int idx = -1;
      for (size_t i = 0; i < snap->config->listeners.size(); ++i)
        if (listenerKey(snap->config->listeners[i]) == l->key) idx = static_cast<int>(i);
      if (idx >= 0) {
        if (l->routeIndex >= 0 && static_cast<size_t>(l->routeIndex) < old->config->listeners.size() &&
            !sameConnectionSettings(old->config->listeners[l->routeIndex],
                                    snap->config->listeners[idx]))
          ++l->generation;  // long-lived (HTTP/2) connections move to the new settings
        l->routeIndex = idx;
        ++it;
        continue;
      }
      LOG_INFO("worker %u: listener %s closed (removed by reload)", id_, l->name.c_str());
      closeListener(std::move(*it));
      it = listeners_.erase(it);
    }
    for (const ListenFd& f : fds) addListener(f);
    for (proxy::ClientConnection* c = sessions_; c; c = c->next) c->configAdopted();
  }
  if (shutdown && !draining_) beginDrain();
}

void Worker::closeListener(std::unique_ptr<WorkerListener> l) {
  // Sessions keep a reference to their listener: it is freed when the handle is closed and no
  // session of it remains (sessions hold it until they end).
  WorkerListener* raw = l.release();
  raw->closed = true;
  // A drain keeps routing the requests its kept-alive connections still bring; a listener
  // removed by a reload has no routes left.
  if (!draining_) raw->routeIndex = -1;
  if (ring_) {
    if (raw->acceptor.armed) {
      ring_->cancelAccept(&raw->acceptor);  // onRingAccept finishes the close
    } else {
      ::close(raw->fd);
      raw->handleClosed = true;
      if (raw->sessions == 0) delete raw;
    }
    return;
  }
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&raw->tcp)))
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->tcp), [](uv_handle_t* h) {
      auto* wl = static_cast<WorkerListener*>(h->data);
      wl->handleClosed = true;
      if (wl->sessions == 0) delete wl;
    });
}

void Worker::beginDrain() {
  draining_ = true;
  for (auto& l : listeners_) closeListener(std::move(l));
  listeners_.clear();
  for (proxy::ClientConnection* s = sessions_; s;) {
    proxy::ClientConnection* next = s->next;
    s->drain();
    s = next;
  }
  maybeFinish();
}

void Worker::maybeFinish() {
  if (!draining_ || sessionCount_ > 0 || stopped_) return;
  stopped_ = true;
  for (const auto& set : view_->snap->pools)
    for (const auto& b : set->backends) upstream::UpstreamConn::closeAllIdle(*b, id_);
  uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&logFlush_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&heartbeatTimer_), nullptr);
  timers_->close();
  if (redis_) redis_->close();
  if (log_) log_->flush();
  // No request of this worker waits in a gate any more (no sessions), so no gate picks it.
  if (id_ < kMaxWorkerSlots) gWorkers[id_].store(nullptr, std::memory_order_release);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Worker::sweepIdle() {
  // Pooled memory a burst left behind goes back once it has been idle for a whole sweep period.
  blocks_.trim(kKeepBlocks);
  if (ring_)
    for (auto& l : listeners_)
      if (!l->acceptor.armed && !l->closed) ring_->armAccept(&l->acceptor);
  exchanges_->trim(kKeepExchanges);
  h2Streams_->trim(kKeepH2Streams);
  uint64_t now = uv_now(&loop_);
  for (const auto& set : view_->snap->pools) {
    uint64_t idleMs = static_cast<uint64_t>(set->cfg.timeouts.upstreamIdle.count());
    for (const auto& b : set->backends) {
      if (b->adminState() == upstream::AdminState::kDisabled) {
        upstream::UpstreamConn::closeAllIdle(*b, id_);  // disabled through the admin API
        continue;
      }
      if (now >= idleMs) upstream::UpstreamConn::closeIdleBefore(*b, id_, now - idleMs);
      // max_idle_per_backend: extras that stayed idle for a whole sweep period go.
      if (now >= kSweepMs)
        upstream::UpstreamConn::trimIdle(*b, id_, set->cfg.maxIdlePerBackend, now - kSweepMs);
    }
  }
}

void Worker::sessionOpened(proxy::ClientConnection* s) {
  s->prev = nullptr;
  s->next = sessions_;
  if (sessions_) sessions_->prev = s;
  sessions_ = s;
  ++sessionCount_;
  connectionCount_->fetch_add(1, std::memory_order_relaxed);
}

void Worker::sessionClosed(proxy::ClientConnection* s) {
  if (s->prev) s->prev->next = s->next; else sessions_ = s->next;
  if (s->next) s->next->prev = s->prev;
  --sessionCount_;
  connectionCount_->fetch_sub(1, std::memory_order_relaxed);
  maybeFinish();
}

void Worker::onConnection(uv_stream_t* server, int status) {
  auto* l = static_cast<WorkerListener*>(server->data);
  Worker* w = l->worker;
  if (status < 0) {
    LOG_WARN("listener %s: accept failed: %s", l->name.c_str(), uv_strerror(status));
    return;
  }
  proxy::ClientConnection* s = proxy::newClientConnection(*w, *l);
  w->sessionOpened(s);
  if (uv_accept(server, s->socket().stream()) != 0) {
    s->abort();
    return;
  }
  w->accepted(l, s);
}

void Worker::onRingAccept(net::RingAcceptor* a, int res, bool more) {
  auto* l = static_cast<WorkerListener*>(a->data);
  Worker* w = l->worker;
  if (res >= 0) {
    if (l->closed) {
      ::close(res);
    } else {
      proxy::ClientConnection* s = proxy::newClientConnection(*w, *l);
      w->sessionOpened(s);
      s->socket().adopt(res);
      w->accepted(l, s);
    }
  } else if (res != -ECANCELED) {
    LOG_WARN("listener %s: accept failed: %s", l->name.c_str(), uv_strerror(res));
  }
  if (more) return;
  if (l->closed) {
    ::close(l->fd);
    l->handleClosed = true;
    if (l->sessions == 0) delete l;
  }
  // Otherwise the accept ended on an error (descriptors or memory short): the sweep re-arms it.
}

void Worker::accepted(WorkerListener* l, proxy::ClientConnection* s) {
  uint32_t limit = view_->snap->config->limits.maxConnections;
  if (draining_ || l->routeIndex < 0 || connectionCount_->load(std::memory_order_relaxed) > limit) {
    s->abort();  // over limits.max_connections: close at once, keep serving the others
    return;
  }
  s->start();
}

}  // namespace sy::server
