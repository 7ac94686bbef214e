#pragma once
// The balancing policy interface. One instance per pool per worker (so cursors need no
// locks), created when a worker adopts a snapshot. select() runs on that worker only.

#include <cstdint>
#include <memory>
#include <string_view>

#include <sys/socket.h>

#include "switchyard/upstream/backend.h"

namespace sy::balancing {

struct SelectionContext {
  const sockaddr* client = nullptr;  // peer address of the client connection
  uint64_t hashKey = 0;              // for hashing policies
  // Backends already tried for this request; never chosen again.
  const upstream::Backend* const* tried = nullptr;
  uint32_t triedCount = 0;

  bool wasTried(const upstream::Backend* b) const {
    for (uint32_t i = 0; i < triedCount; ++i)
      if (tried[i] == b) return true;
    return false;
  }
};

class Policy {
 public:
  virtual ~Policy() = default;
  // A backend for this request, or nullptr when none may be used.
  virtual upstream::Backend* select(const SelectionContext& ctx) = 0;
};

// Shared health filtering: whether the pool is in panic mode (the share of available backends
// is below the pool's panic_threshold, so every backend is a candidate: fail open), and
// whether one backend is a candidate for this request.
bool panicMode(const upstream::BackendSet& set);
inline bool isCandidate(const upstream::Backend& b, const SelectionContext& ctx, bool panic) {
  if (ctx.wasTried(&b)) return false;
  if (b.adminState() == upstream::AdminState::kDisabled) return false;
  if (panic) return b.adminState() == upstream::AdminState::kEnabled;
  return b.available();
}

// Creates the policy named by set.cfg.policy. The set must outlive the policy.
std::unique_ptr<Policy> makePolicy(const upstream::BackendSet& set);

}  // namespace sy::balancing
