#pragma once
// The process: loads the config, opens the listening sockets, starts the workers and runs the
// main loop (signals: SIGHUP reloads, SIGTERM/SIGINT drain and exit, a second SIGINT exits at
// once). Main thread only.

#include <atomic>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "switchyard/config/config.h"
#include "switchyard/health/monitor.h"
#include "switchyard/server/snapshot.h"
#include "switchyard/server/worker.h"

namespace sy::server {

class Server {
 public:
  explicit Server(std::string configPath, bool watch = false);
  ~Server();
  // Runs until shut down; returns the process exit code.
  int run(std::shared_ptr<const config::Config> cfg);

  // Loads the file again and publishes it to the workers; returns an error text or "".
  std::string reload();

 private:
  void onSignal(int signum);
  // Opens one SO_REUSEPORT socket per worker for `l` (an ephemeral port 0 is resolved by the
  // first bind and reused by the others). On error closes what it opened.
  std::expected<std::vector<int>, std::string> openListener(const config::Listener& l);
  void startWatching();
  void onFileEvent();
  void beginShutdown();
  void checkWorkersDone();

  std::string configPath_;
  uv_loop_t loop_;
  uv_signal_t sigterm_, sigint_, sighup_;
  uv_timer_t shutdownTimer_;
  uv_timer_t pollTimer_;
  uv_fs_event_t watch_;
  uv_timer_t watchDebounce_;
  bool watching_ = false;
  bool watchRequested_ = false;
  std::string watchName_;
  unsigned workerCount_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<const Snapshot> snap_;
  std::unique_ptr<health::Monitor> health_;  // follows snap_; closed when the workers are done
  std::atomic<uint32_t> connections_{0};
  uint64_t version_ = 0;
  bool shuttingDown_ = false;
  int exitCode_ = 0;
};

// Online CPU count (at least 1).
unsigned onlineCores();

}  // namespace sy::server
