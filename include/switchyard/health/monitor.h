#pragma once
// The health monitor: everything about backend health that runs on the main loop.
// - Active checks (pools[].health_check): one Probe at a time per backend, every interval plus
//   a random jitter, for up and down backends alike; RiseFall decides, and the result is
//   published with Backend::setHealthy(). Backends start healthy until their checks fail.
// - Ejection timers for passive outlier detection (the workers eject, see outlier.h): readmit
//   when the ejection time is over or an active check passes.
// - Slow start: ramps effective weights of recovered and newly added backends.
// - Logs each transition once (DOWN/UP, EJECTED/readmitted, panic mode) and counts them in the
//   backend's HealthCounters.
// It follows the published snapshots: update() after every reload keeps the state of kept
// backends, stops checking removed ones and starts on added ones. Main thread only.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "switchyard/health/outlier.h"
#include "switchyard/health/probe.h"
#include "switchyard/health/rise_fall.h"
#include "switchyard/server/snapshot.h"

namespace sy::health {

// Period of ejection timers and slow-start weight updates.
inline constexpr uint64_t kTickMs = 100;

class Monitor {
 public:
  // Monotonic milliseconds. Default: uv_now(loop).
  using Clock = std::function<uint64_t()>;

  // `seed` feeds the check jitter (0 = random).
  explicit Monitor(uv_loop_t* loop, Clock clock = {}, uint64_t seed = 0);
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;
  // Call close() and let the loop run the close callbacks first.
  ~Monitor();

  // Adopts a newly published snapshot (the first call is the initial config: its backends do
  // not slow-start). Starts the periodic tick on the first call.
  void update(std::shared_ptr<const server::Snapshot> snap);
  // Stops all checks and timers; the handles close on the next loop iterations.
  void close();

  // One periodic step (ejection timers, slow start); runs every kTickMs. Public for tests.
  void tick();
  // Applies the result of one active check of `b` (as a finished Probe does). Public for tests.
  void applyCheckResult(const upstream::Backend& b, const CheckResult& r);
  // Number of backends being followed / actively checked (tests).
  size_t tracked() const { return tracked_.size(); }
  size_t checked() const;

 private:
  struct Tracked;
  void configure(Tracked& t, bool added);
  void startChecks(Tracked& t);
  void stopChecks(Tracked& t);
  void scheduleCheck(Tracked& t, uint64_t delayMs);
  void runCheck(Tracked& t);
  void onCheckDone(Tracked& t, const CheckResult& r);
  void readmit(Tracked& t, const char* why);
  void beginSlowStart(Tracked& t);
  void retire(Tracked* t);
  void notePanic(const upstream::BackendSet& set);
  uint64_t jitterMs(const config::HealthCheck& hc);

  uv_loop_t* loop_;
  Clock clock_;
  std::mt19937_64 rng_;
  uv_timer_t tick_;
  bool tickStarted_ = false;
  bool closed_ = false;
  std::shared_ptr<const server::Snapshot> snap_;
  std::unordered_map<const upstream::Backend*, Tracked*> tracked_;
  std::unordered_map<std::string, bool> panic_;  // pool name -> in panic mode (as last logged)
  std::unordered_map<std::string, bool> checkedPools_;  // pools whose check config was logged
};

}  // namespace sy::health
