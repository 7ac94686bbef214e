#include "switchyard/net/socket.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

namespace sy::net {

std::expected<int, std::string> openListenSocket(const config::SocketAddress& addr, int backlog) {
  const sockaddr* sa = reinterpret_cast<const sockaddr*>(&addr.addr);
  int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected("socket for " + addr.text + ": " + strerror(errno));
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    std::string e = "setsockopt on " + addr.text + ": " + strerror(errno);
    ::close(fd);
    return std::unexpected(e);
  }
  if (sa->sa_family == AF_INET6) {
    // "[::]:port" listens on IPv6 only; list 0.0.0.0 separately for IPv4.
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd, sa, addr.addrLen) != 0) {
    std::string e = "bind " + addr.text + ": " + strerror(errno);
    ::close(fd);
    return std::unexpected(e);
  }
  if (::listen(fd, backlog) != 0) {
    std::string e = "listen " + addr.text + ": " + strerror(errno);
    ::close(fd);
    return std::unexpected(e);
  }
  return fd;
}

void formatIp(const sockaddr* sa, char* out, size_t cap) {
  out[0] = '\0';
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, out, cap);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, out, cap);
  }
}

int boundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return -1;
}

}  // namespace sy::net
