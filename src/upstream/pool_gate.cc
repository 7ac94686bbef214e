#include "switchyard/upstream/pool_gate.h"

#include "switchyard/common/bounded_counter.h"

namespace sy::upstream {
namespace {

std::atomic<WorkerWake> gWake{nullptr};

}  // namespace

void setWorkerWake(WorkerWake fn) { gWake.store(fn, std::memory_order_release); }

PoolGate::PoolGate(unsigned workers)
    : workers_(workers == 0 ? 1 : workers), queues_(new Queue[workers == 0 ? 1 : workers]) {}

void PoolGate::configure(uint32_t maxRequests, uint32_t maxPending) {
  maxRequests_.store(maxRequests, std::memory_order_relaxed);
  maxPending_.store(maxPending, std::memory_order_relaxed);
  // Raised limits let waiters go now rather than at the next freed slot.
  if (pending() > 0) kick();
}

bool PoolGate::tryEnter(bool queued) {
  if (!queued && pending_.load(std::memory_order_seq_cst) > 0) return false;
  return tryIncrementBelow(inFlight_, static_cast<int32_t>(maxRequests()));
}

void PoolGate::leave() {
  inFlight_.fetch_sub(1, std::memory_order_seq_cst);
  if (pending_.load(std::memory_order_seq_cst) > 0) kick();
}

bool PoolGate::enqueue(unsigned w, GateWaiter* x, uint64_t nowNs) {
  if (x->queued) return true;
  const int32_t max = static_cast<int32_t>(maxPending());
  if (pending_.fetch_add(1, std::memory_order_seq_cst) >= max) {
    pending_.fetch_sub(1, std::memory_order_seq_cst);
    return false;
  }
  Queue& q = queues_[w % workers_];
  x->sinceNs = nowNs == 0 ? 1 : nowNs;
  x->next = nullptr;
  x->prev = q.tail;
  if (q.tail) {
    q.tail->next = x;
  } else {
    q.head = x;
    q.oldestNs.store(x->sinceNs, std::memory_order_relaxed);
  }
  q.tail = x;
  x->queued = true;
  return true;
}

void PoolGate::remove(unsigned w, GateWaiter* x) {
  if (!x->queued) return;
  Queue& q = queues_[w % workers_];
  if (x->prev) x->prev->next = x->next; else q.head = x->next;
  if (x->next) x->next->prev = x->prev; else q.tail = x->prev;
  x->prev = x->next = nullptr;
  x->queued = false;
  q.oldestNs.store(q.head ? q.head->sinceNs : 0, std::memory_order_relaxed);
  pending_.fetch_sub(1, std::memory_order_seq_cst);
}

void PoolGate::serve(unsigned w) {
  Queue& q = queues_[w % workers_];
  bool servedAll = true;
  while (GateWaiter* x = q.head) {
    if (!x->turn(x)) {
      servedAll = false;
      break;
    }
    if (q.head == x) remove(w, x);  // a turn that forgot to leave must not spin here
  }
  // Woken for nothing left here (the waiter gave up meanwhile): pass the wake-up on.
  if (servedAll && pending() > 0) {
    const int next = oldestWorker();
    if (next >= 0 && static_cast<unsigned>(next) != w % workers_) kick();
  }
}

int PoolGate::oldestWorker() const {
  int best = -1;
  uint64_t bestNs = 0;
  for (unsigned i = 0; i < workers_; ++i) {
    const uint64_t ns = queues_[i].oldestNs.load(std::memory_order_relaxed);
    if (ns != 0 && (best < 0 || ns < bestNs)) {
      best = static_cast<int>(i);
      bestNs = ns;
    }
  }
  return best;
}

void PoolGate::kick() {
  const int w = oldestWorker();
  if (w < 0) return;
  if (WorkerWake fn = gWake.load(std::memory_order_acquire)) {
    fn(static_cast<unsigned>(w));
  } else {
    serve(static_cast<unsigned>(w));
  }
}

}  // namespace sy::upstream
