#pragma once
// The `redis` store: one worker's connection to Redis (hiredis on the worker's libuv loop). A
// decision is one script call (EVALSHA of a GCRA script that reads Redis's own clock, so every
// Switchyard instance shares one time base), with EVAL in its place when Redis answers NOSCRIPT
// (a restarted or flushed Redis); the script is small enough that EVAL also loads it.
//
// Failure policy (fail open): while the link is down, or holds too many unanswered calls,
// submit() refuses at once and the caller lets the request pass; the caller also gives up waiting
// after redis.timeout. A link whose oldest call is unanswered for max(1 s, 10 x timeout) is torn
// down. Reconnection is automatic, with backoff from 100 ms to 2 s; enforcement resumes with the
// first answer. Errors are logged at most once a minute per process.
// Worker thread only; the link lives as long as the worker's loop (close() at shutdown).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <uv.h>

#include "switchyard/config/config.h"
#include "switchyard/ratelimit/gcra.h"

struct redisAsyncContext;

namespace sy::ratelimit {

// Receives answers. `ok` false: no answer (error, timeout, link lost): fail open.
class RedisWaiter {
 public:
  virtual void redisAnswered(uint32_t tag, bool ok, bool allowed, uint64_t aheadNs) = 0;

 protected:
  ~RedisWaiter() = default;
};

class RedisLink {
 public:
  explicit RedisLink(uv_loop_t* loop);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Sends one decision for `key` (the full Redis key). Returns a ticket for cancel(), or 0 when
  // the store cannot answer now (the caller fails open and counts store_error). `cfg` is the
  // request's snapshot's redis settings: a changed address or password reconnects.
  uint64_t submit(const config::Redis& cfg, std::string_view key, const Gcra& g, RedisWaiter* w,
                  uint32_t tag);
  // The waiter no longer wants the answer (client gone, timed out). Idempotent.
  void cancel(uint64_t ticket);
  // Worker shutdown: drops the connection and its timers (pending waiters get ok = false).
  void close();

  // Logs `what` unless something was logged in the last minute (process-wide).
  static void logLimited(const char* what);

 private:
  struct Pending {
    RedisWaiter* waiter = nullptr;
    uint32_t tag = 0;
    uint32_t gen = 0;
    uint64_t sentMs = 0;
    std::string key;  // kept for an EVAL after NOSCRIPT
    uint64_t interval = 0;
    uint64_t tolerance = 0;
    bool retried = false;
    bool busy = false;  // sent, answer not yet come (waiter may be null: cancelled)
  };
  static constexpr uint32_t kMaxPending = 4096;

  void connect();
  void dropContext(const char* why);
  void scheduleReconnect();
  bool send(uint32_t slot, bool eval);
  void answer(uint32_t slot, bool ok, bool allowed, uint64_t aheadNs);
  void failAll();  // the connection is gone: every call in flight ends without an answer
  void onReply(uint32_t slot, uint32_t gen, void* reply);
  void watchdog();
  static void replyCb(redisAsyncContext* c, void* reply, void* privdata);
  static void connectCb(const redisAsyncContext* c, int status);
  static void disconnectCb(const redisAsyncContext* c, int status);

  uv_loop_t* loop_;
  uv_timer_t retry_;
  uv_timer_t watch_;
  bool timersOpen_ = true;
  bool closed_ = false;
  redisAsyncContext* ctx_ = nullptr;
  bool ready_ = false;  // connected (and authenticated when a password is set)
  std::string address_;  // what ctx_ connects to (numeric host:port) + password, to see changes
  std::string host_;
  int port_ = 0;
  std::string password_;
  uint64_t timeoutMs_ = 20;
  uint64_t backoffMs_ = 100;
  std::vector<Pending> pending_;
  std::vector<uint32_t> free_;
  uint32_t inFlight_ = 0;
};

}  // namespace sy::ratelimit
