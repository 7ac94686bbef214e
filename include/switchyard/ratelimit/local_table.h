#pragma once
// The `local` store: GCRA state of up to max_keys keys, shared by all workers of the process
// without a lock. A fixed-size open-addressing table of 16-byte slots {key hash, TAT}, both
// std::atomic<uint64_t>; a decision is a CAS loop on the TAT of the key's slot, so a worker never
// waits on another one (a lost CAS just recomputes).
//
// Keys: a 64-bit hash of policy + key (hashKey()); the values 0 and 1 are reserved (empty slot,
// slot being evicted). Two keys whose hashes collide share one state: with 100,000 keys the chance
// that any two collide is about 3e-10, accepted rather than storing the key bytes.
// Lookup: the key's hash picks a window of kWindow consecutive slots (capacity is the next power of
// two >= 2 * max_keys); the key is searched in the whole window, and a new key takes the first
// empty slot of it. Two workers inserting the same new key at once while a third frees a slot in
// the window may place it twice for an instant; each re-scans after inserting and the copy in the
// later slot gives way, so at most one extra decision is made on a fresh state.
// Bound and eviction (least recently used, approximately): a slot's TAT carries a "referenced" bit
// set by every decision. When the table holds max_keys keys, or a window is full, one key is
// evicted: a clock hand sweeps the slots, clearing referenced bits, and takes the first slot whose
// key was not referenced since the last sweep, or whose TAT is already past (such a state is
// equivalent to no state at all, so evicting it changes no decision). A decision racing with the
// eviction of its own key may be lost, as if the key had been evicted just after.
// Memory: 32 bytes per max_keys (4 MiB for the default 100,000). Any thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "switchyard/ratelimit/gcra.h"

namespace sy::ratelimit {

class LocalTable {
 public:
  static constexpr uint32_t kWindow = 16;

  explicit LocalTable(uint32_t maxKeys);
  LocalTable(const LocalTable&) = delete;
  LocalTable& operator=(const LocalTable&) = delete;

  // One GCRA step for key hash `h` (from hashKey()) at `now` (ns, monotonic).
  Decision decide(uint64_t h, const Gcra& g, uint64_t now);

  // Keys held right now (approximate while other threads insert).
  uint32_t size() const { return size_.load(std::memory_order_relaxed); }
  uint32_t maxKeys() const { return maxKeys_; }
  size_t capacity() const { return mask_ + 1; }

 private:
  struct Slot {
    std::atomic<uint64_t> key{0};
    std::atomic<uint64_t> tat{0};  // kReferenced | TAT in ns
  };
  static constexpr uint64_t kEmpty = 0;
  static constexpr uint64_t kEvicting = 1;
  static constexpr uint64_t kReferenced = 1ull << 63;

  Slot* find(uint64_t h, uint64_t now);
  Slot* insert(uint64_t h, uint64_t now);
  bool evictOne(uint64_t now);
  bool evict(Slot& s, uint64_t key);

  uint32_t maxKeys_;
  size_t mask_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<uint32_t> size_{0};
  alignas(64) std::atomic<uint64_t> hand_{0};
};

// 64-bit hash of a policy identity and a key (never 0 or 1). FNV-1a with a final mix.
uint64_t hashKey(uint64_t policySeed, std::string_view key);

}  // namespace sy::ratelimit
