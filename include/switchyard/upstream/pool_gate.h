#pragma once
// pools[].limits: the requests in flight to one pool, counted across all workers, and the FIFO
// queue of requests waiting for a slot (HAProxy's maxconn + queue, Envoy's pending requests).
//
// Counting: one shared atomic of requests holding a pool slot and one of queued requests. The
// fast path (nobody queued, room left) is a load of `pending` and one compare-and-swap on
// `inFlight`; giving the slot back is one fetch_sub and a load. No lock anywhere.
//
// Queueing: each worker keeps its own FIFO of waiters (intrusive, touched by that worker only)
// and publishes when its oldest waiter started waiting. A freed slot (pool or backend) wakes
// the worker whose oldest waiter has waited longest, through a uv_async (setWorkerWake), and
// that worker lets its waiters go in order while slots last. So order is FIFO within a worker
// and roughly FIFO across workers (by enqueue time), and a slot freed on worker A reaches a
// waiter on worker B. While anyone is queued, new requests queue behind instead of taking a
// freed slot first. A request that was queued and is woken re-checks everything (pool slot,
// backend slots) and stays at the head of its queue when it still cannot go.
//
// Lifetime: created on the main thread with the snapshot, carried over by pool name across
// reloads (so slots and waiters are not lost); configure() publishes new limits.

#include <atomic>
#include <cstdint>
#include <memory>

namespace sy::upstream {

// A queued request, owned by it. Worker thread only.
struct GateWaiter {
  GateWaiter* prev = nullptr;
  GateWaiter* next = nullptr;
  uint64_t sinceNs = 0;  // uv_hrtime() when it was queued
  bool queued = false;
  // Called on the waiter's worker when it may be able to go. Returns true when it left the
  // queue (it called PoolGate::remove), false when it still cannot go (it stays first).
  bool (*turn)(GateWaiter*) = nullptr;
  void* owner = nullptr;
};

class PoolGate {
 public:
  explicit PoolGate(unsigned workers);
  PoolGate(const PoolGate&) = delete;
  PoolGate& operator=(const PoolGate&) = delete;

  // Main thread: the limits in force from now on (0 max_requests = no pool-wide cap).
  void configure(uint32_t maxRequests, uint32_t maxPending);
  uint32_t maxRequests() const { return maxRequests_.load(std::memory_order_relaxed); }
  uint32_t maxPending() const { return maxPending_.load(std::memory_order_relaxed); }

  // Any worker. Takes a pool slot: false when the pool is at max_requests, or (unless `queued`,
  // a waiter's own turn) when requests are queued already.
  bool tryEnter(bool queued);
  // Gives a slot back and wakes a waiter if any.
  void leave();
  // Gives back a slot taken by tryEnter() that was not used, without waking anyone.
  void undoEnter() { inFlight_.fetch_sub(1, std::memory_order_seq_cst); }
  // A backend slot of this pool was freed: wakes a waiter if any.
  void slotFreed() {
    if (pending_.load(std::memory_order_seq_cst) > 0) kick();
  }

  int32_t inFlight() const { return inFlight_.load(std::memory_order_relaxed); }
  int32_t pending() const { return pending_.load(std::memory_order_relaxed); }

  // Worker `w` only. Appends `x` to w's queue; false when max_pending requests wait already.
  bool enqueue(unsigned w, GateWaiter* x, uint64_t nowNs);
  // Worker `w` only; idempotent.
  void remove(unsigned w, GateWaiter* x);
  // Worker `w` only: lets w's waiters go, first come first, while they can.
  void serve(unsigned w);
  // Any thread: wakes the worker whose oldest waiter has waited longest (nothing when none).
  void kick();
  // The worker that kick() would wake, or -1.
  int oldestWorker() const;

 private:
  struct alignas(64) Queue {
    GateWaiter* head = nullptr;
    GateWaiter* tail = nullptr;
    std::atomic<uint64_t> oldestNs{0};  // head's sinceNs, 0 = empty (published for kick)
  };
  alignas(64) std::atomic<int32_t> inFlight_{0};
  alignas(64) std::atomic<int32_t> pending_{0};
  std::atomic<uint32_t> maxRequests_{0};
  std::atomic<uint32_t> maxPending_{0};
  unsigned workers_;
  std::unique_ptr<Queue[]> queues_;
};

// Set by the server before workers start (main thread): asks worker `w` to call serve() on the
// gates of its pools. Without one (unit tests), kick() serves on the calling thread.
using WorkerWake = void (*)(unsigned w);
void setWorkerWake(WorkerWake fn);

}  // namespace sy::upstream
