#include "switchyard/ratelimit/local_table.h"

#include <bit>

namespace sy::ratelimit {

uint64_t hashKey(uint64_t seed, std::string_view key) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // splitmix64 finaliser: the low bits pick the window.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h < 2 ? h + 2 : h;
}

LocalTable::LocalTable(uint32_t maxKeys) : maxKeys_(maxKeys ? maxKeys : 1) {
  size_t cap = std::bit_ceil(size_t{maxKeys_} * 2);
  if (cap < 2 * kWindow) cap = 2 * kWindow;
  mask_ = cap - 1;
  slots_ = std::make_unique<Slot[]>(cap);
}

LocalTable::Slot* LocalTable::find(uint64_t h, uint64_t) {
  size_t base = h & mask_;
  for (uint32_t i = 0; i < kWindow; ++i) {
    Slot& s = slots_[(base + i) & mask_];
    if (s.key.load(std::memory_order_acquire) == h) return &s;
  }
  return nullptr;
}

bool LocalTable::evict(Slot& s, uint64_t key) {
  uint64_t k = key;
  if (!s.key.compare_exchange_strong(k, kEvicting, std::memory_order_acq_rel)) return false;
  s.tat.store(0, std::memory_order_relaxed);
  s.key.store(kEmpty, std::memory_order_release);
  return true;
}

bool LocalTable::evictOne(uint64_t now) {
  // Two full sweeps at most: the first clears every referenced bit.
  const size_t steps = 2 * (mask_ + 1);
  for (size_t n = 0; n < steps; ++n) {
    Slot& s = slots_[hand_.fetch_add(1, std::memory_order_relaxed) & mask_];
    uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == kEmpty || k == kEvicting) continue;
    uint64_t t = s.tat.load(std::memory_order_relaxed);
    if ((t & kReferenced) && (t & ~kReferenced) > now) {
      s.tat.compare_exchange_strong(t, t & ~kReferenced, std::memory_order_relaxed);
      continue;
    }
    if (evict(s, k)) {
      size_.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

LocalTable::Slot* LocalTable::insert(uint64_t h, uint64_t now) {
  if (size_.fetch_add(1, std::memory_order_relaxed) >= maxKeys_) evictOne(now);
  size_t base = h & mask_;
  for (int attempt = 0; attempt < 4; ++attempt) {
    Slot* claimed = nullptr;
    for (uint32_t i = 0; i < kWindow && !claimed; ++i) {
      Slot& s = slots_[(base + i) & mask_];
      uint64_t k = s.key.load(std::memory_order_acquire);
      if (k == h) {  // inserted meanwhile by another thread
        size_.fetch_sub(1, std::memory_order_relaxed);
        return &s;
      }
      if (k == kEmpty && s.key.compare_exchange_strong(k, h, std::memory_order_acq_rel))
        claimed = &s;
    }
    if (claimed) {
      // Another thread may have placed h in an earlier slot of the window: keep the first.
      for (uint32_t i = 0; i < kWindow; ++i) {
        Slot& s = slots_[(base + i) & mask_];
        if (&s == claimed) break;
        if (s.key.load(std::memory_order_acquire) == h) {
          if (evict(*claimed, h)) size_.fetch_sub(1, std::memory_order_relaxed);
          return &s;
        }
      }
      return claimed;
    }
    // The window is full: evict the least useful slot of it (TAT past, else not referenced,
    // else the smallest TAT) and retry. The count stays: one key leaves, one comes.
    Slot* victim = nullptr;
    uint64_t best = ~0ull;
    for (uint32_t i = 0; i < kWindow; ++i) {
      Slot& s = slots_[(base + i) & mask_];
      uint64_t t = s.tat.load(std::memory_order_relaxed);
      uint64_t tat = t & ~kReferenced;
      uint64_t score = tat <= now ? 0 : (t & kReferenced) ? tat | kReferenced : tat;
      if (score < best) {
        best = score;
        victim = &s;
      }
    }
    if (victim) {
      uint64_t k = victim->key.load(std::memory_order_acquire);
      if (k != kEmpty && k != kEvicting && evict(*victim, k))
        size_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  size_.fetch_sub(1, std::memory_order_relaxed);
  return nullptr;  // heavy contention on one window: decide without state (fail open)
}

Decision LocalTable::decide(uint64_t h, const Gcra& g, uint64_t now) {
  Slot* s = find(h, now);
  if (!s) s = insert(h, now);
  uint64_t unused;
  if (!s) return ratelimit::decide(g, 0, now, &unused);
  uint64_t cur = s->tat.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t next = 0;
    Decision d = ratelimit::decide(g, cur & ~kReferenced, now, &next);
    if (s->tat.compare_exchange_weak(cur, next | kReferenced, std::memory_order_relaxed)) return d;
  }
}

}  // namespace sy::ratelimit
