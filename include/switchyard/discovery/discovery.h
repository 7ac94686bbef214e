#pragma once
// DNS service discovery on the main loop: follows the names a config asks for (expand.h),
// looks each one up through c-ares (resolver.h; workers are never involved) when the shortest
// TTL of its last answer runs out, at least every `discovery.interval` and at most every
// kTtlFloor, keeps the last good answer of each, and calls `onChange` when one changes so the
// server can publish a new snapshot. The system's resolver settings are read once for all
// names, and again when /etc/resolv.conf changes (resolv_conf.h). A failed lookup keeps the last good answer; it is logged
// and counted, and tried again after `interval`.
// Main thread only, except stats() (atomics, any thread).

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "switchyard/config/config.h"
#include "switchyard/discovery/expand.h"

namespace sy::discovery {

// Totals since start, for metrics (relaxed atomics).
struct Stats {
  std::atomic<uint64_t> lookups{0};   // lookups finished
  std::atomic<uint64_t> failures{0};  // of which failed (the last good answer was kept)
  std::atomic<uint64_t> changes{0};   // answers that differed from the previous one
};

struct Answer;  // resolver.h
class ResolvConf;

class Discovery {
 public:
  // How long the start-up waits for the first answers.
  static constexpr config::Duration kLookupTimeout = std::chrono::seconds(5);
  // Shortest time between two lookups of a name whose records have a smaller TTL (0 included)
  // unless `interval` is shorter still.
  static constexpr config::Duration kTtlFloor = std::chrono::seconds(1);

  // When to look a name up again after an answer with shortest TTL `ttl`.
  static config::Duration nextLookupIn(config::Duration interval, std::chrono::seconds ttl);

  Discovery(uv_loop_t* loop, std::function<void()> onChange);
  // Precondition: close() was called and the loop has run since (the handles are released).
  ~Discovery();
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Follows the names of `cfg`: new names are looked up at once, names still asked for keep
  // their last answer (an interval change applies from the next lookup), names no longer asked
  // for are dropped. Does not call onChange.
  void update(const config::Config& cfg);

  // `base` with the backends found so far substituted (expand.h); `base` itself when it asks
  // for no name. Collisions of discovered names are logged.
  std::shared_ptr<const config::Config> expand(std::shared_ptr<const config::Config> base) const;

  // Every name has had its first lookup finish (with an answer or not).
  bool settled() const;

  // Stops all timers and lookups. Idempotent.
  void close();

  const Stats& stats() const { return stats_; }
  // Failed lookups by pool since start (a name several pools ask for counts for each of them;
  // pools keep their count when a reload removes them). Main thread.
  const std::map<std::string, uint64_t>& failuresByPool() const { return poolFailures_; }

 private:
  struct Target;
  static void onTimer(uv_timer_t* timer);
  void lookUp(Target* t);
  void onResult(Target* t, std::expected<Answer, std::string> result);
  void retire(Target* t);

  uv_loop_t* loop_;
  std::function<void()> onChange_;
  std::vector<Target*> targets_;  // owned; freed in their timer's close callback
  Stats stats_;
  std::map<std::string, uint64_t> poolFailures_;
  std::unique_ptr<ResolvConf> conf_;  // the system's resolver settings, shared by the targets
  bool closed_ = false;
};

}  // namespace sy::discovery
