// Ring::Batch, the worker's completion batching under load: when it turns on, how a wait that
// comes back short turns it off for a doubling number of waits, and how a full batch resets
// that. Pure state; no ring needed.
#include <doctest/doctest.h>

#include "switchyard/net/ring.h"

namespace sy::net {
namespace {

using B = Ring::Batch;

// Runs ordinary (unbatched) waits bringing `seen` completions until the batch asks again;
// returns how many waits that took.
unsigned waitsUntilAsked(B& b, unsigned seen) {
  unsigned n = 0;
  while (!b.want && n < 10000) {
    b.update(seen, 0, 0);
    ++n;
  }
  return n;
}

TEST_CASE("batching starts once a wait brings kAt completions, not before") {
  B b;
  b.enabled = true;
  b.update(B::kAt - 1, 0, 0);
  CHECK(b.want == 0);
  b.update(1, 3, 0);  // one completion beside three submitted entries: light load
  CHECK(b.want == 0);
  b.update(B::kAt, 0, 0);
  CHECK(b.want == B::kWant);
  // A full batched wait (its inline sends plus all it asked for) keeps it on.
  b.update(5 + B::kWant, 5, B::kWant);
  CHECK(b.want == B::kWant);
  CHECK(b.backoff == 1);
}

TEST_CASE("short batched waits back off, doubling up to kBackoffMax; a full one resets") {
  B b;
  b.enabled = true;
  b.update(B::kAt, 0, 0);
  REQUIRE(b.want == B::kWant);
  // Eight connections cannot fill a batch of 16: every batched wait times out.
  unsigned expect = 1;
  for (int round = 0; round < 12; ++round) {
    b.update(8 + 3, 8, B::kWant);  // 3 completions beyond the 8 inline sends: short
    CHECK(b.want == 0);
    CHECK(waitsUntilAsked(b, 12) == expect + 1);  // `expect` skipped waits, then one that asks
    expect = expect * 2 > B::kBackoffMax ? B::kBackoffMax : expect * 2;
  }
  CHECK(b.backoff == B::kBackoffMax);
  // Load comes back: a full batch resets the backoff.
  b.update(2 + B::kWant, 2, B::kWant);
  CHECK(b.backoff == 1);
  CHECK(b.want == B::kWant);
  b.update(B::kWant, 2, B::kWant);  // one short: a single skipped wait
  CHECK(waitsUntilAsked(b, B::kAt) == 2);
}

TEST_CASE("turned off, it never asks") {
  B b;
  b.enabled = false;
  for (unsigned seen : {0u, B::kAt, 100u}) {
    b.update(seen, 0, 0);
    CHECK(b.want == 0);
  }
}

}  // namespace
}  // namespace sy::net
