// The loader's side of pool limits (pools[].limits, max_idle_per_backend, backends[].max_requests)
// and of routes[].fault.

#include <doctest/doctest.h>

#include "switchyard/config/loader.h"

namespace sy::config {
namespace {

std::string text(const std::string& route, const std::string& pool) {
  return "listeners:\n  - listen: 127.0.0.1:0\n    routes:\n      - pool: web\n" + route +
         "pools:\n  - name: web\n    backends: [{address: 127.0.0.1:9001}]\n" + pool;
}

Config load(const std::string& route, const std::string& pool) {
  auto config = loadConfigString(text(route, pool), "t.yaml");
  if (!config) FAIL("unexpected error: " << config.error().format());
  return std::move(*config);
}

std::string errorOf(const std::string& route, const std::string& pool) {
  auto config = loadConfigString(text(route, pool), "t.yaml");
  REQUIRE_FALSE(config.has_value());
  return config.error().format();
}

TEST_CASE("limits keys: defaults") {
  Config c = load("", "");
  const Pool& p = c.pools[0];
  CHECK(p.limits.maxRequests == 0);
  CHECK(p.limits.maxPending == 1024);
  CHECK(p.limits.pendingTimeout == std::chrono::seconds(5));
  CHECK(p.maxIdlePerBackend == kDefaultMaxIdlePerBackend);
  CHECK(p.backends[0].maxRequests == 0);
  CHECK_FALSE(c.listeners[0].routes[0].fault.has_value());
}

TEST_CASE("limits keys: values and errors") {
  Config c = load("", "    limits: {max_requests: 4, max_pending: 0, pending_timeout: 250ms}\n"
                      "    max_idle_per_backend: 0\n");
  CHECK(c.pools[0].limits.maxRequests == 4);
  CHECK(c.pools[0].limits.maxPending == 0);
  CHECK(c.pools[0].limits.pendingTimeout == std::chrono::milliseconds(250));
  CHECK(c.pools[0].maxIdlePerBackend == 0);
  CHECK(errorOf("", "    limits: {max_requests: 0}\n").find("pools[0].limits.max_requests") !=
        std::string::npos);
  CHECK(errorOf("", "    limits: {max_request: 3}\n").find("t.yaml:8:14: pools[0].limits.max_request: unknown key") == 0);
  CHECK(errorOf("", "    max_idle_per_backend: -1\n").find("max_idle_per_backend") !=
        std::string::npos);
}

TEST_CASE("fault keys: delay, abort, trusted") {
  Config c = load(R"(        fault:
          delay: {duration: 100ms, percent: 10%}
          abort: {status: 503, percent: 0.01}
          trusted: [10.0.0.0/8, "::1"]
)", "");
  const Fault& f = *c.listeners[0].routes[0].fault;
  REQUIRE(f.delay);
  CHECK(f.delay->duration == std::chrono::milliseconds(100));
  CHECK(f.delay->percent == doctest::Approx(0.10));
  REQUIRE(f.abort);
  CHECK(f.abort->status == 503);
  CHECK(f.abort->percent == doctest::Approx(0.01));
  CHECK(f.trusted.size() == 2);
}

TEST_CASE("fault keys: errors point at the key") {
  CHECK(errorOf("        fault: {abort: {status: 99, percent: 1%}}\n", "")
            .find("listeners[0].routes[0].fault.abort.status") != std::string::npos);
  CHECK(errorOf("        fault: {delay: {duration: 1h, percent: 1%}}\n", "")
            .find("must be at most 30s") != std::string::npos);
  CHECK(errorOf("        fault: {delay: {duration: 1s}}\n", "").find("percent") !=
        std::string::npos);
  CHECK(errorOf("        fault: {trusted: [not-a-cidr]}\n", "")
            .find("listeners[0].routes[0].fault.trusted[0]") != std::string::npos);
  CHECK(errorOf("        fault: {}\n", "").find("give delay, abort or trusted") !=
        std::string::npos);
  CHECK(errorOf("        fault: {abort: {status: 503, percent: 1%}, typo: 1}\n", "")
            .find("t.yaml:5:") == 0);
}

}  // namespace
}  // namespace sy::config
