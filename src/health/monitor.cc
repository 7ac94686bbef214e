#include "switchyard/health/monitor.h"

#include "switchyard/balancing/policy.h"
#include "switchyard/common/log.h"
#include "switchyard/health/grpc_probe.h"
#include "switchyard/health/slow_start.h"

namespace sy::health {
namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

// Main-loop state of one backend. Freed in its timer's close callback (or directly if the
// timer was never opened).
struct Monitor::Tracked {
  Monitor* monitor = nullptr;
  std::shared_ptr<upstream::Backend> backend;
  const upstream::BackendSet* set = nullptr;  // in monitor->snap_
  // Active checks.
  uv_timer_t timer;  // next check
  bool timerOpen = false;
  bool checking = false;
  Probe* probe = nullptr;
  GrpcProbe* grpcProbe = nullptr;  // health_check.type: grpc
  uint64_t checkStart = 0;
  std::string host;
  RiseFall riseFall{2, 3};
  // Outlier detection and slow start.
  EjectionTimer ejection;
  bool ramping = false;
  uint64_t rampStart = 0;

  const char* name() const { return backend->name().c_str(); }
  const char* addr() const { return backend->address().text.c_str(); }
  const char* pool() const { return set->name.c_str(); }
};

Monitor::Monitor(uv_loop_t* loop, Clock clock, uint64_t seed)
    : loop_(loop), clock_(std::move(clock)), rng_(seed ? seed : std::random_device{}()) {
  if (!clock_) clock_ = [loop] { return uv_now(loop); };
  int rc = uv_timer_init(loop_, &tick_);
  if (rc != 0) {
    LOG_ERROR("health monitor: timer: %s (ejection timers and slow start will not run)",
              uv_strerror(rc));
  } else {
    tick_.data = this;
    tickStarted_ = true;
  }
}

Monitor::~Monitor() = default;

size_t Monitor::checked() const {
  size_t n = 0;
  for (const auto& [b, t] : tracked_) n += t->checking ? 1 : 0;
  return n;
}

void Monitor::update(std::shared_ptr<const server::Snapshot> snap) {
  if (closed_ || !snap) return;
  const bool initial = !snap_;
  snap_ = std::move(snap);

  std::unordered_map<std::string, bool> checkedPools;
  for (const auto& setPtr : snap_->pools) {
    const upstream::BackendSet& set = *setPtr;
    const config::Pool& pool = set.cfg;
    const bool had = checkedPools_.contains(set.name) && checkedPools_[set.name];
    checkedPools[set.name] = pool.healthCheck.has_value();
    if (pool.healthCheck && !had) {
      const config::HealthCheck& hc = *pool.healthCheck;
      const bool http = hc.type == config::HealthCheckType::kHttp;
      LOG_INFO(
          "pool %s: %s health checks%s%s every %s (timeout %s, jitter %.0f%%, rise %u, "
          "fall %u); backends start healthy until %u checks in a row fail",
          set.name.c_str(), config::healthCheckTypeName(hc.type), http ? " GET " : "",
          http ? hc.path.c_str() : "", formatMs(hc.interval.count()).c_str(),
          formatMs(hc.timeout.count()).c_str(), hc.jitter * 100, hc.healthyThreshold,
          hc.unhealthyThreshold, hc.unhealthyThreshold);
    } else if (!pool.healthCheck && had) {
      LOG_INFO("pool %s: health checks removed: its backends are considered up", set.name.c_str());
    }
  }
  checkedPools_ = std::move(checkedPools);

  std::unordered_map<const upstream::Backend*, Tracked*> next;
  for (const auto& setPtr : snap_->pools) {
    for (const auto& b : setPtr->backends) {
      Tracked* t = nullptr;
      bool added = false;
      if (auto it = tracked_.find(b.get()); it != tracked_.end()) {
        t = it->second;
        tracked_.erase(it);
      } else {
        t = new Tracked();
        t->monitor = this;
        t->backend = b;
        added = true;
      }
      t->set = setPtr.get();
      next.emplace(b.get(), t);
      configure(*t, added && !initial);
    }
  }
  for (auto& [b, t] : tracked_) retire(t);  // left the config: stop checking them
  tracked_ = std::move(next);
  for (const auto& setPtr : snap_->pools) notePanic(*setPtr);

  if (initial && tickStarted_) {
    int rc = uv_timer_start(
        &tick_, [](uv_timer_t* h) { static_cast<Monitor*>(h->data)->tick(); }, kTickMs, kTickMs);
    if (rc != 0) LOG_ERROR("health monitor: timer: %s", uv_strerror(rc));
  }
}

void Monitor::configure(Tracked& t, bool added) {
  upstream::Backend& b = *t.backend;
  const config::Pool& pool = t.set->cfg;
  if (pool.healthCheck) {
    const config::HealthCheck& hc = *pool.healthCheck;
    t.host = hc.host ? *hc.host : b.address().text;
    if (t.checking) {
      t.riseFall.setThresholds(hc.healthyThreshold, hc.unhealthyThreshold);
    } else {
      startChecks(t);
    }
  } else if (t.checking) {
    stopChecks(t);
    if (!b.healthy()) b.setHealthy(true);
  }
  if (!pool.outlierDetection && b.ejected()) readmit(t, "outlier detection is off");
  if (added) {
    LOG_INFO("backend %s (%s) added to pool %s%s%s", t.name(), t.addr(), t.pool(),
             pool.healthCheck ? ": healthy until its checks fail" : "",
             pool.slowStart.count() > 0 ? "; slow start" : "");
    beginSlowStart(t);
  }
  if (pool.slowStart.count() == 0) t.ramping = false;
  // buildSnapshot() resets the effective weight of a backend whose weight changed: restore
  // the pool's units (and the ramp) before the workers adopt the snapshot.
  if (t.ramping) {
    b.setEffectiveWeight(slowStartWeight(b.weight(), clock_() - t.rampStart,
                                         static_cast<uint64_t>(pool.slowStart.count())));
  } else {
    b.setEffectiveWeight(steadyWeight(b.weight(), pool));
  }
}

void Monitor::startChecks(Tracked& t) {
  const config::HealthCheck& hc = *t.set->cfg.healthCheck;
  t.riseFall = RiseFall(hc.healthyThreshold, hc.unhealthyThreshold, t.backend->healthy());
  if (!t.timerOpen) {
    int rc = uv_timer_init(loop_, &t.timer);
    if (rc != 0) {
      LOG_ERROR("backend %s (%s): cannot run health checks: timer: %s", t.name(), t.addr(),
                uv_strerror(rc));
      return;
    }
    t.timer.data = &t;
    t.timerOpen = true;
  }
  t.checking = true;
  scheduleCheck(t, jitterMs(hc));  // the first check right away, spread by the jitter
}

void Monitor::stopChecks(Tracked& t) {
  t.checking = false;
  if (t.probe) {
    t.probe->cancel();
    t.probe = nullptr;
  }
  if (t.grpcProbe) {
    t.grpcProbe->cancel();
    t.grpcProbe = nullptr;
  }
  if (t.timerOpen) uv_timer_stop(&t.timer);
}

void Monitor::scheduleCheck(Tracked& t, uint64_t delayMs) {
  int rc = uv_timer_start(
      &t.timer,
      [](uv_timer_t* h) {
        auto* tr = static_cast<Tracked*>(h->data);
        tr->monitor->runCheck(*tr);
      },
      delayMs, 0);
  if (rc != 0)
    LOG_ERROR("backend %s (%s): cannot schedule a health check: %s", t.name(), t.addr(),
              uv_strerror(rc));
}

void Monitor::runCheck(Tracked& t) {
  if (closed_ || !t.checking || t.probe || t.grpcProbe) return;
  const config::HealthCheck& hc = *t.set->cfg.healthCheck;
  t.checkStart = clock_();
  Tracked* tp = &t;
  bool started = false;
  if (hc.type == config::HealthCheckType::kGrpc) {
    t.grpcProbe = GrpcProbe::start(loop_, t.backend->address(), hc, t.host,
                                   [this, tp](const CheckResult& r) {
                                     tp->grpcProbe = nullptr;
                                     onCheckDone(*tp, r);
                                   }, t.set->tls);
    started = t.grpcProbe != nullptr;
  } else {
    t.probe = Probe::start(loop_, t.backend->address(), hc, t.host, [this, tp](const CheckResult& r) {
      tp->probe = nullptr;
      onCheckDone(*tp, r);
    }, t.set->tls, t.set->cfg.http2());
    started = t.probe != nullptr;
  }
  if (!started) {
    LOG_ERROR("backend %s (%s): cannot start a health check", t.name(), t.addr());
    scheduleCheck(t, static_cast<uint64_t>(hc.interval.count()));
  }
}

void Monitor::onCheckDone(Tracked& t, const CheckResult& r) {
  if (closed_ || !t.checking) return;
  applyCheckResult(*t.backend, r);
  const config::HealthCheck& hc = *t.set->cfg.healthCheck;
  // Checks start `interval` (+ jitter) apart; a check that took longer is followed at once.
  const uint64_t elapsed = clock_() - t.checkStart;
  const uint64_t period = static_cast<uint64_t>(hc.interval.count()) + jitterMs(hc);
  scheduleCheck(t, period > elapsed ? period - elapsed : 0);
}

void Monitor::applyCheckResult(const upstream::Backend& backend, const CheckResult& r) {
  auto it = tracked_.find(&backend);
  if (it == tracked_.end() || !it->second->set->cfg.healthCheck) return;
  Tracked& t = *it->second;
  upstream::Backend& b = *t.backend;
  upstream::HealthCounters& h = b.health();
  (r.pass ? h.checksOk : h.checksFailed).fetch_add(1, kRelaxed);
  const config::HealthCheck& hc = *t.set->cfg.healthCheck;
  if (t.riseFall.record(r.pass)) {
    h.transitions.fetch_add(1, kRelaxed);
    if (t.riseFall.up()) {
      beginSlowStart(t);  // the reduced weight first, so no worker sees it up at full weight
      b.setHealthy(true);
      LOG_INFO("backend %s (%s) UP: %u consecutive passes [pool %s]", t.name(), t.addr(),
               hc.healthyThreshold, t.pool());
    } else {
      b.setHealthy(false);
      t.ramping = false;
      b.setEffectiveWeight(steadyWeight(b.weight(), t.set->cfg));
      LOG_WARN("backend %s (%s) DOWN: %u consecutive failures: %s [pool %s]", t.name(), t.addr(),
               hc.unhealthyThreshold, r.reason.c_str(), t.pool());
    }
    notePanic(*t.set);
  } else if (!r.pass) {
    LOG_DEBUG("backend %s (%s) health check failed (%u of %u%s): %s", t.name(), t.addr(),
              t.riseFall.streak(), hc.unhealthyThreshold, t.riseFall.up() ? "" : ", down",
              r.reason.c_str());
  }
  if (r.pass && b.ejected()) readmit(t, "an active health check passed");
}

void Monitor::readmit(Tracked& t, const char* why) {
  upstream::Backend& b = *t.backend;
  beginSlowStart(t);
  b.health().consecutiveFailures.store(0, kRelaxed);
  b.setEjected(false);
  t.ejection.readmitted(clock_());
  LOG_INFO("backend %s (%s) readmitted: %s [pool %s]", t.name(), t.addr(), why, t.pool());
  notePanic(*t.set);
}

void Monitor::beginSlowStart(Tracked& t) {
  const config::Pool& pool = t.set->cfg;
  if (pool.slowStart.count() <= 0) return;
  t.ramping = true;
  t.rampStart = clock_();
  t.backend->setEffectiveWeight(
      slowStartWeight(t.backend->weight(), 0, static_cast<uint64_t>(pool.slowStart.count())));
}

void Monitor::tick() {
  if (closed_ || !snap_) return;
  const uint64_t now = clock_();
  for (auto& [key, tp] : tracked_) {
    Tracked& t = *tp;
    upstream::Backend& b = *t.backend;
    const config::Pool& pool = t.set->cfg;
    if (pool.outlierDetection) {
      const config::OutlierDetection& od = *pool.outlierDetection;
      switch (t.ejection.tick(b, od, now)) {
        case EjectionTimer::Event::kEjected: {
          const auto last = static_cast<Outcome>(b.health().lastFailure.load(kRelaxed));
          LOG_WARN(
              "backend %s (%s) EJECTED for %s (ejection multiplier %u): %u consecutive "
              "failures, last: %s [pool %s]",
              t.name(), t.addr(),
              formatMs(ejectionTime(od, t.ejection.multiplier()).count()).c_str(),
              t.ejection.multiplier(), od.consecutiveFailures, outcomeName(last), t.pool());
          t.ramping = false;
          b.setEffectiveWeight(steadyWeight(b.weight(), pool));
          break;
        }
        case EjectionTimer::Event::kExpired:
          readmit(t, "ejection time over");
          break;
        case EjectionTimer::Event::kNone:
          break;
      }
    } else if (b.ejected()) {
      readmit(t, "outlier detection is off");  // ejected by a worker still on an old snapshot
    }
    if (t.ramping) {
      const auto window = static_cast<uint64_t>(pool.slowStart.count());
      const uint64_t elapsed = now - t.rampStart;
      b.setEffectiveWeight(slowStartWeight(b.weight(), elapsed, window));
      if (elapsed >= window) t.ramping = false;
    } else if (const uint32_t w = steadyWeight(b.weight(), pool); b.effectiveWeight() != w) {
      b.setEffectiveWeight(w);  // a reload changed the weight
    }
  }
  for (const auto& setPtr : snap_->pools) notePanic(*setPtr);
}

void Monitor::notePanic(const upstream::BackendSet& set) {
  const bool panic = balancing::panicMode(set);
  auto [it, inserted] = panic_.try_emplace(set.name, false);
  if (it->second == panic) return;
  it->second = panic;
  size_t enabled = 0, available = 0;
  for (const auto& b : set.backends) {
    if (b->adminState() != upstream::AdminState::kEnabled) continue;
    ++enabled;
    if (b->healthy() && !b->ejected()) ++available;
  }
  if (panic) {
    LOG_WARN(
        "pool %s: %zu of %zu backends available, below panic_threshold %.0f%%: routing to "
        "all of them (panic mode)",
        set.name.c_str(), available, enabled, set.cfg.panicThreshold * 100);
  } else {
    LOG_INFO("pool %s: %zu of %zu backends available: panic mode over", set.name.c_str(), available,
             enabled);
  }
}

uint64_t Monitor::jitterMs(const config::HealthCheck& hc) {
  const auto span = static_cast<uint64_t>(static_cast<double>(hc.interval.count()) * hc.jitter);
  if (span == 0) return 0;
  return std::uniform_int_distribution<uint64_t>(0, span)(rng_);
}

void Monitor::retire(Tracked* t) {
  stopChecks(*t);
  if (t->timerOpen) {
    uv_close(reinterpret_cast<uv_handle_t*>(&t->timer),
             [](uv_handle_t* h) { delete static_cast<Tracked*>(h->data); });
  } else {
    delete t;
  }
}

void Monitor::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [b, t] : tracked_) retire(t);
  tracked_.clear();
  if (tickStarted_) uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  snap_.reset();
}

}  // namespace sy::health
