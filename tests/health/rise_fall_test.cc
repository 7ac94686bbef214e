#include "switchyard/health/rise_fall.h"

#include <doctest/doctest.h>

using sy::health::RiseFall;

TEST_CASE("RiseFall: starts up; goes down after `fall` failures in a row") {
  RiseFall rf(2, 3);
  CHECK(rf.up());
  CHECK_FALSE(rf.record(false));
  CHECK_FALSE(rf.record(false));
  CHECK(rf.streak() == 2);
  CHECK(rf.up());
  CHECK(rf.record(false));  // the third one flips it
  CHECK_FALSE(rf.up());
  CHECK(rf.streak() == 0);
  CHECK_FALSE(rf.record(false));  // more failures change nothing
  CHECK_FALSE(rf.up());
}

TEST_CASE("RiseFall: a pass in between resets the failure streak") {
  RiseFall rf(2, 3);
  rf.record(false);
  rf.record(false);
  CHECK_FALSE(rf.record(true));
  CHECK(rf.streak() == 0);
  CHECK_FALSE(rf.record(false));
  CHECK_FALSE(rf.record(false));
  CHECK(rf.up());
  CHECK(rf.record(false));
  CHECK_FALSE(rf.up());
}

TEST_CASE("RiseFall: comes back after `rise` passes in a row") {
  RiseFall rf(2, 3, /*up=*/false);
  CHECK_FALSE(rf.up());
  CHECK_FALSE(rf.record(true));
  CHECK_FALSE(rf.record(false));  // resets
  CHECK_FALSE(rf.record(true));
  CHECK(rf.record(true));
  CHECK(rf.up());
}

TEST_CASE("RiseFall: the run that caused a transition does not count towards the next one") {
  RiseFall rf(3, 2);
  rf.record(false);
  CHECK(rf.record(false));  // down
  CHECK_FALSE(rf.record(true));
  CHECK_FALSE(rf.record(true));
  CHECK(rf.record(true));  // up after exactly 3 passes
  CHECK_FALSE(rf.record(false));
  CHECK(rf.record(false));  // down after exactly 2 failures
}

TEST_CASE("RiseFall: thresholds of 1 flip on every change") {
  RiseFall rf(1, 1);
  CHECK(rf.record(false));
  CHECK_FALSE(rf.up());
  CHECK(rf.record(true));
  CHECK(rf.up());
  CHECK_FALSE(rf.record(true));
}

TEST_CASE("RiseFall: a reload may change the thresholds and keeps the streak") {
  RiseFall rf(2, 5);
  rf.record(false);
  rf.record(false);
  rf.setThresholds(2, 3);
  CHECK(rf.record(false));
  CHECK_FALSE(rf.up());
  SUBCASE("zero thresholds act as 1") {
    rf.setThresholds(0, 0);
    CHECK(rf.record(true));
  }
}
