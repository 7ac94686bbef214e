#pragma once
// GCRA (the generic cell rate algorithm, as in ATM's virtual scheduling): one 64-bit "theoretical
// arrival time" (TAT) per key. A policy of `count` requests per `period` with `burst` has the
// emission interval T = period / count and the tolerance tau = burst * T: a request at `now` is
// allowed when max(TAT, now) - now <= tau, and then moves TAT to max(TAT, now) + T. So `burst + 1`
// requests pass at once, then one every T; there are no window edges. Pure functions: any thread.

#include <cstdint>

namespace sy::ratelimit {

struct Gcra {
  uint64_t interval = 0;   // T, in ns
  uint64_t tolerance = 0;  // tau = burst * T, in ns

  static Gcra of(uint64_t count, uint64_t periodNs, uint32_t burst) {
    Gcra g;
    g.interval = periodNs / count;
    if (g.interval == 0) g.interval = 1;
    g.tolerance = g.interval * burst;
    return g;
  }
};

// What a decision tells the client (draft-ietf-httpapi-ratelimit-headers: `r` and `t`).
struct Decision {
  bool allowed = true;
  uint64_t remaining = 0;     // further requests that would pass right now
  uint64_t retryAfterNs = 0;  // refused: time until one request passes
  uint64_t resetNs = 0;       // time until the state is back to a full burst
};

// One step: `tat` is the stored TAT (0 = none). Returns the decision and sets `newTat` (equal to
// `tat` when refused).
Decision decide(const Gcra& g, uint64_t tat, uint64_t now, uint64_t* newTat);

// The decision from what a store reports: whether the request passed and TAT - now afterwards
// (after the update when allowed, the unchanged TAT when refused; 0 when TAT <= now).
Decision fromAhead(const Gcra& g, bool allowed, uint64_t aheadNs);

// Whole seconds, rounded up (Retry-After, `t`).
inline uint64_t ceilSeconds(uint64_t ns) { return (ns + 999'999'999) / 1'000'000'000; }

}  // namespace sy::ratelimit
