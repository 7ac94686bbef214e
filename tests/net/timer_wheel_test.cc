#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <uv.h>

#include "../uv_test_loop.h"
#include "switchyard/net/timer_wheel.h"

using sy::net::TimerWheel;

namespace {

using Loop = UvTestLoop;

// An entry that records when it fired.
struct Probe {
  TimerWheel::Entry entry;
  uv_loop_t* loop = nullptr;
  uint64_t firedAt = 0;
  int fired = 0;
  // What to do when firing (optional).
  void (*then)(Probe*) = nullptr;
  void* ctx = nullptr;

  Probe() {
    entry.data = this;
    entry.fire = [](TimerWheel::Entry* e) {
      auto* p = static_cast<Probe*>(e->data);
      p->firedAt = uv_now(p->loop);
      ++p->fired;
      if (p->then) p->then(p);
    };
  }
};

// Runs the loop until the wheel is empty (or 5 s passed).
void runUntilEmpty(Loop& l, TimerWheel& w) {
  l.runUntil([&] { return w.size() == 0; }, 5000);
}

// Closes the wheel's timer and lets the close finish (before the wheel's memory goes).
void finish(Loop& l, TimerWheel& w) {
  w.close();
  uv_run(&l.loop, UV_RUN_DEFAULT);
}

}  // namespace

TEST_CASE("TimerWheel: entries fire in deadline order, never early, at most about a tick late") {
  Loop l;
  TimerWheel w(&l.loop, 2, 64);  // 2 ms ticks, one turn = 128 ms
  std::vector<Probe> probes(40);  // (Probe is not moved after this: `data` points at it)
  uv_update_time(&l.loop);
  const uint64_t start = uv_now(&l.loop);
  std::mt19937 rng(7);
  std::vector<uint64_t> due(probes.size());
  for (size_t i = 0; i < probes.size(); ++i) {
    probes[i].loop = &l.loop;
    due[i] = start + 1 + rng() % 300;  // up to more than two turns ahead
    w.schedule(&probes[i].entry, due[i]);
  }
  CHECK(w.size() == probes.size());
  runUntilEmpty(l, w);
  CHECK(w.size() == 0);
  for (size_t i = 0; i < probes.size(); ++i) {
    CAPTURE(i);
    CHECK(probes[i].fired == 1);
    CHECK(probes[i].firedAt >= due[i]);
    CHECK_FALSE(probes[i].entry.scheduled());
  }
  // Order: an entry due at least two ticks before another fired no later than it.
  for (size_t i = 0; i < probes.size(); ++i)
    for (size_t j = 0; j < probes.size(); ++j)
      if (due[i] + 4 <= due[j]) CHECK(probes[i].firedAt <= probes[j].firedAt);
  finish(l, w);
}

TEST_CASE("TimerWheel: an empty wheel lets the loop end; a due time in the past fires next tick") {
  Loop l;
  TimerWheel w(&l.loop, 1, 64);
  CHECK(uv_run(&l.loop, UV_RUN_NOWAIT) == 0);  // nothing armed: no active handle
  Probe p;
  p.loop = &l.loop;
  uv_update_time(&l.loop);
  w.schedule(&p.entry, 0);  // long past
  CHECK(p.entry.scheduled());
  uv_run(&l.loop, UV_RUN_DEFAULT);  // returns once the wheel disarms itself
  CHECK(p.fired == 1);
  CHECK(w.size() == 0);
  finish(l, w);
}

TEST_CASE("TimerWheel: cancel and reschedule, also from inside a callback") {
  Loop l;
  TimerWheel w(&l.loop, 1, 64);
  uv_update_time(&l.loop);
  const uint64_t now = uv_now(&l.loop);
  Probe a, b, c, d;
  for (Probe* p : {&a, &b, &c, &d}) p->loop = &l.loop;

  // a and b share a slot; a's callback cancels b (still on the list being visited) and
  // moves c later.
  struct Ctx {
    TimerWheel* w;
    Probe* b;
    Probe* c;
    uint64_t cDue;
  } ctx{&w, &b, &c, now + 150};
  a.ctx = &ctx;
  a.then = [](Probe* p) {
    auto* x = static_cast<Ctx*>(p->ctx);
    x->w->cancel(&x->b->entry);
    x->w->schedule(&x->c->entry, x->cDue);
  };
  w.schedule(&a.entry, now + 10);
  w.schedule(&b.entry, now + 10);
  w.schedule(&c.entry, now + 20);
  // d: scheduled, moved earlier, then cancelled outright.
  w.schedule(&d.entry, now + 100);
  w.schedule(&d.entry, now + 5);
  CHECK(w.size() == 4);
  w.cancel(&d.entry);
  w.cancel(&d.entry);  // twice is harmless
  CHECK(w.size() == 3);

  runUntilEmpty(l, w);
  CHECK(a.fired == 1);
  CHECK(b.fired == 0);
  CHECK(d.fired == 0);
  CHECK(c.fired == 1);
  CHECK(c.firedAt >= now + 150);
  CHECK(w.size() == 0);
  finish(l, w);
}

TEST_CASE("TimerWheel: an entry rescheduled from its own callback fires again") {
  Loop l;
  TimerWheel w(&l.loop, 1, 64);
  uv_update_time(&l.loop);
  Probe p;
  p.loop = &l.loop;
  struct Ctx {
    TimerWheel* w;
    std::vector<uint64_t> at;
  } ctx{&w, {}};
  p.ctx = &ctx;
  p.then = [](Probe* self) {
    auto* x = static_cast<Ctx*>(self->ctx);
    x->at.push_back(self->firedAt);
    if (x->at.size() < 5) x->w->schedule(&self->entry, self->firedAt + 30);  // 30 ms apart
  };
  w.schedule(&p.entry, uv_now(&l.loop) + 30);
  runUntilEmpty(l, w);
  REQUIRE(ctx.at.size() == 5);
  for (size_t i = 1; i < ctx.at.size(); ++i) CHECK(ctx.at[i] >= ctx.at[i - 1] + 30);
  finish(l, w);
}

TEST_CASE("TimerWheel: many entries spread over several turns, half cancelled") {
  Loop l;
  TimerWheel w(&l.loop, 1, 128);
  uv_update_time(&l.loop);
  const uint64_t now = uv_now(&l.loop);
  std::vector<Probe> probes(2000);
  std::mt19937 rng(11);
  std::vector<uint64_t> due(probes.size());
  for (size_t i = 0; i < probes.size(); ++i) {
    probes[i].loop = &l.loop;
    due[i] = now + rng() % 400;
    w.schedule(&probes[i].entry, due[i]);
  }
  for (size_t i = 0; i < probes.size(); i += 2) w.cancel(&probes[i].entry);
  CHECK(w.size() == probes.size() / 2);
  runUntilEmpty(l, w);
  size_t fired = 0;
  for (size_t i = 0; i < probes.size(); ++i) {
    CAPTURE(i);
    CHECK(probes[i].fired == (i % 2 ? 1 : 0));
    if (i % 2) CHECK(probes[i].firedAt >= due[i]);
    fired += static_cast<size_t>(probes[i].fired);
  }
  CHECK(fired == probes.size() / 2);
  finish(l, w);
}
