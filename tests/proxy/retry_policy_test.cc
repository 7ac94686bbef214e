// The arithmetic of retries: full-jitter backoff bounds, Retry-After parsing, the status codes
// retried under each `on` condition.
#include <doctest/doctest.h>

#include <cstdint>

#include "switchyard/proxy/retry_policy.h"

namespace sy::proxy {

TEST_CASE("full jitter stays within [0, min(max, base * 2^(n-1))]") {
  uint64_t seed = 0x1234;
  for (uint32_t retry = 1; retry <= 8; ++retry) {
    uint64_t cap = 25;
    for (uint32_t i = 1; i < retry; ++i) cap *= 2;
    if (cap > 250) cap = 250;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 4000; ++i) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      uint64_t d = backoffMs(retry, 25, 250, seed);
      CHECK(d <= cap);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    CAPTURE(retry);
    CHECK(lo <= cap / 10);      // the draw covers the range: near 0...
    CHECK(hi >= cap * 9 / 10);  // ...and near the cap
  }
  // The extremes of the random bits give the ends of the range.
  CHECK(backoffMs(1, 25, 250, 0) == 0);
  CHECK(backoffMs(1, 25, 250, UINT64_MAX) == 25);
  CHECK(backoffMs(3, 25, 250, UINT64_MAX) == 100);
  CHECK(backoffMs(30, 25, 250, UINT64_MAX) == 250);  // no overflow on large retry numbers
  CHECK(backoffMs(1, 0, 0, UINT64_MAX) == 0);         // backoff off
  CHECK(backoffMs(0, 25, 250, UINT64_MAX) == 0);
}

TEST_CASE("retryRandom draws differ") {
  uint64_t a = retryRandom(), b = retryRandom();
  CHECK(a != b);
}

TEST_CASE("Retry-After: delta-seconds") {
  CHECK(parseRetryAfterMs("0", 0) == 0u);
  CHECK(parseRetryAfterMs("1", 0) == 1000u);
  CHECK(parseRetryAfterMs(" 120 ", 0) == 120000u);
  CHECK(parseRetryAfterMs("99999999999999999999", 0).has_value());  // saturates, no overflow
  CHECK_FALSE(parseRetryAfterMs("", 0).has_value());
  CHECK_FALSE(parseRetryAfterMs("1.5", 0).has_value());
  CHECK_FALSE(parseRetryAfterMs("-1", 0).has_value());
  CHECK_FALSE(parseRetryAfterMs("5s", 0).has_value());
}

TEST_CASE("Retry-After: IMF-fixdate, relative to now") {
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777 (RFC 9110's example).
  const int64_t at = 784111777;
  CHECK(parseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", at - 3) == 3000u);
  CHECK(parseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", at) == 0u);
  CHECK(parseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", at + 60) == 0u);  // in the past
  CHECK(parseRetryAfterMs("Thu, 01 Jan 2026 00:00:00 GMT", 1767225600 - 2) == 2000u);
  CHECK_FALSE(parseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 UTC", at).has_value());
  CHECK_FALSE(parseRetryAfterMs("Sunday, 06-Nov-94 08:49:37 GMT", at).has_value());
  CHECK_FALSE(parseRetryAfterMs("Sun, 06 Foo 1994 08:49:37 GMT", at).has_value());
  CHECK_FALSE(parseRetryAfterMs("Sun, 06 Nov 1994 25:49:37 GMT", at).has_value());
}

TEST_CASE("status codes map to their retries.on condition and metric reason") {
  CHECK(retryConditionOfStatus(429) == config::kRetry429);
  CHECK(retryConditionOfStatus(500) == config::kRetry500);
  CHECK(retryConditionOfStatus(503) == config::kRetry503);
  CHECK(retryConditionOfStatus(501) == 0u);
  CHECK(retryConditionOfStatus(200) == 0u);
  CHECK(std::string(metrics::kRetryReasons[retryReasonCell(config::kRetryTimeout) -
                                           metrics::kRetryReasonFirst]) == "timeout");
  CHECK(std::string(metrics::kRetryReasons[retryReasonCell(config::kRetry429) -
                                           metrics::kRetryReasonFirst]) == "429");
  CHECK(std::string(metrics::kRetryReasons[retryReasonCell(0) - metrics::kRetryReasonFirst]) ==
        "keepalive_race");
  CHECK(std::string(metrics::kRetryReasons[retryReasonCell(config::kRetryUnavailable) -
                                           metrics::kRetryReasonFirst]) == "unavailable");
}

}  // namespace sy::proxy
