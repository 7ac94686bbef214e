#include "switchyard/server/reload_client.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "switchyard/config/loader.h"
#include "switchyard/server/upgrade.h"

namespace sy::server {
namespace {

constexpr int kTimeoutSeconds = 60;  // a reload with new certificates or DNS names takes a while

int fail(const std::string& why) {
  std::fprintf(stderr, "switchyard: reload failed: %s\n", why.c_str());
  return 1;
}

}  // namespace

int requestReload(const std::string& configPath) {
  auto cfg = config::loadConfigFile(configPath);
  if (!cfg) return fail("invalid configuration (not sent): " + cfg.error().format());
  std::string token;
  if (cfg->admin.tokenFile) {
    std::ifstream f(*cfg->admin.tokenFile);
    if (!f) return fail("cannot read admin.token_file " + *cfg->admin.tokenFile);
    std::getline(f, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  sockaddr_storage ss = cfg->admin.listen.addr;
  socklen_t len = cfg->admin.listen.addrLen;
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(sa);
    if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
  }
  const std::string where = "admin API on " + upgrade::addressKey(cfg->admin.listen);
  int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
  timeval tv{kTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, sa, len) != 0) {
    std::string e = std::strerror(errno);
    ::close(fd);
    return fail("cannot reach the " + where + ": " + e + " (is switchyard running?)");
  }
  std::string req = "POST /reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  req += "\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    std::string e = std::strerror(errno);
    ::close(fd);
    return fail("sending to the " + where + ": " + e);
  }
  std::string resp;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || resp.size() > 1 << 20) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  int status = 0;
  if (std::sscanf(resp.c_str(), "HTTP/1.%*d %d", &status) != 1)
    return fail("no answer from the " + where);
  const size_t body = resp.find("\r\n\r\n");
  std::string text = body == std::string::npos ? "" : resp.substr(body + 4);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (status == 200) {
    std::printf("switchyard: reloaded: %s\n", text.c_str());
    return 0;
  }
  return fail("status " + std::to_string(status) + ": " + text);
}

}  // namespace sy::server
