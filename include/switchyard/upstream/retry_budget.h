#pragma once
// A pool's retry budget (pools[].retries.budget), shared by every worker: retries the pool may
// make are `percent` of its requests over the last ~10 s, plus `min_per_second` always.
//
// Lock-free. Requests and budgeted retries are counted in a ring of ten one-second slots of
// relaxed atomics (one fetch_add per request on a shared cache line: the only cross-worker
// cost, paid only by pools that configure a budget). A slot is recycled by the first worker
// that sees it belong to a past second (compare-and-swap on its second; an increment racing
// with the reset may be lost, an error of a request or two, never a runaway). The floor
// (`min_per_second`) is a GCRA token bucket on one atomic (the theoretical arrival time),
// holding at most one second's worth. A retry first takes from the ratio budget, then from the
// floor; refused retries are not made. Connect failures and the reused-connection race never
// ask. Carried over by pool name across reloads, like the pool's metrics.

#include <atomic>
#include <cstdint>

namespace sy::upstream {

class RetryBudget {
 public:
  static constexpr uint32_t kSlots = 10;  // seconds remembered

  // A request entered the pool at `nowMs` (a monotonic clock in ms, e.g. uv_now()).
  void noteRequest(uint64_t nowMs);
  // May one more retry be made? Takes it from the budget when it may. `percent` in 0..1.
  bool tryRetry(uint64_t nowMs, double percent, uint32_t minPerSecond);

  // What the ratio part allows now (retries counted against percent, requests seen).
  uint64_t requestsInWindow(uint64_t nowMs) const;
  uint64_t retriesInWindow(uint64_t nowMs) const;

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> second{UINT64_MAX};
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> retries{0};
  };
  Slot& current(uint64_t second);
  uint64_t sumInWindow(uint64_t nowMs, std::atomic<uint64_t> Slot::*field) const;
  bool takeFloor(uint64_t nowMs, uint32_t perSecond);

  Slot slots_[kSlots];
  std::atomic<uint64_t> floorTatUs_{0};  // GCRA theoretical arrival time, microseconds
};

}  // namespace sy::upstream
