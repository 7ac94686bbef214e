// rate_limits:, redis: and routes[].rate_limit.
#include <doctest/doctest.h>

#include <string>

#include "switchyard/config/loader.h"

using namespace sy::config;

namespace {

std::string withRoute(const std::string& routeExtra, const std::string& top) {
  return "listeners:\n  - listen: 127.0.0.1:0\n    routes:\n      - pool: web\n" + routeExtra +
         "pools:\n  - name: web\n    backends: [{address: 127.0.0.1:9001}]\n" + top;
}

std::string errorOf(const std::string& yaml) {
  auto c = loadConfigString(yaml, "t.yaml");
  REQUIRE_FALSE(c.has_value());
  return c.error().format();
}

}  // namespace

TEST_CASE("rate_limits: policies and route references") {
  auto c = loadConfigString(
      withRoute("        rate_limit: [per_key, per_ip]\n",
                "rate_limits:\n"
                "  - {name: per_ip, rate: 10/s, burst: 5}\n"
                "  - {name: per_key, key: [\"header:X-Key\", route, query:u], rate: 2/m, "
                "mode: dry_run, store: redis, max_keys: 10}\n"
                "redis: {address: 127.0.0.1:6379}\n"),
      "t.yaml");
  REQUIRE_MESSAGE(c.has_value(), c.error().format());
  REQUIRE(c->rateLimits.size() == 2);
  const RateLimitPolicy& ip = c->rateLimits[0];
  CHECK(ip.count == 10);
  CHECK(ip.period == std::chrono::seconds(1));
  CHECK(ip.burst == 5);
  CHECK(ip.key.size() == 1);
  CHECK(ip.key[0].kind == RateLimitKeyPart::Kind::kClientIp);
  CHECK_FALSE(ip.dryRun);
  CHECK_FALSE(ip.redis);
  CHECK(ip.maxKeys == 100000);
  const RateLimitPolicy& key = c->rateLimits[1];
  CHECK(key.key.size() == 3);
  CHECK(key.key[0].kind == RateLimitKeyPart::Kind::kHeader);
  CHECK(key.key[0].name == "X-Key");
  CHECK(key.key[2].kind == RateLimitKeyPart::Kind::kQuery);
  CHECK(key.dryRun);
  CHECK(key.redis);
  CHECK(key.maxKeys == 10);
  REQUIRE(c->redis);
  CHECK(c->redis->timeout == std::chrono::milliseconds(20));
  CHECK(c->listeners[0].routes[0].rateLimits == std::vector<uint32_t>{1, 0});
}

TEST_CASE("rate_limits: errors name the position") {
  CHECK(errorOf(withRoute("        rate_limit: [nope]\n",
                          "rate_limits:\n  - {name: per_ip, rate: 10/s}\n")) ==
        "t.yaml:5:22: listeners[0].routes[0].rate_limit[0]: unknown rate limit policy 'nope' "
        "(policies: per_ip)");
  CHECK(errorOf(withRoute("", "rate_limits:\n  - {name: a, rate: 10/d}\n")) ==
        "t.yaml:9:21: rate_limits[0].rate: must be N/s, N/m or N/h (N a whole number from 1)");
  CHECK(errorOf(withRoute("", "rate_limits:\n  - {name: a, rate: 1/s, key: [ip]}\n"))
            .find("rate_limits[0].key[0]: must be client_ip, host, route") != std::string::npos);
  CHECK(errorOf(withRoute("", "rate_limits:\n  - {name: a, rate: 1/s, mode: soft}\n"))
            .find("must be one of: reject, dry_run") != std::string::npos);
  CHECK(errorOf(withRoute("", "rate_limits:\n  - {name: a, rate: 1/s, store: redis}\n"))
            .find("store: redis needs a top-level `redis:") != std::string::npos);
  CHECK(errorOf(withRoute("", "rate_limits:\n  - {name: a, rate: 1/s}\n  - {name: a, rate: 2/s}\n"))
            .find("policy 'a' is defined twice") != std::string::npos);
  CHECK(errorOf(withRoute("", "rate_limits:\n  - {name: a, rate: 1/s, brust: 1}\n"))
            .find("brust: unknown key") != std::string::npos);
  CHECK(errorOf(withRoute("", "redis: {address: 127.0.0.1:6379, password_file: /nonexistent/x}\n"))
            .find("cannot read '/nonexistent/x'") != std::string::npos);
}
