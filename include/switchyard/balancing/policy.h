#pragma once
// The balancing policy interface. One instance per pool per worker (so cursors need no
// locks), created when a worker adopts a snapshot. select() runs on that worker only.
// Policies: round_robin, least_conn, geo_weighted, p2c, hash (README "Balancing policies").

#include <cstdint>
#include <memory>
#include <string_view>

#include <sys/socket.h>

#include "switchyard/config/units.h"
#include "switchyard/geo/location.h"
#include "switchyard/upstream/backend.h"

namespace sy::geo {
class Locator;
}

namespace sy::balancing {

struct SelectionContext {
  const sockaddr* client = nullptr;  // peer address of the client connection
  // The client's location when the policy needs it (PolicyNeeds::location) and some source
  // placed the client; nullptr otherwise.
  const geo::ClientLocation* location = nullptr;
  uint64_t hashKey = 0;  // hash of the request's key when PolicyNeeds::hashKey is set
  // Backends already tried for this request; never chosen again.
  const upstream::Backend* const* tried = nullptr;
  uint32_t triedCount = 0;

  bool wasTried(const upstream::Backend* b) const {
    for (uint32_t i = 0; i < triedCount; ++i)
      if (tried[i] == b) return true;
    return false;
  }
};

// What a policy reads from a request beyond the client address. The session computes only
// these, once per request (proxy/selection_keys.h).
struct PolicyNeeds {
  bool location = false;                     // fill SelectionContext::location
  const config::HashKey* hashKey = nullptr;  // fill SelectionContext::hashKey from this key
};

// State a pool's policy shares between all workers for one config snapshot (round robin's
// ticket and schedule, the hash ring): built once on the main thread with the snapshot
// (prepareShared in registry.h), read by every worker's policy instance.
struct PolicyShared {
  virtual ~PolicyShared() = default;
};

class Policy {
 public:
  virtual ~Policy() = default;
  // A backend for this request, or nullptr when none may be used.
  virtual upstream::Backend* select(const SelectionContext& ctx) = 0;
  const PolicyNeeds& needs() const { return needs_; }

 protected:
  PolicyNeeds needs_;
};

// Shared health filtering: whether the pool is in panic mode (the share of available backends
// is below the pool's panic_threshold, so every backend is a candidate: fail open), and
// whether one backend is a candidate for this request.
bool panicMode(const upstream::BackendSet& set);
inline bool isCandidate(const upstream::Backend& b, const SelectionContext& ctx, bool panic) {
  if (ctx.wasTried(&b)) return false;
  if (b.adminState() == upstream::AdminState::kDisabled) return false;
  if (b.full()) return false;  // at backends[].max_requests
  if (panic) return b.adminState() == upstream::AdminState::kEnabled;
  return b.available();
}
// Whether some backend would be a candidate but is at its max_requests: the request should
// wait for a slot rather than fail.
bool anyFullCandidate(const upstream::BackendSet& set, const SelectionContext& ctx);
// The weight a policy balances by: the effective weight (slow start), at least 1.
inline int64_t selectionWeight(const upstream::Backend& b) {
  int64_t w = b.effectiveWeight();
  return w > 0 ? w : 1;
}

// Creates the policy set.cfg.policy names (its row in registry.h). The set (and `geo`, which
// geo_weighted reads for region coordinates) must outlive the policy. Called on the worker that
// will use it. Defined in registry.cc.
std::unique_ptr<Policy> makePolicy(const upstream::BackendSet& set,
                                   const geo::Locator* geo = nullptr);

}  // namespace sy::balancing
