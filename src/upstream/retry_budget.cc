#include "switchyard/upstream/retry_budget.h"

namespace sy::upstream {

RetryBudget::Slot& RetryBudget::current(uint64_t second) {
  Slot& s = slots_[second % kSlots];
  uint64_t seen = s.second.load(std::memory_order_acquire);
  if (seen != second && (seen == UINT64_MAX || seen < second) &&
      s.second.compare_exchange_strong(seen, second, std::memory_order_acq_rel)) {
    s.requests.store(0, std::memory_order_relaxed);
    s.retries.store(0, std::memory_order_relaxed);
  }
  return s;
}

void RetryBudget::noteRequest(uint64_t nowMs) {
  current(nowMs / 1000).requests.fetch_add(1, std::memory_order_relaxed);
}

uint64_t RetryBudget::sumInWindow(uint64_t nowMs, std::atomic<uint64_t> Slot::*field) const {
  const uint64_t now = nowMs / 1000;
  uint64_t n = 0;
  for (const Slot& s : slots_) {
    uint64_t sec = s.second.load(std::memory_order_acquire);
    if (sec != UINT64_MAX && sec <= now && now - sec < kSlots)
      n += (s.*field).load(std::memory_order_relaxed);
  }
  return n;
}

uint64_t RetryBudget::requestsInWindow(uint64_t nowMs) const {
  return sumInWindow(nowMs, &Slot::requests);
}

uint64_t RetryBudget::retriesInWindow(uint64_t nowMs) const {
  return sumInWindow(nowMs, &Slot::retries);
}

bool RetryBudget::takeFloor(uint64_t nowMs, uint32_t perSecond) {
  if (perSecond == 0) return false;
  // GCRA: each retry moves the theoretical arrival time on by 1/perSecond; a retry is allowed
  // while that time is at most one second ahead of now (a burst of perSecond at most).
  const uint64_t now = nowMs * 1000;
  const uint64_t interval = 1'000'000 / perSecond;
  const uint64_t tolerance = 1'000'000 - interval;
  uint64_t tat = floorTatUs_.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t base = tat > now ? tat : now;
    if (base - now > tolerance) return false;
    if (floorTatUs_.compare_exchange_weak(tat, base + interval, std::memory_order_relaxed))
      return true;
  }
}

bool RetryBudget::tryRetry(uint64_t nowMs, double percent, uint32_t minPerSecond) {
  const uint64_t allowed =
      static_cast<uint64_t>(percent * static_cast<double>(requestsInWindow(nowMs)));
  if (retriesInWindow(nowMs) < allowed) {
    current(nowMs / 1000).retries.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return takeFloor(nowMs, minPerSecond);
}

}  // namespace sy::upstream
