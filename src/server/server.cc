#include "switchyard/server/server.h"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>

#include <sys/resource.h>
#include <csignal>
#include <ctime>
#include <unistd.h>

#include "switchyard/common/log.h"
#include "switchyard/config/loader.h"
#include "switchyard/net/ring.h"
#include "switchyard/net/socket.h"
#include "switchyard/server/cpus.h"
#include "switchyard/server/notify.h"

namespace sy::server {
namespace {
constexpr int kBacklog = 4096;
// Longest start-up wait for the first answers of discovered names (one UDP lookup's bound).
constexpr uint64_t kDiscoveryWaitMs = discovery::Discovery::kLookupTimeout.count();
}

double wallSeconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

Server::Server(std::string configPath, bool watch)
    : configPath_(std::move(configPath)), watchRequested_(watch) {}

std::expected<std::vector<int>, std::string> Server::openListener(const config::Listener& l) {
  const unsigned workers = workers_.empty() ? workerCount_ : static_cast<unsigned>(workers_.size());
  std::vector<int> fds;
  if (inherited_) fds = inherited_->takeListeners(l.listen);
  const size_t inherited = fds.size();
  config::SocketAddress addr = l.listen;
  if (addr.port == 0 && !fds.empty()) {
    addr.port = static_cast<uint16_t>(net::boundPort(fds[0]));
    auto* sa = reinterpret_cast<sockaddr*>(&addr.addr);
    if (sa->sa_family == AF_INET)
      reinterpret_cast<sockaddr_in*>(sa)->sin_port = htons(addr.port);
    else
      reinterpret_cast<sockaddr_in6*>(sa)->sin6_port = htons(addr.port);
  }
  while (fds.size() < workers) {
    auto fd = net::openListenSocket(addr, kBacklog);
    if (!fd) {
      for (size_t i = inherited; i < fds.size(); ++i) ::close(fds[i]);
      return std::unexpected("listener " + l.name + ": " + fd.error());
    }
    if (addr.port == 0) {
      int port = net::boundPort(*fd);
      addr.port = static_cast<uint16_t>(port);
      auto* sa = reinterpret_cast<sockaddr*>(&addr.addr);
      if (sa->sa_family == AF_INET)
        reinterpret_cast<sockaddr_in*>(sa)->sin_port = htons(addr.port);
      else
        reinterpret_cast<sockaddr_in6*>(sa)->sin6_port = htons(addr.port);
    }
    fds.push_back(*fd);
  }
  std::vector<int>& dups = listenDups_[listenerKey(l)];
  for (int fd : fds) dups.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (inherited > 0) {
    LOG_INFO("listener %s on %s:%u (%u workers; %zu sockets taken over from the old process)",
             l.name.c_str(), addr.host.c_str(), addr.port, workers, inherited);
  } else {
    LOG_INFO("listener %s on %s:%u (%u workers)", l.name.c_str(), addr.host.c_str(), addr.port,
             workers);
  }
  return fds;
}

void Server::closeListenDups(const std::string& key) {
  auto it = listenDups_.find(key);
  if (it == listenDups_.end()) return;
  for (int fd : it->second)
    if (fd >= 0) ::close(fd);
  listenDups_.erase(it);
}

Server::~Server() = default;

int Server::run(std::shared_ptr<const config::Config> cfg) {
  std::string inheritError;
  inherited_ = upgrade::Inherited::receive(inheritError);
  if (!inheritError.empty()) return startupFailed(inheritError);
  const unsigned workers = cfg->workers ? cfg->workers : autoWorkerCount();
  // Descriptors needed before the first client: stdio, the main loop and its signal pipes,
  // the admin listener, the access log, and per worker an epoll fd, a wake-up fd and one socket
  // per listener (and the main thread's duplicate of it); plus a little room to serve. Below
  // that libuv itself may abort, so say so.
  const uint64_t needed = 16 + 8 + workers * (2 + 2 * cfg->listeners.size()) + 6;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed) {
    char msg[256];
    std::snprintf(msg, sizeof msg,
                  "the descriptor limit (ulimit -n) is %llu; %u workers and %zu listeners need at "
                  "least %llu to start (raise it, e.g. LimitNOFILE= in the systemd unit)",
                  static_cast<unsigned long long>(rl.rlim_cur), workers, cfg->listeners.size(),
                  static_cast<unsigned long long>(needed));
    return startupFailed(msg);
  }
  if (std::string err = setUpTelemetry(*cfg); !err.empty()) return startupFailed(err);
  bool ring = cfg->ioUring != config::IoUring::kOff;
  if (ring) {
    if (std::string why = net::Ring::probe(); !why.empty()) {
      if (cfg->ioUring == config::IoUring::kOn)
        return startupFailed("io_uring: on, but " + why +
                             " (set io_uring: auto to fall back to epoll, or off)");
      LOG_INFO("io_uring: auto: using epoll: %s", why.c_str());
      ring = false;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  workerCount_ = workers;
  fileConfig_ = cfg;

  // Every worker gets its own SO_REUSEPORT socket per listener.
  std::vector<std::vector<ListenFd>> fds(workers);
  for (const config::Listener& l : cfg->listeners) {
    auto opened = openListener(l);
    if (!opened) {
      for (auto& v : fds)
        for (const ListenFd& f : v) ::close(f.fd);
      return startupFailed(opened.error());
    }
    const uint32_t slot = listenerSlot(l.name);
    for (size_t i = 0; i < opened->size(); ++i)
      fds[i % workers].push_back({listenerKey(l), (*opened)[i], slot});
  }

  // The loop and signal watchers fail only without descriptors or memory: a start-up error.
  int rc = uv_loop_init(&loop_);
  loop_.data = this;
  auto initSignal = [this](uv_signal_t* h, int signum) {
    int r = uv_signal_init(&loop_, h);
    h->data = this;
    return r != 0 ? r
                  : uv_signal_start(
                        h, [](uv_signal_t* s, int n) { static_cast<Server*>(s->data)->onSignal(n); },
                        signum);
  };
  if (rc == 0) rc = initSignal(&sigterm_, SIGTERM);
  if (rc == 0) rc = initSignal(&sigint_, SIGINT);
  if (rc == 0) rc = initSignal(&sighup_, SIGHUP);
  if (rc == 0) rc = initSignal(&sigusr1_, SIGUSR1);
  if (rc == 0) rc = initSignal(&sigusr2_, SIGUSR2);
  if (rc != 0) {
    LOG_ERROR("cannot set up the main event loop: %s", uv_strerror(rc));
    std::_Exit(1);
  }
  uv_timer_init(&loop_, &shutdownTimer_);
  shutdownTimer_.data = this;
  uv_timer_init(&loop_, &pollTimer_);
  pollTimer_.data = this;
  if (watchRequested_ || cfg->watch) startWatching();
  uv_timer_init(&loop_, &startupWait_);
  startupWait_.data = this;
  discovery_ = std::make_unique<discovery::Discovery>(&loop_, [this] { onDiscoveryChange(); });
  discovery_->update(*cfg);
  waitForDiscovery();
  auto built = shuttingDown_ ? std::expected<std::shared_ptr<const Snapshot>, std::string>{}
                             : buildSnapshot(discovery_->expand(cfg), nullptr, workers, ++version_);
  if (shuttingDown_ || !built) {  // stopped while waiting, or invalid: no worker ever started
    if (!shuttingDown_) {
      startupFailed("invalid configuration: " + built.error());
      exitCode_ = 1;
      shuttingDown_ = true;
      checkWorkersDone();
    }
    for (auto& v : fds)
      for (const ListenFd& f : v) ::close(f.fd);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    LOG_INFO("switchyard stopped");
    return exitCode_;
  }
  snap_ = std::move(*built);
  certWatch_ = std::make_unique<CertWatch>(&loop_);
  certWatch_->follow(*snap_);
  health_ = std::make_unique<health::Monitor>(&loop_);
  health_->update(snap_);

  admin::Host& host = *this;
  admin_ = std::make_unique<admin::AdminServer>(&loop_, host);
  admin_->setToken(std::move(pendingToken_));
  const int adminFd = inherited_ ? inherited_->takeAdmin(cfg->admin.listen) : -1;
  if (std::string err = adminFd >= 0 ? admin_->adopt(adminFd, cfg->admin.listen)
                                     : admin_->listen(cfg->admin.listen);
      !err.empty()) {
    for (auto& v : fds)
      for (const ListenFd& f : v) ::close(f.fd);
    return startupFailed(err);
  }
  LOG_INFO("admin API and metrics on http://%s:%u/metrics", cfg->admin.listen.host.c_str(),
           admin_->port());
  accessLog_->start();

  for (unsigned w = 0; w < workers; ++w) {
    workers_.push_back(std::make_unique<Worker>(w, &connections_));
    workers_.back()->attachTelemetry(stats_.get(), &accessLog_->worker(w));
    workers_.back()->useIoUring(ring);
    workers_.back()->start(snap_, fds[w]);
  }
  LOG_INFO("switchyard %s started: %u workers (%s), %zu pools, config %s", SWITCHYARD_VERSION,
           workers, ring ? "io_uring" : "epoll", cfg->pools.size(), configPath_.c_str());
  announceReady();

  uv_run(&loop_, UV_RUN_DEFAULT);

  for (auto& w : workers_) w->join();
  accessLog_->stop();
  uv_loop_close(&loop_);
  if (!pidFile_.empty()) upgrade::removePidFileIfOurs(pidFile_);
  LOG_INFO("switchyard stopped%s", upgradedAway_ ? " (the upgraded process serves on)" : "");
  return exitCode_;
}

void Server::onSignal(int signum) {
  if (signum == SIGHUP) {
    reload("SIGHUP");
    return;
  }
  if (signum == SIGUSR2) {
    if (std::string err = startUpgrade(); !err.empty())
      LOG_ERROR("SIGUSR2: upgrade not started: %s", err.c_str());
    return;
  }
  if (signum == SIGUSR1) {
    if (std::string err = accessLog_->reopen(); !err.empty()) {
      LOG_ERROR("SIGUSR1: %s", err.c_str());
    } else {
      LOG_INFO("SIGUSR1: access log reopened");
    }
    return;
  }
  if (shuttingDown_) {
    if (signum == SIGINT) {
      LOG_WARN("second SIGINT: exiting now");
      _exit(0);
    }
    return;
  }
  LOG_INFO("%s: draining (up to %lld ms), no new connections", signum == SIGTERM ? "SIGTERM" : "SIGINT",
           static_cast<long long>(fileConfig_->timeouts.shutdown.count()));
  notify::stopping();
  beginShutdown();
}

void Server::beginShutdown() {
  shuttingDown_ = true;
  for (auto& w : workers_) w->postShutdown();
  // The workers close their sockets; with the duplicates gone too, the kernel refuses new
  // connections (unless an upgraded process holds the sockets and accepts them).
  while (!listenDups_.empty()) closeListenDups(listenDups_.begin()->first);
  if (upgrader_) upgrader_->close();
  uv_timer_start(&shutdownTimer_, [](uv_timer_t*) {
    LOG_WARN("shutdown timeout reached with requests still in flight: exiting");
    _exit(0);
  }, static_cast<uint64_t>(fileConfig_->timeouts.shutdown.count()), 0);
  uv_timer_start(&pollTimer_, [](uv_timer_t* t) {
    static_cast<Server*>(t->data)->checkWorkersDone();
  }, 20, 20);
}

void Server::checkWorkersDone() {
  for (auto& w : workers_)
    if (!w->finished()) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sighup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigusr1_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigusr2_), nullptr);
  if (admin_) admin_->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&shutdownTimer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&pollTimer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&startupWait_), nullptr);
  discovery_->close();
  if (configWatch_) configWatch_->close();
  if (certWatch_) certWatch_->close();
  if (health_) health_->close();
}

void Server::startWatching() {
  // FileWatch follows the file through renames over it and symlink swaps (a Kubernetes
  // ConfigMap's `..data`), not only writes to it.
  configWatch_ = std::make_unique<FileWatch>(&loop_, std::vector<std::string>{configPath_}, [this] {
    if (shuttingDown_) return;
    LOG_INFO("%s changed: reloading", configPath_.c_str());
    reload("watch");
  });
  if (std::string w = configWatch_->start(); !w.empty())
    LOG_WARN("%s (the file is still checked every second; SIGHUP reloads too)", w.c_str());
  LOG_INFO("watching %s: the config reloads when it changes", configPath_.c_str());
}

std::string Server::reload(const char* trigger) {
  if (workers_.empty()) {  // e.g. a file event while waiting for the first DNS answers
    LOG_WARN("%s: reload ignored while starting (the workers are not running yet)", trigger);
    return "still starting";
  }
  notify::reloading();
  auto loaded = config::loadConfigFile(configPath_);
  std::string token;
  std::string err = loaded ? readToken(*loaded, token) : loaded.error().format();
  std::shared_ptr<const config::Config> cfg;
  if (err.empty()) {
    cfg = std::make_shared<const config::Config>(std::move(*loaded));
    err = publish(cfg);
  }
  countReload(err);
  notify::reloaded(err, version_);
  if (!err.empty()) {
    LOG_ERROR("%s: reload refused, keeping the running config: %s", trigger, err.c_str());
    return err;
  }
  fileConfig_ = cfg;
  discovery_->update(*cfg);
  admin_->setToken(std::move(token));
  listenerInfo_.clear();
  for (const config::Listener& l : cfg->listeners) listenerInfo_.push_back({l.name, l.listen.text});
  if (std::string e = accessLog_->configure(cfg->accessLog); !e.empty())
    LOG_ERROR("reload: %s; the access log is left as it was", e.c_str());
  LOG_INFO("%s: reloaded %s (config version %llu)", trigger, configPath_.c_str(),
           static_cast<unsigned long long>(version_));
  return "";
}

std::string Server::publish(const std::shared_ptr<const config::Config>& cfg) {
  const unsigned workers = static_cast<unsigned>(workers_.size());
  if (cfg != fileConfig_) {
    if (cfg->admin.listen.text != snap_->config->admin.listen.text)
      LOG_WARN("reload: admin.listen %s needs a restart; still on %s",
               cfg->admin.listen.text.c_str(), snap_->config->admin.listen.text.c_str());
    if (cfg->workers && cfg->workers != workers)
      LOG_WARN("reload: workers: %u needs a restart; still running %u", cfg->workers, workers);
    if (cfg->ioUring != snap_->config->ioUring)
      LOG_WARN("reload: io_uring needs a restart; the workers keep their data path");
  }
  auto built = buildSnapshot(discovery_->expand(cfg), snap_.get(), workers, version_ + 1);
  if (!built) return built.error();
  // Listeners whose name and address are unchanged keep their sockets; new ones are opened
  // here (a bind failure refuses the whole change); workers close the removed ones.
  std::vector<std::vector<ListenFd>> fresh(workers);
  std::vector<std::string> openedKeys;
  for (const auto& l : cfg->listeners) {
    bool known = false;
    for (const auto& ol : snap_->config->listeners) known = known || listenerKey(ol) == listenerKey(l);
    if (known) continue;
    auto opened = openListener(l);
    if (!opened) {
      for (auto& v : fresh)
        for (const ListenFd& f : v) ::close(f.fd);
      for (const std::string& key : openedKeys) closeListenDups(key);
      return opened.error();
    }
    openedKeys.push_back(listenerKey(l));
    const uint32_t slot = listenerSlot(l.name);
    for (size_t i = 0; i < opened->size(); ++i)
      fresh[i % workers].push_back({listenerKey(l), (*opened)[i], slot});
  }
  for (const auto& ol : snap_->config->listeners) {
    bool kept = false;
    for (const auto& l : cfg->listeners) kept = kept || listenerKey(ol) == listenerKey(l);
    if (!kept) {
      LOG_INFO("reload: listener %s (%s) removed", ol.name.c_str(), ol.listen.text.c_str());
      closeListenDups(listenerKey(ol));
    }
  }
  snap_ = std::move(*built);
  ++version_;
  health_->update(snap_);
  certWatch_->follow(*snap_);
  for (unsigned w = 0; w < workers; ++w) workers_[w]->postSnapshot(snap_, std::move(fresh[w]));
  return "";
}

void Server::onDiscoveryChange() {
  if (shuttingDown_ || workers_.empty()) return;  // before start, run() builds from expand()
  if (std::string err = publish(fileConfig_); !err.empty()) {
    LOG_ERROR("discovery: new backend set refused, keeping the running one: %s", err.c_str());
    return;
  }
  LOG_INFO("discovery: published the new backend set (config version %llu)",
           static_cast<unsigned long long>(version_));
}

void Server::waitForDiscovery() {
  if (discovery_->settled()) return;
  LOG_INFO("waiting up to %llu ms for the first DNS answers",
           static_cast<unsigned long long>(kDiscoveryWaitMs));
  bool expired = false;
  startupWait_.data = &expired;
  uv_timer_start(&startupWait_, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; },
                 kDiscoveryWaitMs, 0);
  while (!expired && !shuttingDown_ && !discovery_->settled()) uv_run(&loop_, UV_RUN_ONCE);
  uv_timer_stop(&startupWait_);
  startupWait_.data = this;
  if (expired) LOG_WARN("starting before every discovered name has answered");
}

}  // namespace sy::server
