#include "switchyard/server/server.h"

#include <csignal>
#include <ctime>
#include <unistd.h>

#include "switchyard/common/log.h"
#include "switchyard/config/loader.h"
#include "switchyard/net/socket.h"

namespace sy::server {
namespace {
constexpr int kBacklog = 4096;
}

double wallSeconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

unsigned onlineCores() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

Server::Server(std::string configPath) : configPath_(std::move(configPath)) {}

Server::~Server() = default;

int Server::run(std::shared_ptr<const config::Config> cfg) {
  if (std::string err = setUpTelemetry(*cfg); !err.empty()) {
    LOG_ERROR("%s", err.c_str());
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  const unsigned workers = cfg->workers ? cfg->workers : onlineCores();
  snap_ = buildSnapshot(cfg, nullptr, workers, ++version_);

  // Every worker gets its own SO_REUSEPORT socket per listener. An ephemeral port (0) is
  // resolved by the first bind and reused by the other workers.
  std::vector<std::vector<int>> fds(workers);
  for (const config::Listener& l : cfg->listeners) {
    config::SocketAddress addr = l.listen;
    for (unsigned w = 0; w < workers; ++w) {
      auto fd = net::openListenSocket(addr, kBacklog);
      if (!fd) {
        LOG_ERROR("listener %s: %s", l.name.c_str(), fd.error().c_str());
        for (auto& v : fds)
          for (int f : v) ::close(f);
        return 1;
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
      fds[w].push_back(*fd);
    }
    LOG_INFO("listener %s on %s:%u (%u workers)", l.name.c_str(), addr.host.c_str(), addr.port,
             workers);
  }

  uv_loop_init(&loop_);
  loop_.data = this;
  auto initSignal = [this](uv_signal_t* h, int signum) {
    uv_signal_init(&loop_, h);
    h->data = this;
    uv_signal_start(h, [](uv_signal_t* s, int n) { static_cast<Server*>(s->data)->onSignal(n); },
                    signum);
  };
  initSignal(&sigterm_, SIGTERM);
  initSignal(&sigint_, SIGINT);
  initSignal(&sighup_, SIGHUP);
  initSignal(&sigusr1_, SIGUSR1);
  uv_timer_init(&loop_, &shutdownTimer_);
  shutdownTimer_.data = this;
  uv_timer_init(&loop_, &pollTimer_);
  pollTimer_.data = this;

  admin::Host& host = *this;
  admin_ = std::make_unique<admin::AdminServer>(&loop_, host);
  admin_->setToken(std::move(pendingToken_));
  if (std::string err = admin_->listen(cfg->admin.listen); !err.empty()) {
    LOG_ERROR("%s", err.c_str());
    for (auto& v : fds)
      for (int f : v) ::close(f);
    return 1;
  }
  LOG_INFO("admin API and metrics on http://%s:%u/metrics", cfg->admin.listen.host.c_str(),
           admin_->port());
  accessLog_->start();

  for (unsigned w = 0; w < workers; ++w) {
    workers_.push_back(std::make_unique<Worker>(w, &connections_));
    workers_.back()->attachTelemetry(stats_.get(), &accessLog_->worker(w));
    workers_.back()->start(snap_, fds[w]);
  }
  LOG_INFO("switchyard %s started: %u workers, %zu pools, config %s", SWITCHYARD_VERSION,
           workers, cfg->pools.size(), configPath_.c_str());

  uv_run(&loop_, UV_RUN_DEFAULT);

  for (auto& w : workers_) w->join();
  accessLog_->stop();
  uv_loop_close(&loop_);
  LOG_INFO("switchyard stopped");
  return exitCode_;
}

void Server::onSignal(int signum) {
  if (signum == SIGHUP) {
    countReload(reload());
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
           static_cast<long long>(snap_->config->timeouts.shutdown.count()));
  beginShutdown();
}

void Server::beginShutdown() {
  shuttingDown_ = true;
  for (auto& w : workers_) w->postShutdown();
  uv_timer_start(&shutdownTimer_, [](uv_timer_t*) {
    LOG_WARN("shutdown timeout reached with requests still in flight: exiting");
    _exit(0);
  }, static_cast<uint64_t>(snap_->config->timeouts.shutdown.count()), 0);
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
  admin_->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&shutdownTimer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&pollTimer_), nullptr);
}

std::string Server::reload() {
  auto loaded = config::loadConfigFile(configPath_);
  std::string token;
  std::string msg = loaded ? readToken(*loaded, token) : loaded.error().format();
  if (!msg.empty()) {
    LOG_ERROR("reload refused, keeping the running config: %s", msg.c_str());
    return msg;
  }
  auto cfg = std::make_shared<const config::Config>(std::move(*loaded));
  if (cfg->admin.listen.text != snap_->config->admin.listen.text)
    LOG_WARN("reload: admin.listen %s needs a restart; still on %s", cfg->admin.listen.text.c_str(),
             snap_->config->admin.listen.text.c_str());
  const unsigned workers = static_cast<unsigned>(workers_.size());
  if (cfg->workers && cfg->workers != workers)
    LOG_WARN("reload: workers: %u needs a restart; still running %u", cfg->workers, workers);
  for (const auto& l : cfg->listeners) {
    bool known = false;
    for (const auto& ol : snap_->config->listeners)
      known = known || (ol.name == l.name && ol.listen.text == l.listen.text);
    if (!known)
      LOG_WARN("reload: listener %s (%s) is new or moved: it needs a restart to open", l.name.c_str(),
               l.listen.text.c_str());
  }
  snap_ = buildSnapshot(cfg, snap_.get(), workers, ++version_);
  for (auto& w : workers_) w->postSnapshot(snap_);
  admin_->setToken(std::move(token));
  if (std::string err = accessLog_->configure(cfg->accessLog); !err.empty())
    LOG_ERROR("reload: %s; the access log is left as it was", err.c_str());
  LOG_INFO("reloaded %s (config version %llu)", configPath_.c_str(),
           static_cast<unsigned long long>(version_));
  return "";
}

}  // namespace sy::server
