#pragma once
// Per-worker deadlines for many connections, driven by one uv_timer.
//
// A connection embeds a 40-byte TimerWheel::Entry instead of its own uv_timer_t (152 bytes plus
// a heap node); moving a deadline is an unlink and a link (O(1), no heap). Deadlines are kept in
// a hashed wheel of slots of one tick each (8 ms x 1024 by default): an entry sits in the slot of the tick its
// deadline rounds up to, and a slot is visited at that tick (entries due in a later turn of the
// wheel stay until theirs). The uv_timer is armed only for the next non-empty slot, so an idle
// wheel does not wake the loop. An entry fires no earlier than its deadline and at most one
// tick late. Worker thread only.

#include <cstddef>
#include <cstdint>
#include <memory>

#include <uv.h>

namespace sy::net {

class TimerWheel {
 public:
  static constexpr uint64_t kDefaultTickMs = 8;
  static constexpr size_t kDefaultSlots = 1024;  // one turn: ~8.2 s

  struct Entry {
    Entry* prev = nullptr;  // null while not scheduled
    Entry* next = nullptr;
    uint64_t due = 0;  // uv_now() milliseconds
    void (*fire)(Entry*) = nullptr;
    void* data = nullptr;  // the owner's
    bool scheduled() const { return prev != nullptr; }
  };

  // `slots` is rounded up to a multiple of 64.
  explicit TimerWheel(uv_loop_t* loop, uint64_t tickMs = kDefaultTickMs,
                      size_t slots = kDefaultSlots);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  ~TimerWheel();

  // (Re)schedules `e` to fire at uv_now() time `due` (e->fire must be set). A due time in the
  // past fires at the next tick.
  void schedule(Entry* e, uint64_t due);
  // Unschedules `e` (no-op if it is not scheduled).
  void cancel(Entry* e);
  size_t size() const { return count_; }
  // Closes the uv_timer (the loop can end). The wheel must be empty.
  void close();

 private:
  static void onTimer(uv_timer_t* t);
  void advance(uint64_t now);
  void arm(uint64_t now);
  bool isHead(const Entry* e) const { return e >= slots_.get() && e < slots_.get() + nslots_; }
  void link(Entry* e, size_t slot);
  void unlink(Entry* e);
  // Offset from slot `start` to the first non-empty slot at or after it (nslots_: none).
  size_t nextNonEmpty(size_t start) const;

  uv_loop_t* loop_;
  uv_timer_t timer_;
  const uint64_t tickMs_;
  const size_t nslots_;
  std::unique_ptr<Entry[]> slots_;     // list heads (circular, sentinel)
  std::unique_ptr<uint64_t[]> bits_;  // non-empty slots
  uint64_t processed_ = 0;  // every tick <= processed_ has been visited
  uint64_t armedTick_ = 0;  // tick the uv_timer is armed for (0: not armed)
  size_t count_ = 0;
  bool closed_ = false;
  bool firing_ = false;  // inside onTimer(): schedule() leaves arming to it
};

}  // namespace sy::net
