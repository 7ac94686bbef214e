// pools[].retries and timeouts.request: every key read with its default, and bad values
// refused with file:line:column.
#include <doctest/doctest.h>

#include <string>

#include "switchyard/config/loader.h"

namespace sy::config {
namespace {

std::string withRetries(const std::string& retries) {
  return "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
         "pools:\n"
         "  - name: web\n"
         "    backends: [{address: 127.0.0.1:9001}]\n"
         "    retries: {" + retries + "}\n";
}

std::string errorOf(const std::string& yaml) {
  auto config = loadConfigString(yaml, "t.yaml");
  REQUIRE_FALSE(config.has_value());
  return config.error().format();
}

}  // namespace

TEST_CASE("retries defaults: 2 attempts on connect failures, 64 KiB kept, 25-250 ms backoff") {
  auto c = loadConfigString(withRetries("attempts: 2"), "t.yaml");
  REQUIRE(c.has_value());
  const Retries& r = c->pools[0].retries;
  CHECK(r.attempts == 2);
  CHECK(r.on == kRetryConnectFailure);
  CHECK(r.perTryTimeout.count() == 0);
  CHECK_FALSE(r.allMethods);
  CHECK(r.maxBodyBytes == 64 * 1024);
  CHECK(r.backoffBase.count() == 25);
  CHECK(r.backoffMax.count() == 250);
  CHECK_FALSE(r.budget.has_value());
  CHECK(r.hedgeAfter.count() == 0);
  CHECK(c->timeouts.request.count() == 0);
}

TEST_CASE("every retries key is read") {
  auto c = loadConfigString(
      withRetries("attempts: 3, on: [timeout, 429, 5xx, reset, unavailable], "
                  "per_try_timeout: 300ms, "
                  "methods: all, max_body_bytes: 1MiB, backoff: {base: 10ms, max: 1s}, "
                  "budget: {percent: 25%, min_per_second: 3}, hedge: {after: 40ms}") +
          "timeouts: {request: 5s}\n",
      "t.yaml");
  REQUIRE(c.has_value());
  const Retries& r = c->pools[0].retries;
  CHECK(r.attempts == 3);
  CHECK(r.on == (kRetryTimeout | kRetry429 | kRetry500 | kRetry502 | kRetry503 | kRetry504 |
                 kRetryReset | kRetryUnavailable));
  CHECK(r.perTryTimeout.count() == 300);
  CHECK(r.allMethods);
  CHECK(r.maxBodyBytes == 1024 * 1024);
  CHECK(r.backoffBase.count() == 10);
  CHECK(r.backoffMax.count() == 1000);
  REQUIRE(r.budget.has_value());
  CHECK(r.budget->percent == doctest::Approx(0.25));
  CHECK(r.budget->minPerSecond == 3);
  CHECK(r.hedgeAfter.count() == 40);
  CHECK(c->timeouts.request.count() == 5000);
  auto defaults = loadConfigString(withRetries("budget: {}"), "t.yaml");
  REQUIRE(defaults.has_value());
  CHECK(defaults->pools[0].retries.budget->percent == doctest::Approx(0.20));
  CHECK(defaults->pools[0].retries.budget->minPerSecond == 10);
}

TEST_CASE("bad retries values are refused where they are written") {
  CHECK(errorOf(withRetries("methods: some")) ==
        "t.yaml:5:24: pools[0].retries.methods: must be one of: idempotent, all");
  CHECK(errorOf(withRetries("on: [slow]")) ==
        "t.yaml:5:20: pools[0].retries.on[0]: must be one of: connect_failure, reset, timeout, "
        "429, 500, 502, 503, 504, 5xx, unavailable");
  CHECK(errorOf(withRetries("backoff: {base: 1s, max: 10ms}")) ==
        "t.yaml:5:40: pools[0].retries.backoff.max: max (10ms) must be >= base (1s)");
  CHECK(errorOf(withRetries("hedge: {}")).find("pools[0].retries.hedge: missing required key "
                                               "'after'") != std::string::npos);
  CHECK(errorOf(withRetries("max_body_bytes: 2MiB")).find("pools[0].retries.max_body_bytes") !=
        std::string::npos);
  CHECK(errorOf(withRetries("attempts: 16")).find("pools[0].retries.attempts") !=
        std::string::npos);
  CHECK(errorOf(withRetries("budget: {percent: 120%}")).find("pools[0].retries.budget.percent") !=
        std::string::npos);
  CHECK(errorOf(withRetries("retry_on: [reset]")).find("unknown key") != std::string::npos);
  CHECK(errorOf(withRetries("per_try_timeout: 5")).find("pools[0].retries.per_try_timeout") !=
        std::string::npos);
}

TEST_CASE("timeouts.request is top-level only") {
  std::string pool = "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
                     "pools:\n"
                     "  - name: web\n"
                     "    backends: [{address: 127.0.0.1:9001}]\n"
                     "    timeouts: {request: 1s}\n";
  CHECK(errorOf(pool) ==
        "t.yaml:5:16: pools[0].timeouts.request: has no effect here: the whole-request timeout "
        "is set once, under the top-level timeouts");
}

}  // namespace sy::config
