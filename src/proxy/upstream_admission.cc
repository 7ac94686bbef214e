// UpstreamRequest's admission to a pool: pools[].limits (requests in flight across workers, the
// FIFO queue in front of them) and backends[].max_requests. The gate itself (counters, per-
// worker queues, cross-worker wake-ups) is upstream::PoolGate; this is the request's side.
#include <algorithm>

#include "switchyard/balancing/policy.h"
#include "switchyard/proxy/upstream_request.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

// A backend picked by the policy may fill up before its slot is taken (other workers race
// for it): pick again this many times before waiting.
constexpr int kPickTries = 4;

}  // namespace

UpstreamRequest::Admission UpstreamRequest::admit(bool queued, upstream::Backend** out) {
  *out = nullptr;
  upstream::PoolGate* gate = set_->limited ? set_->gate.get() : nullptr;
  bool tookPoolSlot = false;
  if (gate && !holdsPoolSlot_) {
    if (!gate->tryEnter(queued)) return Admission::kWait;
    holdsPoolSlot_ = tookPoolSlot = true;
  }
  balancing::SelectionContext ctx;
  ctx.client = clientAddr_.sa();
  ctx.location = selection_.location.known() ? &selection_.location : nullptr;
  ctx.hashKey = selection_.hashKey;
  ctx.tried = tried_;
  ctx.triedCount = triedCount_;
  for (int i = 0; i < kPickTries; ++i) {
    upstream::Backend* b = policy_->select(ctx);
    if (!b) break;
    if (b->tryAddInFlight()) {
      *out = b;
      return Admission::kGo;
    }
  }
  if (gate && balancing::anyFullCandidate(*set_, ctx)) {
    // Every usable backend is at its max_requests: wait for one, without holding a pool slot
    // that another request could use meanwhile.
    if (tookPoolSlot) {
      gate->undoEnter();
      holdsPoolSlot_ = false;
    }
    return Admission::kWait;
  }
  return Admission::kNone;
}

void UpstreamRequest::waitForSlot() {
  upstream::PoolGate& gate = *set_->gate;
  const uint64_t timeoutMs = static_cast<uint64_t>(set_->cfg.limits.pendingTimeout.count());
  if (timeoutMs == 0 || !gate.enqueue(w_->id(), &waiter_, uv_hrtime())) {
    overflow("service unavailable: the pool is at its request limit and its queue is full");
    return;
  }
  setDeadline(uv_now(w_->loop()) + timeoutMs);
  gate.kick();  // a slot may have freed between the check and the enqueue
}

bool UpstreamRequest::onQueueTurn(upstream::GateWaiter* x) {
  auto* r = static_cast<UpstreamRequest*>(x->owner);
  upstream::Backend* b = nullptr;
  if (r->admit(true, &b) == Admission::kWait) return false;
  r->leaveQueue(true);
  r->launchAttempt(b);
  return true;
}

void UpstreamRequest::leaveQueue(bool waited) {
  if (!waiter_.queued || !w_ || !set_) return;
  set_->gate->remove(w_->id(), &waiter_);
  if (waited && set_->stats)
    set_->stats->shard(w_->id()).observe(metrics::kPendingWait, uv_hrtime() - waiter_.sinceNs);
  deadline_ = 0;  // the timer may stay armed for other deadlines; a stale firing re-arms
}

void UpstreamRequest::releasePoolSlot() {
  if (!holdsPoolSlot_) return;
  holdsPoolSlot_ = false;
  set_->gate->leave();
}

void UpstreamRequest::backendSlotFreed() {
  if (!set_->limited) {
    backend_->addInFlight(-1);
    return;
  }
  // Ordered before the gate's look at its queue (pool_gate.h): a waiter that queued after our
  // decrement sees the free slot itself.
  backend_->releaseInFlight();
  set_->gate->slotFreed();
}

void UpstreamRequest::overflow(const char* why) {
  if (set_->stats) set_->stats->shard(w_->id()).add(metrics::kPoolOverflow);
  const uint64_t ms = static_cast<uint64_t>(set_->cfg.limits.pendingTimeout.count());
  retryAfter_ = static_cast<uint32_t>(std::max<uint64_t>(1, (ms + 999) / 1000));
  sink_->respondLocal(503, metrics::LocalReason::kOverflow, why, !requestComplete_);
}

}  // namespace sy::proxy
