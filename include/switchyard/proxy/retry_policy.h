#pragma once
// The arithmetic of retries (pools[].retries), kept apart from UpstreamRequest so it can be
// tested alone: backoff with full jitter, Retry-After, and which retry condition a failure
// or an answer is. Any thread (pure functions; retryRandom() is per thread).

#include <cstdint>
#include <optional>
#include <string_view>

#include "switchyard/config/config.h"
#include "switchyard/metrics/stats.h"

namespace sy::proxy {

// Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the wait before retry
// number `retry` (1 = the first retry) is uniform in [0, min(max, base * 2^(retry-1))] ms,
// drawn from the 64 random bits `random`.
uint64_t backoffMs(uint32_t retry, uint64_t baseMs, uint64_t maxMs, uint64_t random);

// A Retry-After value (RFC 9110 §10.2.3): delta-seconds ("120") or an HTTP-date in the
// preferred IMF-fixdate form ("Sun, 06 Nov 1994 08:49:37 GMT"), as milliseconds from
// `nowUnix` (a date in the past is 0). nullopt when it is neither.
std::optional<uint64_t> parseRetryAfterMs(std::string_view value, int64_t nowUnix);

// 64 random bits from this thread's generator (seeded once per thread).
uint64_t retryRandom();

// The retries.on bit a response status is retried under (0: never).
constexpr uint32_t retryConditionOfStatus(int status) {
  switch (status) {
    case 429: return config::kRetry429;
    case 500: return config::kRetry500;
    case 502: return config::kRetry502;
    case 503: return config::kRetry503;
    case 504: return config::kRetry504;
    default: return 0;
  }
}

// The switchyard_retries_total reason cell of a retry condition bit.
constexpr metrics::Counter retryReasonCell(uint32_t condition) {
  uint32_t i = condition == config::kRetryConnectFailure ? 0
               : condition == config::kRetryReset        ? 1
               : condition == config::kRetryTimeout      ? 2
               : condition == config::kRetry429          ? 3
               : condition == config::kRetry500          ? 4
               : condition == config::kRetry502          ? 5
               : condition == config::kRetry503          ? 6
               : condition == config::kRetry504          ? 7
               : condition == config::kRetryUnavailable  ? 9
                                                         : 8;  // keepalive_race
  return static_cast<metrics::Counter>(metrics::kRetryReasonFirst + i);
}

}  // namespace sy::proxy
