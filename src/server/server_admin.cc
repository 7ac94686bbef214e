// The server's side of observability: start-up of stats and the access log, and what the admin
// API asks of the server (admin::Host). Main thread only.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <uv.h>

#include "switchyard/common/log.h"
#include "switchyard/server/cpus.h"
#include "switchyard/server/server.h"

namespace sy::server {

std::string Server::readToken(const config::Config& cfg, std::string& token) {
  token.clear();
  if (!cfg.admin.tokenFile) return "";
  const std::string& path = *cfg.admin.tokenFile;
  std::ifstream f(path, std::ios::binary);
  if (!f) return "admin.token_file " + path + ": cannot read the file";
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && ws(text.back())) text.pop_back();
  size_t start = 0;
  while (start < text.size() && ws(text[start])) ++start;
  token = text.substr(start);
  if (token.empty()) return "admin.token_file " + path + ": the file is empty";
  for (char c : token) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      token.clear();
      return "admin.token_file " + path + ": the token must be one line of visible ASCII";
    }
  }
  return "";
}

uint32_t Server::listenerSlot(const std::string& name) {
  for (uint32_t i = 0; i < listenerNames_.size(); ++i)
    if (listenerNames_[i] == name) return i;
  if (listenerNames_.size() < metrics::listenerSlots()) {
    listenerNames_.push_back(name);
    return static_cast<uint32_t>(listenerNames_.size() - 1);
  }
  LOG_WARN("listener %s: no metrics slot left (restart to give it its own series)", name.c_str());
  return metrics::listenerSlots() - 1;
}

std::string Server::setUpTelemetry(const config::Config& cfg) {
  const unsigned workers = cfg.workers ? cfg.workers : autoWorkerCount();
  startNs_ = uv_hrtime();
  // Listeners a reload adds get the spare slots; past those they share the last one.
  metrics::setListenerSlots(static_cast<uint32_t>(cfg.listeners.size()) + kSpareListenerSlots);
  listenerNames_.clear();
  listenerInfo_.clear();
  for (const config::Listener& l : cfg.listeners) {
    listenerNames_.push_back(l.name);
    listenerInfo_.push_back({l.name, l.listen.text});
  }
  stats_ = std::make_unique<metrics::StatsBlock>(workers, 0, /*localResponses=*/true);
  std::string token;
  if (std::string err = readToken(cfg, token); !err.empty()) return err;
  accessLog_ = std::make_unique<metrics::AccessLog>(workers);
  if (std::string err = accessLog_->configure(cfg.accessLog); !err.empty()) return err;
  counters_.lastReloadSuccess = wallSeconds();
  // The admin server is created once the loop exists; keep the token until then.
  pendingToken_ = std::move(token);
  return "";
}

std::string Server::reloadConfig() { return reload("POST /reload"); }

std::string Server::notReadyReason() const {
  if (upgradedAway_) return "";  // the new process serves; this one only finishes requests
  if (shuttingDown_) return "draining";
  // A loop that has missed this many heartbeats is stuck in a callback: its sockets' accept
  // queues fill while the others serve, so the instance should leave the load balancer.
  constexpr uint64_t kStalledNs = 12 * Worker::kHeartbeatMs * 1'000'000;
  const uint64_t now = uv_hrtime();
  for (const auto& w : workers_) {
    const uint64_t beat = w->lastHeartbeatNs();
    if (now > beat && now - beat > kStalledNs) {
      char why[96];
      std::snprintf(why, sizeof why, "worker %u has not run its event loop for %.1f s", w->id(),
                    static_cast<double>(now - beat) / 1e9);
      return why;
    }
  }
  return workers_.empty() ? "starting" : "";
}

void Server::countReload(const std::string& err) {
  if (err.empty()) {
    ++counters_.reloadsOk;
    counters_.lastReloadSuccess = wallSeconds();
  } else {
    ++counters_.reloadsFailed;
  }
}

void Server::writeMetrics(std::string& out) {
  counters_.configVersion = version_;
  metrics::ScrapeInput in;
  in.pools = &snap_->pools;
  in.listeners = &listenerNames_;
  in.server = stats_.get();
  in.counters = &counters_;
  in.accessLogDropped = accessLog_->dropped();
  std::vector<metrics::CertificateRow> certificates = certWatch_->rows();
  in.certificates = &certificates;
  in.discoveryFailures = &discovery_->failuresByPool();
  for (const auto& l : snap_->limiters) {
    metrics::RateLimitRow row{l->policy().name};
    auto totals = l->counters()->totals();
    std::copy(totals.begin(), totals.end(), row.counts);
    in.rateLimits.push_back(row);
  }
  metrics::writeMetrics(in, out);
}

void Server::writeStatus(std::string& out) {
  admin::StatusInput in;
  in.configVersion = version_;
  in.configPath = configPath_;
  in.draining = shuttingDown_;
  in.workers = static_cast<unsigned>(workers_.size());
  in.uptimeSeconds = static_cast<double>(uv_hrtime() - startNs_) / 1e9;
  in.listeners = &listenerInfo_;
  in.pools = &snap_->pools;
  in.server = stats_.get();
  admin::writeStatus(in, out);
}

bool Server::setAdminState(std::string_view pool, std::string_view backend,
                           upstream::AdminState state) {
  for (const auto& set : snap_->pools) {
    if (set->name != pool) continue;
    for (const auto& b : set->backends) {
      if (b->name() != backend) continue;
      if (b->adminState() != state) {
        LOG_INFO("admin: backend %s (%s) in pool %s: %s", b->name().c_str(),
                 b->address().text.c_str(), set->name.c_str(),
                 state == upstream::AdminState::kEnabled    ? "enabled"
                 : state == upstream::AdminState::kDraining ? "draining"
                                                            : "disabled");
      }
      b->setAdminState(state);
      return true;
    }
    return false;
  }
  return false;
}

}  // namespace sy::server
