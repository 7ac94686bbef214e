#include "switchyard/ratelimit/gcra.h"

namespace sy::ratelimit {

Decision fromAhead(const Gcra& g, bool allowed, uint64_t ahead) {
  Decision d;
  d.allowed = allowed;
  d.resetNs = ahead;
  if (allowed) {
    // A request at the same instant sees TAT - now = ahead and passes while that is <= tau;
    // each one adds T.
    d.remaining = ahead > g.tolerance ? 0 : (g.tolerance - ahead) / g.interval + 1;
  } else {
    d.retryAfterNs = ahead > g.tolerance ? ahead - g.tolerance : 0;
  }
  return d;
}

Decision decide(const Gcra& g, uint64_t tat, uint64_t now, uint64_t* newTat) {
  uint64_t start = tat > now ? tat : now;
  uint64_t ahead = start - now;
  if (ahead > g.tolerance) {
    *newTat = tat;
    return fromAhead(g, false, ahead);
  }
  *newTat = start + g.interval;
  return fromAhead(g, true, ahead + g.interval);
}

}  // namespace sy::ratelimit
