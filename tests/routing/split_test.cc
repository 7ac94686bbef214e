#include <doctest/doctest.h>

#include <map>
#include <vector>

#include "switchyard/routing/route_table.h"
#include "switchyard/routing/split.h"

using sy::routing::pickSplitByHash;
using sy::routing::SmoothSplit;
using sy::routing::SplitSide;

TEST_CASE("SmoothSplit: exact shares over every window of `total` picks, interleaved") {
  std::vector<SplitSide> sides = {{7, 95}, {9, 5}};
  SmoothSplit s(sides.size());
  std::vector<size_t> picks;
  for (int i = 0; i < 2000; ++i) picks.push_back(s.pick(sides, 100));
  for (size_t start = 0; start + 100 <= picks.size(); start += 100) {
    int canary = 0;
    for (size_t i = start; i < start + 100; ++i) canary += picks[i] == 1;
    CHECK(canary == 5);
  }
  // Spread out: never two canary picks within 19 of each other.
  size_t last = 0;
  bool seen = false;
  for (size_t i = 0; i < picks.size(); ++i) {
    if (picks[i] != 1) continue;
    if (seen) CHECK(i - last >= 19);
    last = i;
    seen = true;
  }
}

TEST_CASE("SmoothSplit: three sides") {
  std::vector<SplitSide> sides = {{0, 3}, {1, 2}, {2, 1}};
  SmoothSplit s(3);
  std::map<size_t, int> n;
  for (int i = 0; i < 600; ++i) ++n[s.pick(sides, 6)];
  CHECK(n[0] == 300);
  CHECK(n[1] == 200);
  CHECK(n[2] == 100);
}

TEST_CASE("pickSplitByHash: stable per key, proportional over many keys") {
  std::vector<SplitSide> sides = {{0, 90}, {1, 10}};
  int canary = 0;
  for (uint64_t k = 0; k < 100000; ++k) {
    const size_t side = pickSplitByHash(sides, 100, k * 0x9e3779b97f4a7c15ull);
    CHECK(side == pickSplitByHash(sides, 100, k * 0x9e3779b97f4a7c15ull));
    canary += side == 1;
  }
  CHECK(canary > 9500);
  CHECK(canary < 10500);
  // Sequential keys (small integers) are spread too, not all on one side.
  int low = 0;
  for (uint64_t k = 0; k < 1000; ++k) low += pickSplitByHash(sides, 100, k) == 1;
  CHECK(low > 50);
  CHECK(low < 150);
}

TEST_CASE("pickSplitByHash: moving weight only moves users across the boundary") {
  std::vector<SplitSide> before = {{0, 95}, {1, 5}};
  std::vector<SplitSide> after = {{0, 80}, {1, 20}};
  for (uint64_t k = 0; k < 20000; ++k) {
    const uint64_t h = k * 0xbf58476d1ce4e5b9ull + 17;
    // A user in the canary at 5% stays in it at 20%.
    if (pickSplitByHash(before, 100, h) == 1) CHECK(pickSplitByHash(after, 100, h) == 1);
  }
}

TEST_CASE("pickSplitByHash: degenerate inputs") {
  std::vector<SplitSide> none;
  CHECK(pickSplitByHash(none, 0, 42) == 0);
  std::vector<SplitSide> one = {{3, 1}};
  CHECK(pickSplitByHash(one, 1, ~0ull) == 0);
}
