#include "switchyard/discovery/resolver.h"

#include <arpa/inet.h>
#include <ares.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>

#include "switchyard/discovery/resolv_conf.h"

namespace sy::discovery {

struct Resolver::Poll {
  uv_poll_t handle;
  Resolver* owner;
  int fd;
};

namespace {

void initLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

struct RawQuery {
  Resolver* owner;
  Resolver::RawDone done;
};

struct AddrinfoQuery {
  Resolver* owner;
  Resolver::AddrinfoDone done;
};

}  // namespace

Resolver::Resolver(uv_loop_t* loop) : loop_(loop) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

std::expected<Resolver*, std::string> Resolver::create(
    uv_loop_t* loop, const std::optional<config::SocketAddress>& server, const ResolvConf* conf) {
  initLibrary();
  auto* r = new Resolver(loop);
  ares_options opts{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  opts.sock_state_cb = &Resolver::onSocketState;
  opts.sock_state_cb_data = r;
  opts.timeout = kTimeoutMs;
  opts.tries = kTries;
  char dnsOnly[] = "b";
  if (server) {
    opts.lookups = dnsOnly;  // the server asked is the whole truth: no /etc/hosts
    // With one server there is no other to try on SERVFAIL or REFUSED: report them as such
    // (c-ares 1.18 would otherwise end the query with ECONNREFUSED).
    opts.flags = ARES_FLAG_NOCHECKRESP;
    mask |= ARES_OPT_LOOKUPS | ARES_OPT_FLAGS;
  }
  int status = ARES_SUCCESS;
  if (!conf || !conf->makeChannel(&r->channel_, opts, mask, &status))
    status = ares_init_options(&r->channel_, &opts, mask);  // reads the files itself
  if (status == ARES_SUCCESS && server) {
    ares_addr_port_node node{};
    const sockaddr_storage& ss = server->addr;
    node.family = ss.ss_family;
    if (ss.ss_family == AF_INET6) {
      std::memcpy(&node.addr.addr6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, 16);
    } else {
      node.addr.addr4 = reinterpret_cast<const sockaddr_in&>(ss).sin_addr;
    }
    node.udp_port = node.tcp_port = server->port;
    status = ares_set_servers_ports(r->channel_, &node);
  }
  if (status != ARES_SUCCESS) {
    std::string why = std::string("cannot set up the DNS resolver: ") + ares_strerror(status);
    r->close();
    return std::unexpected(why);
  }
  return r;
}

void Resolver::onSocketState(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<Resolver*>(data);
  auto it = self->polls_.find(fd);
  if (!readable && !writable) {
    if (it == self->polls_.end()) return;
    Poll* p = it->second;
    self->polls_.erase(it);
    uv_poll_stop(&p->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), [](uv_handle_t* h) {
      auto* poll = static_cast<Poll*>(h->data);
      Resolver* owner = poll->owner;
      delete poll;
      owner->released();
    });
    return;
  }
  Poll* p = nullptr;
  if (it != self->polls_.end()) {
    p = it->second;
  } else {
    p = new Poll{{}, self, fd};
    if (uv_poll_init_socket(self->loop_, &p->handle, fd) != 0) {
      delete p;  // c-ares times the query out
      return;
    }
    p->handle.data = p;
    self->polls_.emplace(fd, p);
    ++self->handles_;
  }
  int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  uv_poll_start(&p->handle, events, [](uv_poll_t* h, int status, int ev) {
    auto* poll = static_cast<Poll*>(h->data);
    Resolver* owner = poll->owner;
    int fd = poll->fd;  // `poll` may be closed by what follows
    bool failed = status < 0;
    ares_process_fd(owner->channel_, (failed || (ev & UV_READABLE)) ? fd : ARES_SOCKET_BAD,
                    (failed || (ev & UV_WRITABLE)) ? fd : ARES_SOCKET_BAD);
    owner->rearm();
  });
}

void Resolver::rearm() {
  if (closing_) return;
  timeval tv{};
  if (!ares_timeout(channel_, nullptr, &tv)) {
    uv_timer_stop(&timer_);
    return;
  }
  uint64_t ms = static_cast<uint64_t>(tv.tv_sec) * 1000 + (tv.tv_usec + 999) / 1000;
  uv_timer_start(&timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Resolver*>(t->data);
    ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    self->rearm();
  }, std::max<uint64_t>(ms, 1), 0);
}

void Resolver::search(const std::string& name, int type, RawDone done) {
  auto* q = new RawQuery{this, std::move(done)};
  ares_search(channel_, name.c_str(), 1 /* IN */, type,
              [](void* arg, int status, int, unsigned char* abuf, int alen) {
                auto* query = static_cast<RawQuery*>(arg);
                if (!query->owner->closing_ && status != ARES_EDESTRUCTION)
                  query->done(status, abuf, alen);
                delete query;
              },
              q);
  rearm();
}

void Resolver::getAddrinfo(const std::string& name, AddrinfoDone done) {
  auto* q = new AddrinfoQuery{this, std::move(done)};
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = ARES_AI_NOSORT;  // sorted by normalizeAddresses; no connect() probes
  ares_getaddrinfo(channel_, name.c_str(), nullptr, &hints,
                   [](void* arg, int status, int, ares_addrinfo* ai) {
                     auto* query = static_cast<AddrinfoQuery*>(arg);
                     if (!query->owner->closing_ && status != ARES_EDESTRUCTION)
                       query->done(status, ai);
                     if (ai) ares_freeaddrinfo(ai);
                     delete query;
                   },
                   q);
  rearm();
}

Answer answerOf(const ares_addrinfo* ai) {
  Answer out;
  int ttl = INT_MAX;
  Addresses addresses;
  for (const ares_addrinfo_node* n = ai ? ai->nodes : nullptr; n; n = n->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* bytes = nullptr;
    if (n->ai_family == AF_INET) {
      bytes = &reinterpret_cast<const sockaddr_in*>(n->ai_addr)->sin_addr;
    } else if (n->ai_family == AF_INET6) {
      bytes = &reinterpret_cast<const sockaddr_in6*>(n->ai_addr)->sin6_addr;
    }
    if (!bytes || !inet_ntop(n->ai_family, bytes, text, sizeof text)) continue;
    addresses.push_back(text);
    ttl = std::min(ttl, n->ai_ttl);
  }
  for (const ares_addrinfo_cname* c = ai ? ai->cnames : nullptr; c; c = c->next)
    ttl = std::min(ttl, c->ttl);
  for (std::string& a : normalizeAddresses(std::move(addresses)))
    out.endpoints.push_back(Endpoint{std::move(a), 0, 0});
  out.ttl = std::chrono::seconds(ttl == INT_MAX ? 0 : std::max(ttl, 0));
  return out;
}

void Resolver::lookUpAddresses(const std::string& name, AnswerDone done) {
  getAddrinfo(name, [done = std::move(done)](int status, const ares_addrinfo* ai) {
    if (status == ARES_ENODATA) return done(std::unexpected(std::string("no A or AAAA records")));
    if (status != ARES_SUCCESS) return done(std::unexpected(describe(status)));
    Answer a = answerOf(ai);
    if (a.endpoints.empty()) return done(std::unexpected(std::string("no A or AAAA records")));
    done(std::move(a));
  });
}

std::string Resolver::describe(int status) {
  switch (status) {
    case ARES_ENOTFOUND: return "no such name (NXDOMAIN)";
    case ARES_ENODATA: return "no records of the type asked for";
    case ARES_ESERVFAIL: return "server failure (SERVFAIL)";
    case ARES_EREFUSED: return "query refused (REFUSED)";
    case ARES_ETIMEOUT: return "timed out";
    case ARES_ECONNREFUSED: return "connection refused by the DNS server";
    case ARES_EBADNAME: return "not a valid DNS name";
    default: return ares_strerror(status);
  }
}

void Resolver::close() {
  if (closing_) return;
  closing_ = true;
  if (channel_) ares_destroy(channel_);  // pending callbacks see closing_; sockets are closed
  channel_ = nullptr;
  while (!polls_.empty()) onSocketState(this, polls_.begin()->first, 0, 0);
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* h) { static_cast<Resolver*>(h->data)->released(); });
}

void Resolver::released() {
  if (--handles_ == 0) delete this;
}

}  // namespace sy::discovery
