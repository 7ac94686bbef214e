#pragma once
// DNS lookups for discovery on c-ares, driven by a libuv loop without blocking it: the
// channel's sockets are watched with uv_poll handles and its timeouts with one uv_timer, both
// handed to ares_process_fd. One Resolver per name followed, its settings shared (resolv_conf.h)
// and taken from one of two DNS server configurations:
//   - the system's (no `discovery.resolver`): servers, search domains, ndots, timeouts and the
//     hosts-file order as /etc/resolv.conf and nsswitch.conf say (LOCALDOMAIN and RES_OPTIONS
//     override them, as for glibc);
//   - one server asked directly (`discovery.resolver`): the same search domains and ndots, but
//     DNS only (no /etc/hosts).
// c-ares retries a truncated UDP answer over TCP by itself (no EDNS0 is offered, so UDP
// answers stop at 512 bytes). The loop's thread only.

#include <chrono>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <uv.h>

#include "switchyard/config/config.h"
#include "switchyard/discovery/expand.h"

struct ares_channeldata;
struct ares_addrinfo;

namespace sy::discovery {

class ResolvConf;

// What one lookup found: endpoints (never empty) and the shortest TTL of the records used.
struct Answer {
  Endpoints endpoints;
  std::chrono::seconds ttl{0};
};
using AnswerResult = std::expected<Answer, std::string>;
using AnswerDone = std::function<void(AnswerResult)>;

class Resolver {
 public:
  // Per try (c-ares doubles it at the resend); a lookup gives up after ~3 s per server.
  static constexpr int kTimeoutMs = 1000;
  static constexpr int kTries = 2;

  // Error: c-ares could not set up a channel (an unreadable resolv.conf is not one: c-ares
  // then asks 127.0.0.1). With `conf` the system's settings are taken from it instead of
  // being read from the files again (it must have been refreshed at least once).
  static std::expected<Resolver*, std::string> create(
      uv_loop_t* loop, const std::optional<config::SocketAddress>& server,
      const ResolvConf* conf = nullptr);

  // The A and AAAA addresses of `name` (normalizeAddresses order; port and weight 0).
  void lookUpAddresses(const std::string& name, AnswerDone done);
  // The SRV records of `name` with the lowest priority, their targets resolved to addresses:
  // one endpoint per address and port, SRV weight as weight (srv.cc).
  void lookUpSrv(const std::string& name, AnswerDone done);

  // Abandons every lookup (their `done` never runs) and frees this object once libuv has
  // released its handles. Never from inside a `done`.
  void close();

  // Low level, for srv.cc: `done` gets the c-ares status and the raw answer / addrinfo (freed
  // after the call). Not called once close() has started.
  using RawDone = std::function<void(int status, const unsigned char* abuf, int alen)>;
  void search(const std::string& name, int type, RawDone done);
  using AddrinfoDone = std::function<void(int status, const ares_addrinfo* ai)>;
  void getAddrinfo(const std::string& name, AddrinfoDone done);

  bool closing() const { return closing_; }

  // A c-ares status as a log reason ("no such name (NXDOMAIN)", "timed out", ...).
  static std::string describe(int status);

 private:
  struct Poll;
  Resolver(uv_loop_t* loop);
  ~Resolver() = default;
  static void onSocketState(void* data, int fd, int readable, int writable);
  void rearm();
  void released();

  uv_loop_t* loop_;
  ares_channeldata* channel_ = nullptr;
  uv_timer_t timer_;
  std::map<int, Poll*> polls_;
  int handles_ = 1;  // the timer and the polls not yet closed
  bool closing_ = false;
};

// The endpoints and shortest TTL of an ares_getaddrinfo result (normalized; port 0). Empty
// endpoints when it holds no address.
Answer answerOf(const ares_addrinfo* ai);

}  // namespace sy::discovery
