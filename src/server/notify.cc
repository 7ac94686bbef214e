#include "switchyard/server/notify.h"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace sy::server::notify {
namespace {

// STATUS= is one line: newlines in a message (a YAML error may hold some) become spaces.
std::string oneLine(std::string_view text) {
  std::string out(text.substr(0, 400));
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

}  // namespace

bool send(std::string_view message) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return false;
  const size_t len = std::strlen(path);
  sockaddr_un sa{};
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path) return false;
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path, len);
  if (path[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace
  const auto salen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&sa), salen);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  return n == static_cast<ssize_t>(message.size());
}

void ready(std::string_view status) { send("READY=1\nSTATUS=" + oneLine(status)); }

void readyAsNewMainPid(std::string_view status) {
  send("MAINPID=" + std::to_string(::getpid()));
  ready(status);
}

void reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const unsigned long long usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull +
                                  static_cast<unsigned long long>(ts.tv_nsec) / 1000ull;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void reloaded(const std::string& error, unsigned long long configVersion) {
  send("STATUS=" + (error.empty()
                        ? "reloaded, config version " + std::to_string(configVersion)
                        : "reload refused, keeping config version " +
                              std::to_string(configVersion) + ": " + oneLine(error)));
  send("READY=1");
}

void stopping() { send("STOPPING=1\nSTATUS=draining"); }

}  // namespace sy::server::notify
