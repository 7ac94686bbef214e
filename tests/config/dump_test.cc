// `--dump-config` (config/dump.h): the dump of a config loads again, to the same dump, and
// carries the defaults the input left out.

#include <doctest/doctest.h>

#include "switchyard/config/dump.h"
#include "switchyard/config/loader.h"
#include "switchyard/config/units.h"

namespace sy::config {
namespace {

std::string dumpOf(const std::string& yaml) {
  auto config = loadConfigString(yaml, "in.yaml");
  if (!config) FAIL("unexpected error: " << config.error().format());
  return dumpConfig(*config);
}

// Loads the dump again and dumps that: a faithful dump is a fixed point.
void checkRoundTrip(const std::string& yaml) {
  std::string first = dumpOf(yaml);
  auto again = loadConfigString(first, "dump.yaml");
  if (!again) FAIL("dump does not load: " << again.error().format() << "\n" << first);
  CHECK(dumpConfig(*again) == first);
}

TEST_CASE("dump: durations print as the shortest exact text") {
  CHECK(formatDuration(Duration{0}) == "0s");
  CHECK(formatDuration(Duration{250}) == "250ms");
  CHECK(formatDuration(Duration{90000}) == "1m30s");
  CHECK(formatDuration(Duration{3600000}) == "1h");
  CHECK(formatDuration(Duration{3601500}) == "1h1s500ms");
  CHECK(parseDuration(formatDuration(Duration{3601500})).value() == Duration{3601500});
}

TEST_CASE("dump: defaults filled in, round trip") {
  const std::string minimal = R"(listeners:
  - listen: 127.0.0.1:0
    routes: [{pool: web}]
pools:
  - name: web
    backends: [{address: "[::1]:9001"}, {name: b2, address: 127.0.0.1:9002, weight: 3}]
)";
  std::string d = dumpOf(minimal);
  CHECK(d.find("upstream_connect: 3s") != std::string::npos);
  CHECK(d.find("client_header: 10s") != std::string::npos);
  CHECK(d.find("max_body_bytes: 104857600") != std::string::npos);
  CHECK(d.find("name: listener0") != std::string::npos);
  CHECK(d.find("panic_threshold: 50%") != std::string::npos);
  CHECK(d.find("trusted_proxies: [\"127.0.0.0/8\", \"::1\"]") != std::string::npos);
  // A backend named by default after an IPv6 address keeps that default (no name: key,
  // "[::1]:9001" is not a valid name to write).
  CHECK(d.find("name: \"[::1]:9001\"") == std::string::npos);
  checkRoundTrip(minimal);
}

TEST_CASE("dump: optional sections round trip") {
  checkRoundTrip(R"(workers: 3
watch: true
admin: {listen: 127.0.0.1:0, token_file: /run/token}
access_log: {path: off, format: combined}
timeouts: {upstream_response: 1m30s, shutdown: 2500ms}
listeners:
  - name: h2
    listen: 127.0.0.1:0
    protocols: [h1, h2c]
    http2: {max_concurrent_streams: 50, initial_window_size: 1MiB}
    redirect_https: 8443
    routes:
      - match: {host: "*.example.com", path_prefix: /api}
        pool: geo
        rewrite_prefix: /v2
        request_headers: {set: {Host: internal}, remove: [Cookie]}
        response_headers: {remove: [Server]}
pools:
  - name: geo
    policy: geo_weighted
    geo: {overprovisioning: 1.25}
    backends:
      - {name: a, address: 127.0.0.1:9001, region: eu, zone: eu-1}
      - {name: b, address: 127.0.0.1:9002, location: {lat: -12.5, lon: 100.125}}
    health_check: {type: tcp, host: api, jitter: 12.5%, expected_statuses: [204, "300-308"]}
    outlier_detection: {max_ejection_percent: 30}
    retries: {attempts: 1, on: [reset, 5xx]}
    slow_start: 10s
    tls: {verify: false, sni: api.internal}
  - name: disc
    policy: hash
    hash_key: "header:X-User"
    discovery: {dns: "svc.local:8080", interval: 500ms, resolver: "127.0.0.1:53", weight: 4}
    backends: [{name: r, address: "app.local:80", resolve: true}]
regions:
  eu: {lat: 53.35, lon: -6.26}
geo:
  trusted_proxies: []
  client_header: ""
  networks: [{cidr: 10.0.0.0/8, region: eu}]
  default_region: eu
)");
}

TEST_CASE("dump: fault, retries, limits and the request timeout round trip") {
  const std::string yaml = R"(timeouts: {request: 45s}
listeners:
  - listen: 127.0.0.1:0
    routes:
      - match: {path_prefix: /a}
        pool: capped
        fault: {abort: {status: 429, percent: 2.5%}}
      - pool: hedged
        fault: {delay: {duration: 1500ms, percent: 100%}, trusted: ["::1", 10.0.0.0/8]}
pools:
  - name: capped
    backends: [{address: 127.0.0.1:9001, max_requests: 7}]
    limits: {max_requests: 20, max_pending: 0, pending_timeout: 250ms}
    max_idle_per_backend: 0
    retries:
      on: [timeout, 429, 5xx, connect_failure]
      per_try_timeout: 2s
      methods: all
      max_body_bytes: 1MiB
      backoff: {base: 0, max: 0}
      budget: {percent: 12.5%, min_per_second: 0}
  - name: hedged
    backends: [{address: 127.0.0.1:9002}]
    retries: {attempts: 3, hedge: {after: 40ms}}
)";
  std::string d = dumpOf(yaml);
  CHECK(d.find("request: 45s") != std::string::npos);
  CHECK(d.find("abort: {status: 429, percent: 2.5%}") != std::string::npos);
  CHECK(d.find("trusted: []") != std::string::npos);  // the abort-only fault
  CHECK(d.find("trusted: [\"::1\", \"10.0.0.0/8\"]") != std::string::npos);
  CHECK(d.find("max_requests: 7") != std::string::npos);
  CHECK(d.find("on: [connect_failure, timeout, 429, 500, 502, 503, 504]") != std::string::npos);
  CHECK(d.find("methods: all") != std::string::npos);
  CHECK(d.find("budget: {percent: 12.5%, min_per_second: 0}") != std::string::npos);
  CHECK(d.find("hedge: {after: 40ms}") != std::string::npos);
  CHECK(d.find("max_idle_per_backend: 0") != std::string::npos);
  // Off features are left out (budget and hedge of the other pool, delay of the abort fault),
  // and the pool without limits: gets the queue defaults but no cap.
  CHECK(d.find("budget:") == d.rfind("budget:"));
  CHECK(d.find("hedge:") == d.rfind("hedge:"));
  CHECK(d.find("delay:") == d.rfind("delay:"));
  CHECK(d.find("max_pending: 1024\n      pending_timeout: 5s") != std::string::npos);
  checkRoundTrip(yaml);
}

TEST_CASE("dump: rate_limits and redis round trip") {
  const std::string yaml = R"(listeners:
  - listen: 127.0.0.1:0
    routes:
      - {match: {path_prefix: /a}, pool: web, rate_limit: [hourly, per_ip]}
      - {pool: web}
pools:
  - {name: web, backends: [{address: 127.0.0.1:9001}]}
rate_limits:
  - {name: per_ip, rate: 100/s}
  - name: hourly
    key: [host, route, "header:X-User", "cookie:sid", "query:k", client_ip]
    rate: 7/h
    burst: 3
    mode: dry_run
    store: redis
    max_keys: 5
  - {name: minute, rate: 1/m}
redis: {address: "[::1]:6379", timeout: 150ms}
)";
  std::string d = dumpOf(yaml);
  CHECK(d.find("rate_limit: [hourly, per_ip]") != std::string::npos);
  CHECK(d.find("rate_limit: []") != std::string::npos);
  CHECK(d.find("key: [client_ip]\n    rate: 100/s\n    burst: 0\n    mode: reject\n"
               "    store: local\n    max_keys: 100000") != std::string::npos);
  CHECK(d.find("key: [host, route, header:X-User, cookie:sid, query:k, client_ip]") !=
        std::string::npos);
  CHECK(d.find("rate: 7/h") != std::string::npos);
  CHECK(d.find("rate: 1/m") != std::string::npos);
  CHECK(d.find("mode: dry_run\n    store: redis") != std::string::npos);
  CHECK(d.find("timeout: 150ms") != std::string::npos);
  checkRoundTrip(yaml);
  // Without rate limiting: an empty list and a null redis, which load again.
  std::string none = dumpOf("listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
                            "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n");
  CHECK(none.find("rate_limits: []\nredis: ~\n") != std::string::npos);
  checkRoundTrip(none);
}

TEST_CASE("dump: real_ip, proxy_protocol, match conditions and split round trip") {
  const std::string yaml = R"(real_ip: {trusted: [10.0.0.0/8, "::1"]}
listeners:
  - name: edge
    listen: 127.0.0.1:0
    proxy_protocol: true
    routes:
      - match:
          host: api.example.com
          headers: {X-Env: beta, X-Token: "*", X-Empty: ""}
          methods: [GET, PURGE]
          query: {v: "2 beta", flag: "*"}
        split: [{pool: a, weight: 95}, {pool: b, weight: 5}]
        split_key: "cookie:sid"
      - split: [{pool: b, weight: 1}, {pool: a, weight: 1000000}]
      - pool: a
  - name: own
    listen: 127.0.0.1:0
    real_ip: {header: X-Real-IP, trusted: [192.0.2.1]}
    routes: [{pool: b}]
pools:
  - {name: a, backends: [{address: 127.0.0.1:9001}]}
  - {name: b, backends: [{address: 127.0.0.1:9002}]}
)";
  std::string d = dumpOf(yaml);
  CHECK(d.find("proxy_protocol: true") != std::string::npos);
  CHECK(d.find("proxy_protocol: false") != std::string::npos);
  // The listener without its own real_ip shows the top-level one it uses.
  CHECK(d.find("real_ip: {header: X-Forwarded-For, trusted: [\"10.0.0.0/8\", \"::1\"]}") !=
        d.rfind("real_ip: {header: X-Forwarded-For, trusted: [\"10.0.0.0/8\", \"::1\"]}"));
  CHECK(d.find("real_ip: {header: X-Real-IP, trusted: [\"192.0.2.1\"]}") != std::string::npos);
  CHECK(d.find("headers: {X-Env: \"beta\", X-Token: \"*\", X-Empty: \"\"}") !=
        std::string::npos);
  CHECK(d.find("methods: [GET, PURGE]") != std::string::npos);
  CHECK(d.find("query: {v: \"2 beta\", flag: \"*\"}") != std::string::npos);
  CHECK(d.find("split_key: cookie:sid") != std::string::npos);
  CHECK(d.find("split_key:") == d.rfind("split_key:"));  // the second split has none
  CHECK(d.find("{pool: a, weight: 1000000}") != std::string::npos);
  checkRoundTrip(yaml);
  // No real_ip anywhere: null at the top, nothing on the listeners.
  std::string none = dumpOf("listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
                            "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n");
  CHECK(none.find("real_ip: ~\n") != std::string::npos);
  CHECK(none.find("real_ip:") == none.rfind("real_ip:"));
}

}  // namespace
}  // namespace sy::config
