// The new process's half of a binary upgrade (upgrade.h): receiving the sockets, reporting
// ready or failed; and the pid file.

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "switchyard/common/log.h"
#include "switchyard/net/socket.h"
#include "switchyard/server/upgrade.h"

namespace sy::server::upgrade {
namespace {

Inherited* g_inherited = nullptr;  // the live handover, for reportStartFailure()

int channelFromEnv() {
  const char* text = std::getenv(kChannelEnv);
  if (!text || !*text) return -1;
  char* end = nullptr;
  long fd = std::strtol(text, &end, 10);
  if (*end != '\0' || fd < 0 || fd > 65535) return -1;
  return static_cast<int>(fd);
}

void sendText(int fd, const std::string& text) {
  ssize_t n;
  do {
    n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

}  // namespace

std::string addressKey(const config::SocketAddress& a) {
  char ip[64];
  net::formatIp(reinterpret_cast<const sockaddr*>(&a.addr), ip, sizeof ip);
  const bool v6 = a.addr.ss_family == AF_INET6;
  return (v6 ? "[" : "") + std::string(ip) + (v6 ? "]:" : ":") + std::to_string(a.port);
}

std::unique_ptr<Inherited> Inherited::receive(std::string& err) {
  const int channel = channelFromEnv();
  if (channel < 0) return nullptr;
  // Not passed on to processes this one starts (a later upgrade makes its own channel).
  fcntl(channel, F_SETFD, FD_CLOEXEC);
  timeval tv{10, 0};
  setsockopt(channel, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::unique_ptr<Inherited> in(new Inherited(channel));
  g_inherited = in.get();
  for (;;) {
    char text[512];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    iovec iov{text, sizeof text - 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = std::string("upgrade: the old process's socket handover broke off: ") +
            (n == 0 ? "channel closed" : std::strerror(errno));
      return nullptr;
    }
    text[n] = '\0';
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    }
    std::string_view line(text, static_cast<size_t>(n));
    if (line == "end") break;
    const size_t space = line.find(' ');
    if (fd < 0 || space == std::string_view::npos) {
      if (fd >= 0) ::close(fd);
      err = "upgrade: unexpected handover message '" + std::string(line) + "'";
      return nullptr;
    }
    in->sockets_.push_back({std::string(line.substr(0, space)), std::string(line.substr(space + 1)), fd});
  }
  LOG_INFO("upgrade: received %zu listening sockets from the old process", in->sockets_.size());
  return in;
}

Inherited::~Inherited() {
  closeUnclaimed();
  if (channel_ >= 0) ::close(channel_);
  if (g_inherited == this) g_inherited = nullptr;
}

std::vector<int> Inherited::takeListeners(const config::SocketAddress& addr) {
  const std::string key = addressKey(addr);
  std::vector<int> out;
  for (Socket& s : sockets_) {
    if (s.fd >= 0 && s.kind == "listener" && s.address == key) {
      out.push_back(s.fd);
      s.fd = -1;
      ++taken_;
    }
  }
  return out;
}

int Inherited::takeAdmin(const config::SocketAddress& addr) {
  const std::string key = addressKey(addr);
  for (Socket& s : sockets_) {
    if (s.fd >= 0 && s.kind == "admin" && s.address == key) {
      const int fd = s.fd;
      s.fd = -1;
      ++taken_;
      return fd;
    }
  }
  return -1;
}

void Inherited::closeUnclaimed() {
  for (Socket& s : sockets_) {
    if (s.fd < 0) continue;
    LOG_INFO("upgrade: %s socket %s is not in the config any more: closed", s.kind.c_str(),
             s.address.c_str());
    ::close(s.fd);
    s.fd = -1;
  }
}

void Inherited::reportReady() {
  if (channel_ < 0) return;
  sendText(channel_, "ready");
  ::close(channel_);
  channel_ = -1;
  ::unsetenv(kChannelEnv);
}

void reportStartFailure(const std::string& why) {
  int channel = -1;
  if (g_inherited) channel = g_inherited->channel_;
  if (channel < 0) channel = channelFromEnv();
  if (channel < 0) return;
  sendText(channel, "failed " + why.substr(0, 4000));
}

std::string writePidFile(const std::string& path) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << ::getpid() << '\n';
    f.close();
    if (!f) {
      ::unlink(tmp.c_str());
      return "--pid-file " + path + ": cannot write " + tmp;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string e = "--pid-file " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return e;
  }
  return "";
}

void removePidFileIfOurs(const std::string& path) {
  std::ifstream f(path);
  long pid = 0;
  if (f >> pid && pid == static_cast<long>(::getpid())) ::unlink(path.c_str());
}

}  // namespace sy::server::upgrade
