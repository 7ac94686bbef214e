#include "switchyard/ratelimit/local_table.h"

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace sy::ratelimit;

namespace {
constexpr uint64_t kSec = 1'000'000'000;
}

TEST_CASE("local table: one state per key") {
  LocalTable t(100);
  Gcra g = Gcra::of(1, kSec, 1);
  uint64_t a = hashKey(1, "10.0.0.1"), b = hashKey(1, "10.0.0.2");
  CHECK(a != b);
  CHECK(hashKey(1, "x") != hashKey(2, "x"));
  const uint64_t now = 100 * kSec;
  CHECK(t.decide(a, g, now).allowed);
  CHECK(t.decide(a, g, now).allowed);
  CHECK_FALSE(t.decide(a, g, now).allowed);
  CHECK(t.decide(b, g, now).allowed);
  CHECK(t.size() == 2);
}

TEST_CASE("local table: memory stays bounded by max_keys") {
  LocalTable t(1000);
  Gcra g = Gcra::of(1, 3600 * kSec, 0);  // states stay live for an hour
  uint64_t now = 10 * kSec;
  for (int i = 0; i < 20000; ++i) {
    t.decide(hashKey(7, "key" + std::to_string(i)), g, now);
    CHECK_MESSAGE(t.size() <= t.maxKeys(), i);
    now += 1000;
  }
  CHECK(t.size() <= 1000);
  CHECK(t.size() >= 900);
  CHECK(t.capacity() == 2048);
}

TEST_CASE("local table: recently used keys survive eviction, idle ones go first") {
  LocalTable t(64);
  Gcra g = Gcra::of(1, 3600 * kSec, 0);
  uint64_t now = 10 * kSec;
  const uint64_t hot = hashKey(3, "hot");
  CHECK(t.decide(hot, g, now).allowed);
  for (int i = 0; i < 5000; ++i) {
    t.decide(hashKey(3, "cold" + std::to_string(i)), g, now);
    // The hot key is used all the time: it stays limited (its state is never evicted).
    if (i % 8 == 0) CHECK_MESSAGE(!t.decide(hot, g, now).allowed, i);
  }
}

TEST_CASE("local table: concurrent decisions from threads lose no update") {
  LocalTable t(1000);
  // 1 per hour, burst 999: exactly 1000 of the attempts below may pass, whatever the interleaving.
  Gcra g = Gcra::of(1, 3600 * kSec, 999);
  const uint64_t key = hashKey(9, "shared");
  std::atomic<uint64_t> allowed{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < 1000; ++i) {
        if (t.decide(key, g, 50 * kSec).allowed) allowed.fetch_add(1);
        // Other keys inserted at the same time.
        t.decide(hashKey(9, "t" + std::to_string(th) + "/" + std::to_string(i % 50)), g, 50 * kSec);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(allowed.load() == 1000);
  CHECK(t.size() == 201);
}
