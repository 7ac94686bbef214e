#include "switchyard/health/outlier.h"

#include <algorithm>
#include <atomic>
#include <cmath>

namespace sy::health {
namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kConnectFailure:
      return "connect failure";
    case Outcome::kReset:
      return "connection reset or closed";
    case Outcome::kTimeout:
      return "response timeout";
    case Outcome::kServerError:
      return "5xx answer";
    case Outcome::kInvalidResponse:
      return "invalid response";
  }
  return "failure";
}

void reportSuccess(upstream::Backend& b) {
  std::atomic<uint32_t>& streak = b.health().consecutiveFailures;
  if (streak.load(kRelaxed) != 0) streak.store(0, kRelaxed);
}

bool reportFailure(upstream::Backend& b, const upstream::BackendSet& set, Outcome o) {
  if (!set.cfg.outlierDetection) return false;
  const config::OutlierDetection& od = *set.cfg.outlierDetection;
  upstream::HealthCounters& h = b.health();
  h.lastFailure.store(static_cast<uint8_t>(o), kRelaxed);
  uint32_t n = h.consecutiveFailures.fetch_add(1, kRelaxed) + 1;
  if (n < od.consecutiveFailures || b.ejected()) return false;
  if (!b.claimEjection()) return false;  // another worker got there first
  // Claim first, then count (a Dekker pair with the other workers' claims): of two backends
  // claimed at the same time at least one claimer sees both, so the cap is never exceeded
  // for longer than the roll-back below. A claim that was rolled back is retried by the next
  // failure, since the streak stays above the threshold.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint32_t ejected = 0;
  for (const auto& other : set.backends)
    if (other->ejected()) ++ejected;
  if (ejected > maxEjected(set.backends.size(), od.maxEjectionPercent)) {
    b.setEjected(false);
    return false;
  }
  h.ejections.fetch_add(1, kRelaxed);
  return true;
}

uint32_t maxEjected(size_t poolSize, double maxEjectionPercent) {
  double n = std::floor(static_cast<double>(poolSize) * maxEjectionPercent + 1e-9);
  return std::max<uint32_t>(1, static_cast<uint32_t>(n));
}

config::Duration ejectionTime(const config::OutlierDetection& od, uint32_t multiplier) {
  const int64_t base = od.baseEjectionTime.count();
  const int64_t max = std::max(od.maxEjectionTime.count(), base);
  const int64_t m = std::max<int64_t>(multiplier, 1);
  if (base > 0 && m > max / base) return config::Duration(max);
  return config::Duration(std::min(base * m, max));
}

EjectionTimer::Event EjectionTimer::tick(const upstream::Backend& b,
                                         const config::OutlierDetection& od, uint64_t nowMs) {
  const uint64_t base = static_cast<uint64_t>(std::max<int64_t>(od.baseEjectionTime.count(), 1));
  const bool flag = b.ejected();
  if (!ejected_) {
    // A worker's claim counts once it is confirmed (the ejection counter moved); a claim that
    // is being rolled back for the max_ejection_percent cap is ignored.
    const uint64_t total = b.health().ejections.load(kRelaxed);
    if (flag && total != seenEjections_) {
      seenEjections_ = total;
      ejected_ = true;
      // Past max/base the multiplier no longer lengthens ejections; cap it so it decays quickly.
      const uint64_t cap = static_cast<uint64_t>(od.maxEjectionTime.count()) / base + 1;
      if (multiplier_ < cap) ++multiplier_;
      until_ = nowMs + static_cast<uint64_t>(ejectionTime(od, multiplier_).count());
      since_ = nowMs;
      return Event::kEjected;
    }
    if (multiplier_ > 0 && nowMs >= since_ + base) {
      --multiplier_;
      since_ = nowMs;
    }
    return Event::kNone;
  }
  if (!flag) {  // readmitted without us (e.g. outlier detection turned off by a reload)
    readmitted(nowMs);
    return Event::kNone;
  }
  return nowMs >= until_ ? Event::kExpired : Event::kNone;
}

void EjectionTimer::readmitted(uint64_t nowMs) {
  ejected_ = false;
  since_ = nowMs;
}

}  // namespace sy::health
