#pragma once
// Counters shared between worker threads that must never pass a limit: checking and counting
// happen in one step, so racing threads cannot overshoot it.

#include <atomic>
#include <cstdint>

namespace sy {

// Adds one to `n` unless it is already at `max` (0 = no limit). Returns whether it added.
// Sequentially consistent, so a following look at a waiter queue sees this count (pool_gate.h).
inline bool tryIncrementBelow(std::atomic<int32_t>& n, int32_t max) {
  if (max == 0) {
    n.fetch_add(1, std::memory_order_seq_cst);
    return true;
  }
  int32_t cur = n.load(std::memory_order_relaxed);
  while (cur < max)
    if (n.compare_exchange_weak(cur, cur + 1, std::memory_order_seq_cst)) return true;
  return false;
}

}  // namespace sy
