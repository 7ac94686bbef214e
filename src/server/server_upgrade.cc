// The server's side of a binary upgrade (upgrade.h) and of telling others it serves: the pid
// file, systemd (notify.h) and the old process that started this one. Main thread only.

#include <unistd.h>

#include "switchyard/common/log.h"
#include "switchyard/server/notify.h"
#include "switchyard/server/server.h"

namespace sy::server {

int Server::startupFailed(const std::string& err) {
  LOG_ERROR("%s", err.c_str());
  upgrade::reportStartFailure(err);
  return 1;
}

void Server::announceReady() {
  const bool upgraded = inherited_ != nullptr;
  if (!pidFile_.empty()) {
    if (std::string err = upgrade::writePidFile(pidFile_); !err.empty())
      LOG_ERROR("%s", err.c_str());
  }
  const std::string status = "serving, config version " + std::to_string(version_);
  if (upgraded) {
    inherited_->closeUnclaimed();
    notify::readyAsNewMainPid(status);
    inherited_->reportReady();  // the old process stops accepting and drains now
    inherited_.reset();
    LOG_INFO("upgrade: this process (pid %d) serves now; the old one drains", ::getpid());
  } else {
    notify::ready(status);
  }
}

std::string Server::startUpgrade() {
  if (workers_.empty()) return "still starting";
  if (shuttingDown_) return "shutting down";
  if (!upgrader_) {
    upgrader_ = std::make_unique<upgrade::Upgrader>(
        &loop_, [this](bool ready, pid_t pid, const std::string& why) {
          onUpgradeDone(ready, pid, why);
        });
  }
  // Every socket a worker accepts on (through the main thread's duplicates) and the admin's.
  std::vector<upgrade::Offer> offers;
  for (const config::Listener& l : snap_->config->listeners) {
    auto it = listenDups_.find(listenerKey(l));
    if (it == listenDups_.end()) continue;
    for (int fd : it->second) {
      if (fd < 0) return "listener " + l.name + " has a socket this process could not duplicate";
      offers.push_back({"listener", upgrade::addressKey(l.listen), fd});
    }
  }
  if (admin_ && admin_->fd() >= 0)
    offers.push_back({"admin", upgrade::addressKey(snap_->config->admin.listen), admin_->fd()});
  return upgrader_->start(offers);
}

void Server::onUpgradeDone(bool ready, pid_t pid, const std::string& why) {
  if (!ready) {
    LOG_ERROR("upgrade failed, this process (pid %d) keeps serving: %s", ::getpid(), why.c_str());
    return;
  }
  if (shuttingDown_) return;
  LOG_INFO("upgrade: the new process (pid %d) is ready; this one (pid %d) stops accepting and "
           "drains (up to %lld ms)",
           pid, ::getpid(), static_cast<long long>(fileConfig_->timeouts.shutdown.count()));
  upgradedAway_ = true;
  // The new process answers the admin API from now on (/readyz of this draining one would
  // say 503, and a reload here would be lost).
  if (admin_) admin_->stopListening();
  beginShutdown();
}

}  // namespace sy::server
