#pragma once
// The process: loads the config, opens the listening sockets, starts the workers and runs the
// main loop (signals: SIGHUP reloads, SIGTERM/SIGINT drain and exit, a second SIGINT exits at
// once, SIGUSR1 reopens the access log, SIGUSR2 upgrades the binary: server_upgrade.cc). The
// main loop also serves the admin API (/metrics, /status...; server_admin.cc). Main thread only.

#include <atomic>
#include <map>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "switchyard/admin/admin_server.h"
#include "switchyard/admin/status.h"
#include "switchyard/config/config.h"
#include "switchyard/discovery/discovery.h"
#include "switchyard/health/monitor.h"
#include "switchyard/metrics/access_log.h"
#include "switchyard/metrics/collect.h"
#include "switchyard/metrics/stats.h"
#include "switchyard/server/cert_watch.h"
#include "switchyard/server/file_watch.h"
#include "switchyard/server/snapshot.h"
#include "switchyard/server/upgrade.h"
#include "switchyard/server/worker.h"

namespace sy::server {

class Server final : private admin::Host {
 public:
  explicit Server(std::string configPath, bool watch = false);
  // --pid-file: written once serving, taken over by the new process of an upgrade.
  void setPidFile(std::string path) { pidFile_ = std::move(path); }
  ~Server();
  // Runs until shut down; returns the process exit code.
  int run(std::shared_ptr<const config::Config> cfg);

  // The one reload path, whatever started it (`trigger`: "SIGHUP", "watch", "POST /reload";
  // for the log): loads the file again, publishes it to the workers and counts the result in
  // switchyard_config_reloads_total. Returns an error text or "" (the running config is kept
  // on error). Ignored, and not counted, before the workers started. Main thread.
  std::string reload(const char* trigger);

 private:
  // admin::Host (server_admin.cc)
  // After an upgrade handed the sockets over, the address is served on by the new process:
  // /healthz and /readyz of this draining one do not take it out of a load balancer.
  bool draining() const override { return shuttingDown_ && !upgradedAway_; }
  void writeMetrics(std::string& out) override;
  void writeStatus(std::string& out) override;
  std::string reloadConfig() override;  // reload("POST /reload")
  uint64_t configVersion() const override { return version_; }
  std::string notReadyReason() const override;
  std::string startUpgrade() override;
  bool setAdminState(std::string_view pool, std::string_view backend,
                     upstream::AdminState state) override;
  // Reads admin.token_file (if set) into `token`; returns an error text or "".
  static std::string readToken(const config::Config& cfg, std::string& token);
  // Start-up part of the observability (before the first snapshot is built): listener slots,
  // stats, access log, admin token. Returns "" or an error.
  std::string setUpTelemetry(const config::Config& cfg);
  // Counts a reload attempt for the metrics; `err` is its result (reload() only).
  void countReload(const std::string& err);

  void onSignal(int signum);
  // The listening sockets for `l`: those inherited from an upgraded process for its address,
  // then fresh SO_REUSEPORT ones up to one per worker (an ephemeral port 0 is resolved by the
  // first and reused by the others); the main thread keeps a duplicate of each (listenDups_)
  // to hand over in an upgrade. Socket i goes to worker i % workers. On error closes what it
  // opened.
  std::expected<std::vector<int>, std::string> openListener(const config::Listener& l);
  void closeListenDups(const std::string& key);
  // server_upgrade.cc: once the workers serve (pid file, systemd, the old process); the
  // outcome of an upgrade this process started.
  void announceReady();
  void onUpgradeDone(bool ready, pid_t pid, const std::string& why);
  // Start-up failed: logs `err`, tells an old process that started us; returns 1.
  int startupFailed(const std::string& err);
  void startWatching();
  void beginShutdown();
  void checkWorkersDone();
  // Runs the loop until every discovered name has had its first answer (bounded), so pools
  // that only discover their backends do not start empty. Before the workers start.
  void waitForDiscovery();
  // Builds a snapshot of `cfg` with the discovered backends substituted, opens the listeners
  // it adds and posts it to every worker. Shared by reload() (a new file) and discovery
  // changes (cfg == fileConfig_). Returns "" or why it was refused (then nothing changed).
  std::string publish(const std::shared_ptr<const config::Config>& cfg);
  void onDiscoveryChange();

  std::string configPath_;
  uv_loop_t loop_;
  uv_signal_t sigterm_, sigint_, sighup_, sigusr1_, sigusr2_;
  uv_timer_t shutdownTimer_;
  uv_timer_t pollTimer_;
  uv_timer_t startupWait_;
  bool watchRequested_ = false;
  std::unique_ptr<FileWatch> configWatch_;  // --watch / watch: true
  std::unique_ptr<CertWatch> certWatch_;    // follows snap_'s TLS contexts
  unsigned workerCount_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<const Snapshot> snap_;
  std::unique_ptr<health::Monitor> health_;  // follows snap_; closed when the workers are done
  std::shared_ptr<const config::Config> fileConfig_;  // as loaded, before discovery expands it
  std::unique_ptr<discovery::Discovery> discovery_;
  std::atomic<uint32_t> connections_{0};
  uint64_t version_ = 0;
  // observability
  std::unique_ptr<metrics::StatsBlock> stats_;  // client side, unrouted answers
  std::unique_ptr<metrics::AccessLog> accessLog_;
  std::unique_ptr<admin::AdminServer> admin_;
  metrics::ServerCounters counters_;
  std::vector<std::string> listenerNames_;       // by metrics slot
  static constexpr uint32_t kSpareListenerSlots = 8;
  // Main thread: the metrics slot for a listener name (new names take a spare slot).
  uint32_t listenerSlot(const std::string& name);
  std::vector<admin::ListenerInfo> listenerInfo_;
  uint64_t startNs_ = 0;
  std::string pendingToken_;  // admin token read at start-up, until the admin server exists
  bool shuttingDown_ = false;
  int exitCode_ = 0;
  // binary upgrade
  std::string pidFile_;
  std::unique_ptr<upgrade::Inherited> inherited_;  // when an upgrade started us, until ready
  std::unique_ptr<upgrade::Upgrader> upgrader_;
  std::map<std::string, std::vector<int>> listenDups_;  // listenerKey -> main-thread dups
  bool upgradedAway_ = false;  // a new process serves; this one drains
};

// Current unix time in seconds (main thread bookkeeping; not for the request path).
double wallSeconds();

}  // namespace sy::server
