#include "switchyard/net/timer_wheel.h"

#include <algorithm>

namespace sy::net {

TimerWheel::TimerWheel(uv_loop_t* loop, uint64_t tickMs, size_t slots)
    : loop_(loop),
      tickMs_(tickMs ? tickMs : 1),
      nslots_((std::max<size_t>(slots, 64) + 63) / 64 * 64),
      slots_(new Entry[nslots_]),
      bits_(new uint64_t[nslots_ / 64]()) {
  for (size_t i = 0; i < nslots_; ++i) slots_[i].prev = slots_[i].next = &slots_[i];
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  processed_ = uv_now(loop_) / tickMs_;
}

TimerWheel::~TimerWheel() = default;

void TimerWheel::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void TimerWheel::link(Entry* e, size_t slot) {
  Entry* head = &slots_[slot];
  e->next = head;
  e->prev = head->prev;
  head->prev->next = e;
  head->prev = e;
  bits_[slot / 64] |= uint64_t{1} << (slot % 64);
}

void TimerWheel::unlink(Entry* e) {
  Entry* p = e->prev;
  Entry* n = e->next;
  p->next = n;
  n->prev = p;
  e->prev = e->next = nullptr;
  if (p == n && isHead(p)) {  // its slot is empty now
    size_t slot = static_cast<size_t>(p - slots_.get());
    bits_[slot / 64] &= ~(uint64_t{1} << (slot % 64));
  }
}

void TimerWheel::schedule(Entry* e, uint64_t due) {
  if (e->prev) {
    unlink(e);
    --count_;
  }
  e->due = due;
  const uint64_t now = uv_now(loop_);
  // With nothing scheduled and no timer armed there is nothing behind `now` left to visit.
  if (count_ == 0 && armedTick_ == 0) processed_ = std::max(processed_, now / tickMs_);
  uint64_t tick = (due + tickMs_ - 1) / tickMs_;
  if (tick <= processed_) tick = processed_ + 1;
  link(e, static_cast<size_t>(tick % nslots_));
  ++count_;
  if (closed_ || firing_) return;  // onTimer() arms once the visit is over
  if (armedTick_ == 0 || tick < armedTick_) {
    armedTick_ = tick;
    const uint64_t at = tick * tickMs_;
    uv_timer_start(&timer_, onTimer, at > now ? at - now : 0, 0);
  }
}

void TimerWheel::cancel(Entry* e) {
  if (!e->prev) return;
  unlink(e);
  --count_;
}

size_t TimerWheel::nextNonEmpty(size_t start) const {
  for (size_t k = 0; k < nslots_;) {
    const size_t idx = (start + k) % nslots_;
    const size_t bit = idx % 64;
    const uint64_t word = bits_[idx / 64] >> bit;
    if (word) {
      const size_t off = k + static_cast<size_t>(__builtin_ctzll(word));
      return off < nslots_ ? off : nslots_;
    }
    k += 64 - bit;
  }
  return nslots_;
}

void TimerWheel::onTimer(uv_timer_t* t) {
  auto* w = static_cast<TimerWheel*>(t->data);
  w->armedTick_ = 0;
  const uint64_t now = uv_now(w->loop_);
  w->firing_ = true;
  w->advance(now);
  w->firing_ = false;
  w->arm(now);
}

void TimerWheel::advance(uint64_t now) {
  const uint64_t nowTick = now / tickMs_;
  if (nowTick <= processed_) return;
  const uint64_t from = processed_ + 1;
  const uint64_t steps = std::min<uint64_t>(nowTick - processed_, nslots_);
  // Entries scheduled by the callbacks below land after nowTick, never in a slot being visited.
  processed_ = nowTick;
  for (uint64_t i = 0; i < steps; ++i) {
    const size_t slot = static_cast<size_t>((from + i) % nslots_);
    if (!(bits_[slot / 64] & (uint64_t{1} << (slot % 64)))) continue;
    // Move the slot's entries to a local list, then fire the due ones and put the others (due
    // in a later turn) back. A callback may cancel or reschedule any entry, including ones still
    // on the local list.
    Entry* head = &slots_[slot];
    Entry local;
    local.next = head->next;
    local.prev = head->prev;
    local.next->prev = &local;
    local.prev->next = &local;
    head->next = head->prev = head;
    bits_[slot / 64] &= ~(uint64_t{1} << (slot % 64));
    while (local.next != &local) {
      Entry* e = local.next;
      e->prev->next = e->next;
      e->next->prev = e->prev;
      if (e->due <= now) {
        e->prev = e->next = nullptr;
        --count_;
        e->fire(e);
      } else {
        link(e, slot);
      }
    }
  }
}

void TimerWheel::arm(uint64_t now) {
  if (count_ == 0 || closed_ || armedTick_ != 0) return;
  const size_t start = static_cast<size_t>((processed_ + 1) % nslots_);
  const size_t off = nextNonEmpty(start);
  if (off == nslots_) return;
  armedTick_ = processed_ + 1 + off;
  const uint64_t at = armedTick_ * tickMs_;
  uv_timer_start(&timer_, onTimer, at > now ? at - now : 0, 0);
}

}  // namespace sy::net
