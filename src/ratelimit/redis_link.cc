#include "switchyard/ratelimit/redis_link.h"

#include <arpa/inet.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

#include "switchyard/common/log.h"

namespace sy::ratelimit {
namespace {

// GCRA in Redis (see gcra.h), in microseconds of Redis's clock. KEYS[1]: the key; ARGV: T, tau.
// Returns {1 allowed | 0 refused, TAT - now after the call}.
constexpr const char kScript[] =
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local T = tonumber(ARGV[1])\n"
    "local tau = tonumber(ARGV[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now\n"
    "if tat < now then tat = now end\n"
    "if tat - now > tau then return {0, tat - now} end\n"
    "tat = tat + T\n"
    "redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)\n"
    "return {1, tat - now}\n";

const char* scriptSha() {
  static const std::string sha = [] {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(kScript, sizeof kScript - 1, md, &n, EVP_sha1(), nullptr);
    std::string hex;
    char b[3];
    for (unsigned i = 0; i < n; ++i) {
      std::snprintf(b, sizeof b, "%02x", md[i]);
      hex += b;
    }
    return hex;
  }();
  return sha.c_str();
}

constexpr uint64_t kMinBackoffMs = 100;
constexpr uint64_t kMaxBackoffMs = 2000;
constexpr uint64_t kWatchMs = 250;

uint64_t ticketOf(uint32_t slot, uint32_t gen) { return (uint64_t{gen} << 32) | (slot + 1); }

std::atomic<uint64_t> lastLogMs{0};

}  // namespace

void RedisLink::logLimited(const char* what) {
  uint64_t now = uv_hrtime() / 1'000'000;
  uint64_t last = lastLogMs.load(std::memory_order_relaxed);
  if (last != 0 && now - last < 60'000) return;
  if (!lastLogMs.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  LOG_WARN("rate limiting: redis store: %s; requests pass unlimited meanwhile (fail open)", what);
}

RedisLink::RedisLink(uv_loop_t* loop) : loop_(loop), pending_(kMaxPending) {
  free_.reserve(kMaxPending);
  for (uint32_t i = kMaxPending; i > 0; --i) free_.push_back(i - 1);
  uv_timer_init(loop_, &retry_);
  retry_.data = this;
  uv_timer_init(loop_, &watch_);
  watch_.data = this;
}

RedisLink::~RedisLink() { close(); }

void RedisLink::close() {
  if (closed_) return;
  closed_ = true;
  if (ctx_) {
    redisAsyncContext* c = ctx_;
    ctx_ = nullptr;
    c->data = nullptr;
    redisAsyncFree(c);  // pending callbacks run with a null reply (their waiters fail open)
  }
  failAll();
  if (timersOpen_) {
    timersOpen_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&watch_), nullptr);
  }
}

void RedisLink::connect() {
  if (closed_ || ctx_) return;
  ready_ = false;
  redisAsyncContext* c = redisAsyncConnect(host_.c_str(), port_);
  if (!c || c->err) {
    logLimited(c && c->errstr[0] ? c->errstr : "cannot connect");
    if (c) redisAsyncFree(c);
    scheduleReconnect();
    return;
  }
  if (redisLibuvAttach(c, loop_) != REDIS_OK) {
    logLimited("cannot attach to the event loop");
    redisAsyncFree(c);
    scheduleReconnect();
    return;
  }
  c->data = this;
  redisAsyncSetConnectCallback(c, connectCb);
  redisAsyncSetDisconnectCallback(c, disconnectCb);
  ctx_ = c;
  if (!password_.empty()) {
    // Sent first on the connection: the answer arrives before any script call's.
    redisAsyncCommand(
        c,
        [](redisAsyncContext* ac, void* r, void*) {
          auto* self = static_cast<RedisLink*>(ac->data);
          auto* reply = static_cast<redisReply*>(r);
          if (!self) return;
          if (reply && reply->type != REDIS_REPLY_ERROR) {
            self->ready_ = true;
            self->backoffMs_ = kMinBackoffMs;
          } else {
            logLimited(reply ? reply->str : "AUTH got no answer");
          }
        },
        nullptr, "AUTH %b", password_.data(), password_.size());
  }
  uv_timer_start(&watch_, [](uv_timer_t* t) { static_cast<RedisLink*>(t->data)->watchdog(); },
                 kWatchMs, kWatchMs);
}

void RedisLink::connectCb(const redisAsyncContext* c, int status) {
  auto* self = static_cast<RedisLink*>(c->data);
  if (!self) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    logLimited(c->errstr[0] ? c->errstr : "connect failed");
    self->ctx_ = nullptr;
    self->ready_ = false;
    self->scheduleReconnect();
    return;
  }
  if (self->password_.empty()) {
    self->ready_ = true;
    self->backoffMs_ = kMinBackoffMs;
  }
}

void RedisLink::disconnectCb(const redisAsyncContext* c, int) {
  auto* self = static_cast<RedisLink*>(c->data);
  if (!self) return;
  logLimited(c->errstr[0] ? c->errstr : "connection lost");
  self->ctx_ = nullptr;
  self->ready_ = false;
  self->scheduleReconnect();
}

void RedisLink::scheduleReconnect() {
  if (closed_) return;
  uv_timer_stop(&watch_);
  uv_timer_start(&retry_, [](uv_timer_t* t) { static_cast<RedisLink*>(t->data)->connect(); },
                 backoffMs_, 0);
  backoffMs_ = std::min(backoffMs_ * 2, kMaxBackoffMs);
}

void RedisLink::dropContext(const char* why) {
  if (!ctx_) return;
  logLimited(why);
  redisAsyncContext* c = ctx_;
  ctx_ = nullptr;
  ready_ = false;
  c->data = nullptr;
  redisAsyncFree(c);
  failAll();
  scheduleReconnect();
}

void RedisLink::watchdog() {
  if (!ctx_ || inFlight_ == 0) return;
  const uint64_t now = uv_now(loop_);
  const uint64_t limit = std::max<uint64_t>(1000, 10 * timeoutMs_);
  for (const Pending& p : pending_) {
    if (p.busy && now - p.sentMs > limit) {
      dropContext("no answer in time: reconnecting");
      return;
    }
  }
}

uint64_t RedisLink::submit(const config::Redis& cfg, std::string_view key, const Gcra& g,
                           RedisWaiter* w, uint32_t tag) {
  if (closed_) return 0;
  const auto* in = reinterpret_cast<const sockaddr_in*>(&cfg.address.addr);
  char host[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (cfg.address.addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&cfg.address.addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
  } else {
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  }
  timeoutMs_ = static_cast<uint64_t>(cfg.timeout.count());
  if (host_ != host || port_ != port || password_ != cfg.password) {
    host_ = host;
    port_ = port;
    password_ = cfg.password;
    if (ctx_) {
      redisAsyncContext* c = ctx_;
      ctx_ = nullptr;
      c->data = nullptr;
      redisAsyncFree(c);
      failAll();
    }
    uv_timer_stop(&retry_);
    backoffMs_ = kMinBackoffMs;
    connect();
  }
  // While connecting, calls queue in hiredis and go out once connected (after AUTH).
  if (!ctx_ || free_.empty()) return 0;
  uint32_t slot = free_.back();
  free_.pop_back();
  Pending& p = pending_[slot];
  p.waiter = w;
  p.tag = tag;
  if (++p.gen == 0) p.gen = 1;
  p.sentMs = uv_now(loop_);
  p.key.assign(key.data(), key.size());
  p.interval = std::max<uint64_t>(1, g.interval / 1000);
  p.tolerance = g.tolerance / 1000;
  p.retried = false;
  p.busy = true;
  ++inFlight_;
  if (!send(slot, false)) {
    p.waiter = nullptr;
    p.busy = false;
    --inFlight_;
    free_.push_back(slot);
    return 0;
  }
  return ticketOf(slot, p.gen);
}

bool RedisLink::send(uint32_t slot, bool eval) {
  Pending& p = pending_[slot];
  char t[24], tau[24];
  std::snprintf(t, sizeof t, "%llu", static_cast<unsigned long long>(p.interval));
  std::snprintf(tau, sizeof tau, "%llu", static_cast<unsigned long long>(p.tolerance));
  // privdata: the slot and its generation, so a late answer for a reused slot is ignored.
  void* priv = reinterpret_cast<void*>(static_cast<uintptr_t>(ticketOf(slot, p.gen)));
  int rc = eval ? redisAsyncCommand(ctx_, replyCb, priv, "EVAL %s 1 %b %s %s", kScript,
                                    p.key.data(), p.key.size(), t, tau)
                : redisAsyncCommand(ctx_, replyCb, priv, "EVALSHA %s 1 %b %s %s", scriptSha(),
                                    p.key.data(), p.key.size(), t, tau);
  return rc == REDIS_OK;
}

void RedisLink::replyCb(redisAsyncContext* c, void* reply, void* privdata) {
  auto* self = static_cast<RedisLink*>(c->data);
  if (!self) return;
  const uint64_t ticket = reinterpret_cast<uintptr_t>(privdata);
  self->onReply(static_cast<uint32_t>(ticket & 0xffffffff) - 1, static_cast<uint32_t>(ticket >> 32),
                reply);
}

void RedisLink::onReply(uint32_t slot, uint32_t gen, void* r) {
  if (slot >= kMaxPending) return;
  Pending& p = pending_[slot];
  if (p.gen != gen) return;
  auto* reply = static_cast<redisReply*>(r);
  if (reply && reply->type == REDIS_REPLY_ERROR && !p.retried && ctx_ &&
      std::strncmp(reply->str, "NOSCRIPT", 8) == 0) {
    p.retried = true;  // Redis lost its script cache: EVAL runs and caches it
    if (send(slot, true)) return;
  }
  if (!p.waiter) {  // cancelled: the slot is free once its answer came
    answer(slot, false, false, 0);
    return;
  }
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[0]->type != REDIS_REPLY_INTEGER ||
      reply->element[1]->type != REDIS_REPLY_INTEGER) {
    if (reply && reply->type == REDIS_REPLY_ERROR) logLimited(reply->str);
    answer(slot, false, false, 0);
    return;
  }
  long long ahead = reply->element[1]->integer;
  answer(slot, true, reply->element[0]->integer == 1,
         ahead > 0 ? static_cast<uint64_t>(ahead) * 1000 : 0);
}

void RedisLink::answer(uint32_t slot, bool ok, bool allowed, uint64_t aheadNs) {
  Pending& p = pending_[slot];
  if (!p.busy) return;
  RedisWaiter* w = p.waiter;
  p.waiter = nullptr;
  p.busy = false;
  p.sentMs = 0;
  if (++p.gen == 0) p.gen = 1;  // later replies for this call are ignored
  --inFlight_;
  free_.push_back(slot);
  if (w) w->redisAnswered(p.tag, ok, allowed, aheadNs);
}

void RedisLink::failAll() {
  for (uint32_t i = 0; i < kMaxPending; ++i)
    if (pending_[i].busy) answer(i, false, false, 0);
}

void RedisLink::cancel(uint64_t ticket) {
  if (ticket == 0) return;
  uint32_t slot = static_cast<uint32_t>(ticket & 0xffffffff) - 1;
  if (slot >= kMaxPending) return;
  Pending& p = pending_[slot];
  if (p.gen != static_cast<uint32_t>(ticket >> 32) || !p.waiter) return;
  // The call is still in Redis's queue: the slot stays taken until its answer (or the link's
  // end) comes, so the answer cannot be mistaken for another call's.
  p.waiter = nullptr;
}

}  // namespace sy::ratelimit
