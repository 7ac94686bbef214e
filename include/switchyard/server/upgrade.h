#pragma once
// Binary upgrade without refusing a connection (SIGUSR2, POST /upgrade).
//
// The running (old) process starts the binary now at the path it was started from, with the
// same arguments, and hands it every listening socket over a SOCK_SEQPACKET socketpair whose
// child end is fd 3 of the new process ($SWITCHYARD_UPGRADE_FD): one message per socket,
// "listener <address>" or "admin <address>" carrying the fd (SCM_RIGHTS), then "end". The new
// process loads its config, takes the sockets whose address its config still has (binding the
// others fresh and closing the unclaimed ones), starts its workers and answers "ready" (or
// "failed <why>"). Only then does the old process stop accepting, drain and exit; if the new
// one fails, exits, or stays silent past kReadyTimeout, the old one keeps serving and logs why.
// Both processes accept on the same sockets meanwhile, so no connection is refused.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "switchyard/config/config.h"

namespace sy::server::upgrade {

constexpr std::chrono::seconds kReadyTimeout{60};
constexpr const char* kChannelEnv = "SWITCHYARD_UPGRADE_FD";

// main(), first thing: the binary's path (resolved now: after a package upgrade
// /proc/self/exe names the deleted old file) and the arguments an upgrade starts it with.
void rememberCommandLine(int argc, char** argv);

// How an address is named in a handover ("127.0.0.1:8080", "[::1]:0"): from the parsed
// address, so "0.0.0.0:80" and "0.0.0.0:080" match.
std::string addressKey(const config::SocketAddress& a);

// One socket offered to the new process (the caller keeps its fd).
struct Offer {
  std::string kind;  // "listener" | "admin"
  std::string address;  // addressKey()
  int fd = -1;
};

// ---- new process side

// The sockets inherited from the old process. Main thread.
class Inherited {
 public:
  // When started by an upgrade: receives the sockets (blocking, bounded). nullptr when not
  // started by an upgrade or on error (`err` says why; the old process then sees us exit).
  static std::unique_ptr<Inherited> receive(std::string& err);
  ~Inherited();
  Inherited(const Inherited&) = delete;
  Inherited& operator=(const Inherited&) = delete;

  // Every inherited listener socket for `addr` (the caller owns them now).
  std::vector<int> takeListeners(const config::SocketAddress& addr);
  // The inherited admin socket for `addr`, or -1.
  int takeAdmin(const config::SocketAddress& addr);
  size_t taken() const { return taken_; }
  // Closes the sockets no part of the new config took (their addresses are gone).
  void closeUnclaimed();
  // Tells the old process to stop accepting and drain; ends the handover.
  void reportReady();

 private:
  struct Socket {
    std::string kind, address;
    int fd = -1;
  };
  friend void reportStartFailure(const std::string& why);
  explicit Inherited(int channel) : channel_(channel) {}
  int channel_;
  std::vector<Socket> sockets_;
  size_t taken_ = 0;
};

void reportStartFailure(const std::string& why);

// Tells the old process why this one will not start ("failed <why>"), if an upgrade started
// it; a no-op otherwise. For start-up errors anywhere (main's config load included).
void reportStartFailure(const std::string& why);

// ---- old process side

// Starts and watches one upgrade at a time on the main loop. Main thread.
class Upgrader {
 public:
  // ready == true: the new process `pid` serves now; else `why` it failed (this one serves on).
  using Done = std::function<void(bool ready, pid_t pid, const std::string& why)>;
  Upgrader(uv_loop_t* loop, Done done) : loop_(loop), done_(std::move(done)) {}
  ~Upgrader();

  // Starts the new process and hands it `sockets`. "" when it is starting (the outcome comes
  // through Done), else why it could not start; nothing changed then.
  std::string start(const std::vector<Offer>& sockets);
  bool inProgress() const { return current_ != nullptr; }
  // At shutdown: an unfinished new process is killed; handles are closed.
  void close();

  struct Attempt;

 private:
  void finish(Attempt* a, bool ready, const std::string& why);
  friend struct Attempt;
  uv_loop_t* loop_;
  Done done_;
  Attempt* current_ = nullptr;
};

// --pid-file: written atomically (a temporary file renamed over it); removed at exit only by
// the process whose pid it holds (after an upgrade the new process owns it).
std::string writePidFile(const std::string& path);
void removePidFileIfOurs(const std::string& path);

}  // namespace sy::server::upgrade
