#include "switchyard/discovery/lookup.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <optional>

#include "switchyard/discovery/dns_message.h"

namespace sy::discovery {
namespace {

// Sends per query: the first and two resends, evenly spread over the timeout.
constexpr int kSends = 3;

std::string errorText(int uvError) {
  return std::string(uv_strerror(uvError)) + " (" + uv_err_name(uvError) + ")";
}

LookupResult combine(Addresses found, bool nxdomain) {
  found = normalizeAddresses(std::move(found));
  if (!found.empty()) return found;
  return std::unexpected(nxdomain ? "no such name (NXDOMAIN)" : "no A or AAAA records");
}

class SystemLookup final : public Lookup {
 public:
  explicit SystemLookup(LookupDone done) : done_(std::move(done)) { req_.data = this; }

  int start(uv_loop_t* loop, const std::string& name) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    return uv_getaddrinfo(loop, &req_, onResolved, name.c_str(), nullptr, &hints);
  }

  // uv_cancel only stops a request still queued; one already running finishes, and either way
  // the callback runs once and frees the object.
  void cancel() override {
    cancelled_ = true;
    uv_cancel(reinterpret_cast<uv_req_t*>(&req_));
  }

 private:
  static void onResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* self = static_cast<SystemLookup*>(req->data);
    LookupResult result = std::unexpected(std::string());
    if (status != 0) {
      result = std::unexpected(errorText(status));
    } else {
      Addresses found;
      for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        if (ai->ai_family == AF_INET) {
          inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, text,
                    sizeof text);
        } else if (ai->ai_family == AF_INET6) {
          inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, text,
                    sizeof text);
        } else {
          continue;
        }
        found.emplace_back(text);
      }
      result = combine(std::move(found), false);
    }
    uv_freeaddrinfo(res);
    LookupDone done = self->cancelled_ ? nullptr : std::move(self->done_);
    delete self;
    if (done) done(std::move(result));
  }

  uv_getaddrinfo_t req_;
  LookupDone done_;
  bool cancelled_ = false;
};

class UdpLookup final : public Lookup {
 public:
  UdpLookup(LookupDone done, const std::string& name, std::string resolver)
      : done_(std::move(done)), name_(name), resolver_(std::move(resolver)) {}

  // On error the object is already being freed and `done` will not run.
  std::expected<void, std::string> start(uv_loop_t* loop, const sockaddr* server,
                                         config::Duration timeout) {
    auto fail = [this](std::string why) -> std::expected<void, std::string> {
      done_ = nullptr;
      close();
      return std::unexpected(std::move(why));
    };
    uint16_t ids[2] = {};
    if (int rc = uv_random(nullptr, nullptr, ids, sizeof ids, 0, nullptr); rc != 0) {
      return fail("no random query id: " + errorText(rc));
    }
    const RecordType types[2] = {RecordType::kA, RecordType::kAAAA};
    for (int i = 0; i < 2; ++i) {
      auto packet = buildQuery(ids[i], name_, types[i]);
      if (!packet) return fail(packet.error());
      queries_[i] = Query{types[i], ids[i], std::move(*packet), std::nullopt};
    }
    if (int rc = uv_udp_init(loop, &udp_); rc != 0) return fail("udp socket: " + errorText(rc));
    udp_.data = this;
    ++handles_;
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    ++handles_;
    // A connected socket takes datagrams from the resolver only and reports its ICMP errors
    // (a resolver that is down is known at once, not at the timeout).
    int rc = uv_udp_connect(&udp_, server);
    if (rc == 0) rc = uv_udp_recv_start(&udp_, onAlloc, onRead);
    if (rc != 0) return fail("resolver " + resolver_ + ": " + errorText(rc));
    uint64_t step = std::max<uint64_t>(1, static_cast<uint64_t>(timeout.count()) / kSends);
    timeout_ = timeout;
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<UdpLookup*>(t->data)->onTick(); },
                   step, step);
    if (rc = send(); rc != 0) return fail("resolver " + resolver_ + ": " + errorText(rc));
    return {};
  }

  void cancel() override {
    done_ = nullptr;
    close();
  }

 private:
  struct Query {
    RecordType type = RecordType::kA;
    uint16_t id = 0;
    std::vector<uint8_t> packet;
    std::optional<DnsAnswer> answer;
  };

  static const char* typeName(RecordType t) { return t == RecordType::kA ? "A" : "AAAA"; }

  // Sends the queries not answered yet; returns a libuv error or 0.
  int send() {
    for (Query& q : queries_) {
      if (q.answer) continue;
      uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(q.packet.data()),
                                 static_cast<unsigned>(q.packet.size()));
      int rc = uv_udp_try_send(&udp_, &buf, 1, nullptr);
      // EAGAIN: the socket buffer is full; the next tick sends again.
      if (rc < 0 && rc != UV_EAGAIN) return rc;
    }
    return 0;
  }

  void onTick() {
    if (++ticks_ < kSends) {
      if (int rc = send(); rc != 0) {
        finish(std::unexpected("resolver " + resolver_ + ": " + errorText(rc)));
      }
      return;
    }
    finish(std::unexpected("no answer from resolver " + resolver_ + " within " +
                           std::to_string(timeout_.count()) + "ms"));
  }

  static void onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<UdpLookup*>(h->data);
    *buf = uv_buf_init(self->buf_, sizeof self->buf_);
  }

  static void onRead(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr*,
                     unsigned flags) {
    auto* self = static_cast<UdpLookup*>(h->data);
    if (self->closing_) return;
    if (nread < 0) {
      self->finish(std::unexpected("resolver " + self->resolver_ + ": " +
                                   errorText(static_cast<int>(nread))));
      return;
    }
    if (nread == 0) return;
    if (flags & UV_UDP_PARTIAL) {
      self->finish(std::unexpected("resolver " + self->resolver_ + ": answer over " +
                                   std::to_string(sizeof self->buf_) + " bytes"));
      return;
    }
    std::span<const uint8_t> msg(reinterpret_cast<const uint8_t*>(buf->base),
                                 static_cast<size_t>(nread));
    self->onMessage(msg);
  }

  void onMessage(std::span<const uint8_t> msg) {
    for (Query& q : queries_) {
      if (q.answer) continue;
      auto parsed = parseResponse(msg, q.id, name_, q.type);
      if (parsed) {
        q.answer = std::move(*parsed);
        break;
      }
      if (parsed.error().kind == DnsError::kFailed) {
        finish(std::unexpected("resolver " + resolver_ + ": " + typeName(q.type) + " " + name_ +
                               ": " + parsed.error().message));
        return;
      }
    }
    if (!queries_[0].answer || !queries_[1].answer) return;
    Addresses found = queries_[0].answer->addresses;
    found.insert(found.end(), queries_[1].answer->addresses.begin(),
                 queries_[1].answer->addresses.end());
    finish(combine(std::move(found), queries_[0].answer->nxdomain && queries_[1].answer->nxdomain));
  }

  void finish(LookupResult result) {
    if (closing_) return;
    LookupDone done = std::move(done_);
    done_ = nullptr;
    close();  // frees the object in a later close callback, so it is still valid below
    if (done) done(std::move(result));
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    if (handles_ == 0) {
      delete this;
      return;
    }
    auto onClosed = [](uv_handle_t* h) {
      auto* self = static_cast<UdpLookup*>(h->data);
      if (--self->handles_ == 0) delete self;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), onClosed);
    if (handles_ == 2) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onClosed);
  }

  LookupDone done_;
  std::string name_;
  std::string resolver_;
  config::Duration timeout_{};
  uv_udp_t udp_;
  uv_timer_t timer_;
  int handles_ = 0;  // initialized handles not closed yet; the object dies with the last one
  bool closing_ = false;
  int ticks_ = 0;
  Query queries_[2];
  char buf_[kUdpPayload];
};

}  // namespace

std::expected<Lookup*, std::string> startLookup(uv_loop_t* loop, const std::string& name,
                                               const config::SocketAddress* resolver,
                                               config::Duration timeout, LookupDone done) {
  if (!resolver) {
    auto* lookup = new SystemLookup(std::move(done));
    if (int rc = lookup->start(loop, name); rc != 0) {
      delete lookup;
      return std::unexpected("getaddrinfo: " + errorText(rc));
    }
    return lookup;
  }
  auto* lookup = new UdpLookup(std::move(done), name, resolver->text);
  auto started =
      lookup->start(loop, reinterpret_cast<const sockaddr*>(&resolver->addr), timeout);
  if (!started) return std::unexpected(started.error());
  return lookup;
}

}  // namespace sy::discovery
