#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "switchyard/upstream/pool_gate.h"

using sy::upstream::GateWaiter;
using sy::upstream::PoolGate;

namespace {

// A waiter that goes when `room` allows (taking a pool slot on its turn) and logs its order.
struct TestWaiter {
  GateWaiter node;
  PoolGate* gate = nullptr;
  unsigned worker = 0;
  std::string name;
  std::vector<std::string>* log = nullptr;

  TestWaiter(PoolGate& g, unsigned w, std::string n, std::vector<std::string>& l)
      : gate(&g), worker(w), name(std::move(n)), log(&l) {
    node.owner = this;
    node.turn = [](GateWaiter* x) {
      auto* t = static_cast<TestWaiter*>(x->owner);
      if (!t->gate->tryEnter(true)) return false;
      t->gate->remove(t->worker, x);
      t->log->push_back(t->name);
      return true;
    };
  }
};

}  // namespace

TEST_CASE("PoolGate: max_requests bounds slots; nobody jumps a non-empty queue") {
  sy::upstream::setWorkerWake(nullptr);  // kick() serves on this thread (no workers here)
  PoolGate g(2);
  g.configure(2, 8);
  CHECK(g.tryEnter(false));
  CHECK(g.tryEnter(false));
  CHECK_FALSE(g.tryEnter(false));
  CHECK(g.inFlight() == 2);
  std::vector<std::string> log;
  TestWaiter a(g, 0, "a", log);
  REQUIRE(g.enqueue(0, &a.node, 10));
  CHECK(g.pending() == 1);
  g.leave();  // no wake function installed: serves the oldest worker on this thread
  CHECK(log == std::vector<std::string>{"a"});
  CHECK(g.pending() == 0);
  CHECK(g.inFlight() == 2);
  // With a waiter queued, a new request may not take a freed slot first.
  TestWaiter b(g, 1, "b", log);
  REQUIRE(g.enqueue(1, &b.node, 20));
  g.undoEnter();  // a slot frees without a wake-up
  CHECK_FALSE(g.tryEnter(false));
  CHECK(g.tryEnter(true));  // the waiter's own turn may
}

TEST_CASE("PoolGate: max_pending bounds the queue across workers; remove is idempotent") {
  PoolGate g(2);
  g.configure(1, 2);
  REQUIRE(g.tryEnter(false));
  std::vector<std::string> log;
  TestWaiter a(g, 0, "a", log), b(g, 1, "b", log), c(g, 0, "c", log);
  CHECK(g.enqueue(0, &a.node, 1));
  CHECK(g.enqueue(1, &b.node, 2));
  CHECK_FALSE(g.enqueue(0, &c.node, 3));
  CHECK(g.pending() == 2);
  g.remove(0, &a.node);
  g.remove(0, &a.node);
  CHECK(g.pending() == 1);
  CHECK(g.enqueue(0, &c.node, 3));
  CHECK(g.pending() == 2);
}

TEST_CASE("PoolGate: freed slots go to the oldest waiter across workers, FIFO within one") {
  sy::upstream::setWorkerWake(nullptr);
  PoolGate g(3);
  g.configure(1, 10);
  REQUIRE(g.tryEnter(false));
  std::vector<std::string> log;
  TestWaiter w1a(g, 1, "1a", log), w2a(g, 2, "2a", log), w1b(g, 1, "1b", log),
      w0a(g, 0, "0a", log);
  REQUIRE(g.enqueue(1, &w1a.node, 100));
  REQUIRE(g.enqueue(2, &w2a.node, 200));
  REQUIRE(g.enqueue(1, &w1b.node, 300));
  REQUIRE(g.enqueue(0, &w0a.node, 400));
  CHECK(g.oldestWorker() == 1);
  for (int i = 0; i < 4; ++i) g.leave();  // each frees the slot the previous waiter took
  CHECK(log == std::vector<std::string>{"1a", "2a", "1b", "0a"});
  CHECK(g.pending() == 0);
  CHECK(g.oldestWorker() == -1);
}

TEST_CASE("PoolGate: a waiter that still cannot go stays first") {
  sy::upstream::setWorkerWake(nullptr);
  PoolGate g(1);
  g.configure(1, 4);
  REQUIRE(g.tryEnter(false));
  std::vector<std::string> log;
  TestWaiter a(g, 0, "a", log), b(g, 0, "b", log);
  REQUIRE(g.enqueue(0, &a.node, 1));
  REQUIRE(g.enqueue(0, &b.node, 2));
  g.serve(0);  // no slot free: nothing moves
  CHECK(log.empty());
  CHECK(g.pending() == 2);
  g.leave();
  CHECK(log == std::vector<std::string>{"a"});
  g.leave();
  CHECK(log == std::vector<std::string>{"a", "b"});
}

TEST_CASE("PoolGate: max_requests 0 counts without a cap") {
  PoolGate g(1);
  g.configure(0, 4);
  for (int i = 0; i < 100; ++i) CHECK(g.tryEnter(false));
  CHECK(g.inFlight() == 100);
}
