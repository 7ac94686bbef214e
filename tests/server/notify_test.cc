#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "switchyard/config/units.h"
#include "switchyard/server/notify.h"
#include "switchyard/server/upgrade.h"

namespace notify = sy::server::notify;

namespace {

// A datagram socket standing in for systemd's; `abstractName` binds in the abstract namespace.
struct FakeSystemd {
  int fd = -1;
  explicit FakeSystemd(const std::string& name, bool abstractName) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path + (abstractName ? 1 : 0), name.data(), name.size());
    const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                                 (abstractName ? 1 : 0));
    if (!abstractName) ::unlink(name.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~FakeSystemd() { ::close(fd); }
  std::string next() {
    char buf[1024];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
};

}  // namespace

TEST_CASE("sd_notify: nothing without NOTIFY_SOCKET, datagrams to a path or an abstract name") {
  ::unsetenv("NOTIFY_SOCKET");
  CHECK_FALSE(notify::send("READY=1"));
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  CHECK_FALSE(notify::send("READY=1"));

  const std::string path = "/tmp/sy-notify-test-" + std::to_string(::getpid());
  {
    FakeSystemd systemd(path, false);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    notify::ready("serving, config version 1");
    CHECK(systemd.next() == "READY=1\nSTATUS=serving, config version 1");
    notify::reloading();
    std::string m = systemd.next();
    CHECK(m.rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
    CHECK(std::strtoull(m.c_str() + std::strlen("RELOADING=1\nMONOTONIC_USEC="), nullptr, 10) > 0);
    notify::reloaded("t.yaml:3:5: pools[0].policy: bad\nsecond line", 2);
    CHECK(systemd.next() ==
          "STATUS=reload refused, keeping config version 2: t.yaml:3:5: pools[0].policy: bad "
          "second line");
    CHECK(systemd.next() == "READY=1");
    notify::stopping();
    CHECK(systemd.next() == "STOPPING=1\nSTATUS=draining");
  }
  ::unlink(path.c_str());

  const std::string name = "sy-notify-test-" + std::to_string(::getpid());
  FakeSystemd abstractSystemd(name, true);
  ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  notify::readyAsNewMainPid("serving");
  CHECK(abstractSystemd.next() == "MAINPID=" + std::to_string(::getpid()));
  CHECK(abstractSystemd.next() == "READY=1\nSTATUS=serving");
  ::unsetenv("NOTIFY_SOCKET");
}

TEST_CASE("upgrade: sockets are matched by the parsed address") {
  auto v4 = sy::config::parseSocketAddress("0.0.0.0:080");
  auto v6 = sy::config::parseSocketAddress("[::1]:0");
  REQUIRE(v4);
  REQUIRE(v6);
  CHECK(sy::server::upgrade::addressKey(*v4) == "0.0.0.0:80");
  CHECK(sy::server::upgrade::addressKey(*v6) == "[::1]:0");
}
