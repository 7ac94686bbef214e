// The retry budget's arithmetic: percent of the requests over the last ~10 s, plus a floor of
// min_per_second, and nothing more; old seconds fall out of the window.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "switchyard/upstream/retry_budget.h"

namespace sy::upstream {

namespace {
uint32_t allowed(RetryBudget& b, uint64_t nowMs, double percent, uint32_t floor, int tries) {
  uint32_t n = 0;
  for (int i = 0; i < tries; ++i) n += b.tryRetry(nowMs, percent, floor);
  return n;
}
}  // namespace

TEST_CASE("20% of 100 requests plus a floor of 10 allows 30 retries in that second") {
  RetryBudget b;
  const uint64_t t = 1'000'000;
  for (int i = 0; i < 100; ++i) b.noteRequest(t);
  CHECK(b.requestsInWindow(t) == 100);
  CHECK(allowed(b, t, 0.20, 10, 1000) == 30);
  CHECK(b.retriesInWindow(t) == 20);  // the floor's retries are not counted against percent
}

TEST_CASE("no budget configured as 0% and no floor allows nothing") {
  RetryBudget b;
  for (int i = 0; i < 100; ++i) b.noteRequest(5000);
  CHECK(allowed(b, 5000, 0.0, 0, 100) == 0);
}

TEST_CASE("the floor refills at min_per_second and holds at most one second's worth") {
  RetryBudget b;
  uint64_t t = 2'000'000;
  CHECK(allowed(b, t, 0.2, 10, 100) == 10);  // a full bucket at first
  CHECK(allowed(b, t + 100, 0.2, 10, 100) == 1);   // 100 ms later: one more
  CHECK(allowed(b, t + 500, 0.2, 10, 100) == 4);   // 400 ms more: four more
  CHECK(allowed(b, t + 60'000, 0.2, 10, 100) == 10);  // a long calm: still one second's worth
}

TEST_CASE("requests older than the window no longer earn retries") {
  RetryBudget b;
  const uint64_t t = 3'000'000;
  for (int i = 0; i < 100; ++i) b.noteRequest(t);
  CHECK(b.requestsInWindow(t + 9'000) == 100);
  CHECK(b.requestsInWindow(t + 10'000) == 0);
  CHECK(allowed(b, t + 10'000, 0.5, 0, 100) == 0);
  for (int i = 0; i < 10; ++i) b.noteRequest(t + 10'000);  // the recycled slot starts at zero
  CHECK(b.requestsInWindow(t + 10'000) == 10);
  CHECK(allowed(b, t + 10'000, 0.5, 0, 100) == 5);
}

TEST_CASE("a failing pool under steady load retries at most percent of its requests plus the floor") {
  RetryBudget b;
  uint64_t retries = 0, requests = 0;
  for (uint64_t ms = 0; ms < 30'000; ms += 5) {  // 200 requests/s for 30 s, each one failing
    b.noteRequest(100'000 + ms);
    ++requests;
    retries += b.tryRetry(100'000 + ms, 0.2, 10);
  }
  CHECK(retries <= requests / 5 + 10 * 31);
  CHECK(retries >= requests / 5);
}

TEST_CASE("workers sharing a budget stay within it (no lock)") {
  RetryBudget b;
  const uint64_t t = 7'000'000;
  for (int i = 0; i < 1000; ++i) b.noteRequest(t);
  std::atomic<uint32_t> granted{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&] { granted += allowed(b, t, 0.1, 5, 500); });
  for (auto& th : workers) th.join();
  // 100 from the ratio (a check-then-add race may let each worker overshoot by one) + 5.
  CHECK(granted.load() >= 105);
  CHECK(granted.load() <= 105 + 4);
}

}  // namespace sy::upstream
