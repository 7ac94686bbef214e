// The old process's half of a binary upgrade (upgrade.h): starting the new binary, handing
// over the sockets and waiting for its answer.

#include "switchyard/server/upgrade.h"

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include <sys/socket.h>
#include <unistd.h>

#include "switchyard/common/log.h"

extern char** environ;

namespace sy::server::upgrade {
namespace {

std::string g_exe;                 // the binary's path at start-up
std::vector<std::string> g_args;   // argv as started

bool sendSocket(int channel, const std::string& text, int fd) {
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do {
    n = ::sendmsg(channel, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(text.size());
}

}  // namespace

void rememberCommandLine(int argc, char** argv) {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    g_exe.assign(buf, static_cast<size_t>(n));
  } else if (argc > 0) {
    if (char* real = ::realpath(argv[0], nullptr)) {
      g_exe = real;
      std::free(real);
    }
  }
  g_args.assign(argv, argv + argc);
}

// One new process being started; freed once its three handles are closed.
struct Upgrader::Attempt {
  Upgrader* owner = nullptr;  // null once finished (or the upgrader closed)
  uv_process_t proc{};
  uv_poll_t poll{};
  uv_timer_t timer{};
  int channel = -1;
  int openHandles = 0;
  bool exited = false;
  bool procClosed = false;
  bool pollClosed = false;
  std::string refusal;  // "failed <why>" from the new process
  std::string sendError;  // the handover itself failed (the process is killed)

  // Stops following the process (it is the service now, or this process is going away).
  void closeProc() {
    if (procClosed) return;
    procClosed = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&proc), onClosed);
  }
  void closePollAndTimer() {
    if (pollClosed) return;
    pollClosed = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), onClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), onClosed);
  }
  // Reads one message from the new process: 1 if one was handled, 0 if none is waiting, -1
  // once the channel is closed (or broken).
  int readMessage() {
    if (channel < 0) return -1;
    char buf[4096];
    ssize_t n = ::recv(channel, buf, sizeof buf, MSG_DONTWAIT);
    // A process that exits without reading the sockets handed to it leaves ECONNRESET here,
    // reported (and cleared) before the messages it sent: its "failed <why>" comes next.
    if (n < 0 && errno == ECONNRESET) n = ::recv(channel, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0) return -1;
    std::string_view msg(buf, static_cast<size_t>(n));
    if (msg == "ready") {
      if (owner) owner->finish(this, true, "");
    } else if (msg.starts_with("failed ")) {
      refusal = std::string(msg.substr(7));
    }
    return 1;
  }
  static void onClosed(uv_handle_t* h) {
    auto* a = static_cast<Attempt*>(h->data);
    if (h == reinterpret_cast<uv_handle_t*>(&a->poll) && a->channel >= 0) {
      ::close(a->channel);
      a->channel = -1;
    }
    if (--a->openHandles == 0) delete a;
  }
};

Upgrader::~Upgrader() { close(); }

std::string Upgrader::start(const std::vector<Offer>& sockets) {
  if (current_) return "an upgrade is already in progress (new process pid " +
                       std::to_string(current_->proc.pid) + ")";
  if (g_exe.empty()) return "the path of this binary is unknown";
  if (::access(g_exe.c_str(), X_OK) != 0)
    return "cannot run " + g_exe + ": " + std::strerror(errno);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return std::string("socketpair: ") + std::strerror(errno);

  std::vector<std::string> env;
  const std::string prefix = std::string(kChannelEnv) + "=";
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0) env.emplace_back(*e);
  env.push_back(prefix + "3");
  std::vector<char*> envp, argv;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (std::string& a : g_args) argv.push_back(a.data());
  argv.push_back(nullptr);

  uv_stdio_container_t stdio[4];
  for (int i = 0; i < 3; ++i) {
    stdio[i].flags = UV_INHERIT_FD;
    stdio[i].data.fd = i;
  }
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = sv[1];
  uv_process_options_t opts{};
  opts.file = g_exe.c_str();
  opts.args = argv.data();
  opts.env = envp.data();
  opts.stdio = stdio;
  opts.stdio_count = 4;
  opts.exit_cb = [](uv_process_t* p, int64_t status, int signum) {
    auto* a = static_cast<Attempt*>(p->data);
    a->exited = true;
    // Its last words may still wait in the channel (the exit can be seen first).
    while (a->owner && a->readMessage() > 0) {
    }
    if (Upgrader* u = a->owner) {
      std::string why;
      if (!a->refusal.empty()) {
        why = "the new process refused to start: " + a->refusal;
      } else if (signum == SIGKILL && !a->sendError.empty()) {
        why = "handing the sockets over failed: " + a->sendError;
      } else if (signum) {
        why = "the new process was killed by signal " + std::to_string(signum) +
              " before it was ready";
      } else {
        why = "the new process exited with status " + std::to_string(status) +
              " before it was ready";
      }
      u->finish(a, false, why);
    }
    a->closeProc();
  };

  auto* a = new Attempt();
  a->owner = this;
  a->channel = sv[0];
  a->proc.data = a;
  if (int rc = uv_spawn(loop_, &a->proc, &opts); rc != 0) {
    ::close(sv[0]);
    ::close(sv[1]);
    // A failed uv_spawn still needs the handle closed.
    a->openHandles = 1;
    a->owner = nullptr;
    a->channel = -1;
    a->closeProc();
    return "cannot start " + g_exe + ": " + uv_strerror(rc);
  }
  ::close(sv[1]);
  a->openHandles = 3;
  current_ = a;

  // Bounded: the new process reads these first thing; one that does not is failed below.
  timeval tv{5, 0};
  setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  bool sent = true;
  for (const Offer& o : sockets) sent = sent && sendSocket(sv[0], o.kind + " " + o.address, o.fd);
  sent = sent && sendSocket(sv[0], "end", -1);

  uv_timer_init(loop_, &a->timer);
  a->timer.data = a;
  uv_poll_init(loop_, &a->poll, sv[0]);
  a->poll.data = a;
  if (!sent) {
    // Most often the new process is gone already (a binary that exits at once): its exit
    // status, reported by the exit callback, says more than EPIPE.
    a->sendError = std::strerror(errno);
    ::kill(a->proc.pid, SIGKILL);
    return "";
  }
  uv_poll_start(&a->poll, UV_READABLE | UV_DISCONNECT, [](uv_poll_t* h, int status, int) {
    auto* a = static_cast<Attempt*>(h->data);
    // Closed without a word: the exit callback tells how it ended.
    if (status < 0 || a->readMessage() < 0) uv_poll_stop(h);
  });
  uv_timer_start(&a->timer, [](uv_timer_t* t) {
    auto* a = static_cast<Attempt*>(t->data);
    if (!a->owner) return;
    ::kill(a->proc.pid, SIGKILL);
    a->owner->finish(a, false, "the new process was not ready within " +
                                   std::to_string(kReadyTimeout.count()) + " s: killed it");
  }, static_cast<uint64_t>(std::chrono::milliseconds(kReadyTimeout).count()), 0);
  LOG_INFO("upgrade: started %s (pid %d), handing over %zu sockets", g_exe.c_str(),
           a->proc.pid, sockets.size());
  return "";
}

void Upgrader::finish(Attempt* a, bool ready, const std::string& why) {
  if (a->owner != this) return;
  a->owner = nullptr;
  if (current_ == a) current_ = nullptr;
  a->closePollAndTimer();
  if (ready) a->closeProc();
  done_(ready, a->proc.pid, why);
}

void Upgrader::close() {
  Attempt* a = current_;
  if (!a) return;
  current_ = nullptr;
  a->owner = nullptr;
  if (!a->exited) ::kill(a->proc.pid, SIGKILL);
  a->closePollAndTimer();
  a->closeProc();
}

}  // namespace sy::server::upgrade
