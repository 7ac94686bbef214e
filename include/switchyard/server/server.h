#pragma once
// The process: loads the config, opens the listening sockets, starts the workers and runs the
// main loop (signals: SIGHUP reloads, SIGTERM/SIGINT drain and exit, a second SIGINT exits at
// once). Main thread only.

#include <atomic>
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
  explicit Server(std::string configPath);
  ~Server();
  // Runs until shut down; returns the process exit code.
  int run(std::shared_ptr<const config::Config> cfg);

  // Loads the file again and publishes it to the workers; returns an error text or "".
  std::string reload();

 private:
  void onSignal(int signum);
  void beginShutdown();
  void checkWorkersDone();

  std::string configPath_;
  uv_loop_t loop_;
  uv_signal_t sigterm_, sigint_, sighup_;
  uv_timer_t shutdownTimer_;
  uv_timer_t pollTimer_;
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
