// The config loader refuses bad values (pools, backends, top-level sections, listeners and
// routes) with file:line:column, checks TLS files at load time, and reads redirect_https and
// pools[].tls.
#include <doctest/doctest.h>

#include <fstream>

#include "../tls_util.h"
#include "loader_util.h"

namespace sy::config {
namespace {

using namespace test;

TEST_CASE("bad values") {
  // The canonical example from CONFIG.md.
  CHECK(errorOf(R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
  - name: api
    backends:
      - name: api1
        address: 127.0.0.1:9002
        weight: 0
)") == "t.yaml:9:17: pools[1].backends[0].weight: must be > 0");

  // Small helpers: `pool` goes into the only pool, `top` is appended to the minimal config.
  auto poolError = [](const std::string& pool) {
    return errorOf(
        "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
        "pools:\n"
        "  - name: web\n"
        "    backends: [{address: 127.0.0.1:9001}]\n" +
        pool);
  };
  auto topError = [](const std::string& top) { return errorOf(std::string(kMinimal) + top); };

  CHECK(poolError("    policy: random\n") ==
        "t.yaml:5:13: pools[0].policy: must be one of: round_robin, least_conn, geo_weighted, "
        "p2c, hash");
  CHECK(poolError("    slow_start: 5\n") ==
        "t.yaml:5:17: pools[0].slow_start: needs a unit: ms, s, m or h (e.g. 5s)");
  CHECK(poolError("    panic_threshold: 150%\n") ==
        "t.yaml:5:22: pools[0].panic_threshold: must be at most 100%");
  CHECK(poolError("    panic_threshold: 2\n") ==
        "t.yaml:5:22: pools[0].panic_threshold: must be between 0 and 1, or a percentage like "
        "50%");
  CHECK(poolError("    health_check: {type: udp}\n") ==
        "t.yaml:5:26: pools[0].health_check.type: must be one of: http, tcp, grpc");
  CHECK(poolError("    health_check: {interval: 0}\n") ==
        "t.yaml:5:30: pools[0].health_check.interval: must be > 0");
  CHECK(poolError("    health_check: {path: healthz}\n") ==
        "t.yaml:5:26: pools[0].health_check.path: must start with '/'");
  CHECK(poolError("    health_check: {healthy_threshold: 0}\n") ==
        "t.yaml:5:39: pools[0].health_check.healthy_threshold: must be > 0");
  CHECK(poolError("    health_check: {expected_statuses: [200, \"600\"]}\n") ==
        "t.yaml:5:45: pools[0].health_check.expected_statuses[1]: must be a status code like 204 "
        "or a range like \"200-399\", within 100-599");
  CHECK(poolError("    health_check: {expected_statuses: [\"399-200\"]}\n") ==
        "t.yaml:5:40: pools[0].health_check.expected_statuses[0]: must be a status code like 204 "
        "or a range like \"200-399\", within 100-599");
  CHECK(poolError("    health_check: {expected_statuses: []}\n") ==
        "t.yaml:5:39: pools[0].health_check.expected_statuses: must list at least one status or "
        "range");
  CHECK(poolError("    outlier_detection: {max_ejection_percent: 150}\n") ==
        "t.yaml:5:47: pools[0].outlier_detection.max_ejection_percent: must be at most 100%");
  CHECK(poolError("    outlier_detection: {base_ejection_time: 10m, max_ejection_time: 5m}\n") ==
        "t.yaml:5:69: pools[0].outlier_detection.max_ejection_time: max_ejection_time (5m) must "
        "be >= base_ejection_time (10m)");
  CHECK(poolError("    retries: {on: [connect_failure, slow]}\n") ==
        "t.yaml:5:37: pools[0].retries.on[1]: must be one of: connect_failure, reset, timeout, "
        "429, 500, 502, 503, 504, 5xx, unavailable");
  CHECK(poolError("    retries: {attempts: -1}\n") ==
        "t.yaml:5:25: pools[0].retries.attempts: must be between 0 and 15");
  CHECK(poolError("    geo: {overprovisioning: 0.5}\n") ==
        "t.yaml:5:29: pools[0].geo.overprovisioning: must be >= 1");

  auto backendError = [](const std::string& backend) {
    return errorOf(
        "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
        "pools:\n"
        "  - name: web\n"
        "    backends:\n"
        "      - " +
        backend + "\n");
  };
  CHECK(backendError("{address: 127.0.0.1:9001, weight: 10001}") ==
        "t.yaml:5:43: pools[0].backends[0].weight: must be between 1 and 10000");
  CHECK(backendError("{address: 127.0.0.1:9001, weight: 99999999999999999999}") ==
        "t.yaml:5:43: pools[0].backends[0].weight: must be between 1 and 10000");
  CHECK(backendError("{address: 127.0.0.1:9001, weight: -3}") ==
        "t.yaml:5:43: pools[0].backends[0].weight: must be > 0");
  CHECK(backendError("{address: 127.0.0.1:0}") ==
        "t.yaml:5:19: pools[0].backends[0].address: port must be > 0");
  CHECK(backendError("{address: 127.0.0.1}") ==
        "t.yaml:5:19: pools[0].backends[0].address: must be host:port, e.g. 127.0.0.1:8080 or "
        "[::1]:8080");
  CHECK(backendError("{address: 127.0.0.1:9001, name: web 1}") ==
        "t.yaml:5:41: pools[0].backends[0].name: must be 1-64 characters from A-Z a-z 0-9 . _ - :");
  CHECK(backendError("{address: 127.0.0.1:9001, location: {lat: 91, lon: 0}}") ==
        "t.yaml:5:51: pools[0].backends[0].location.lat: must be between -90 and 90");

  CHECK(topError("workers: 0\n") ==
        "t.yaml:7:10: workers: must be auto or a number between 1 "
        "and 256");
  CHECK(topError("workers: 300\n") ==
        "t.yaml:7:10: workers: must be auto or a number between 1 "
        "and 256");
  CHECK(topError("workers: many\n") ==
        "t.yaml:7:10: workers: must be auto or a number between 1 "
        "and 256");
  CHECK(topError("access_log: {format: text}\n") ==
        "t.yaml:7:22: access_log.format: must be one of: json, combined");
  CHECK(topError("access_log: {path: \"\"}\n") ==
        "t.yaml:7:20: access_log.path: must be stdout, stderr, off or a file path");
  CHECK(topError("limits: {max_header_bytes: 512}\n") ==
        "t.yaml:7:28: limits.max_header_bytes: must be between 1KiB and 1MiB");
  CHECK(topError("limits: {max_header_bytes: 2MiB}\n") ==
        "t.yaml:7:28: limits.max_header_bytes: must be between 1KiB and 1MiB");
  CHECK(topError("limits: {max_connections: 0}\n") ==
        "t.yaml:7:27: limits.max_connections: must be > 0");
  CHECK(topError("limits: {max_body_bytes: 10XB}\n") ==
        "t.yaml:7:26: limits.max_body_bytes: unknown unit 'XB' (use B, KiB, MiB, GiB, KB, MB or "
        "GB)");
  CHECK(topError("timeouts: {upstream_connect: 0}\n") ==
        "t.yaml:7:30: timeouts.upstream_connect: must be > 0");
  CHECK(topError("admin: {listen: localhost}\n") ==
        "t.yaml:7:17: admin.listen: must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
  CHECK(topError("admin: {listen: 0.0.0.0:9901}\n") ==
        "t.yaml:7:17: admin.listen: 0.0.0.0:9901 is reachable from other hosts: set "
        "admin.token_file (every POST then needs the token) or listen on a loopback address "
        "such as 127.0.0.1:9901");
  CHECK(topError("admin: {listen: \"[::]:9901\"}\n").find("admin.listen: [::]:9901 is reachable") !=
        std::string::npos);
  CHECK(topError("admin: {listen: 10.1.2.3:9901}\n").find("t.yaml:7:17:") == 0);
  for (const char* ok : {"admin: {listen: 0.0.0.0:9901, token_file: /run/secrets/t}\n",
                         "admin: {listen: 127.0.0.2:9901}\n", "admin: {listen: \"[::1]:9901\"}\n",
                         "admin: {listen: \"[::ffff:127.0.0.1]:9901\"}\n"})
    CHECK(loadConfigString(std::string(kMinimal) + ok, "t.yaml").has_value());
  CHECK(topError("geo: {trusted_proxies: [10.0.0.1/8]}\n") ==
        "t.yaml:7:25: geo.trusted_proxies[0]: has host bits set; did you mean 10.0.0.0/8?");
  CHECK(topError("geo: {client_header: \"X Region\"}\n") ==
        "t.yaml:7:22: geo.client_header: must be an HTTP header name like X-Client-Region (\"\" "
        "disables it)");
}

TEST_CASE("listener values") {
  sy::testing::CertDir certs;
  auto listenerError = [](const std::string& listener) {
    return errorOf(
        "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n"
        "listeners:\n"
        "  - listen: 127.0.0.1:0\n" +
        listener);
  };
  CHECK(listenerError("    routes: [{pool: web, match: {path_prefix: api}}]\n") ==
        "t.yaml:4:47: listeners[0].routes[0].match.path_prefix: must start with '/' and contain "
        "no spaces, '?' or '#'");
  CHECK(listenerError("    routes: [{pool: web, match: {path_prefix: /a}, rewrite_prefix: b}]\n") ==
        "t.yaml:4:68: listeners[0].routes[0].rewrite_prefix: must start with '/' and contain "
        "no spaces, '?' or '#'");
  CHECK(listenerError("    routes: [{pool: web, rewrite_prefix: /b}]\n") ==
        "t.yaml:4:42: listeners[0].routes[0].rewrite_prefix: needs match.path_prefix (the part "
        "of the path it replaces)");
  CHECK(listenerError("    routes: [{pool: web, request_headers: {set: {Content-Length: 1}}}]\n") ==
        "t.yaml:4:50: listeners[0].routes[0].request_headers.set.Content-Length: Content-Length is "
        "managed by the proxy (framing or hop-by-hop) and cannot be set or removed");
  CHECK(listenerError("    routes: [{pool: web, request_headers: {remove: [Host]}}]\n") ==
        "t.yaml:4:53: listeners[0].routes[0].request_headers.remove[0]: Host cannot be removed "
        "(set it instead)");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: {X-A: 1, x-a: 2}}}]\n") ==
        "t.yaml:4:59: listeners[0].routes[0].response_headers.set.x-a: duplicate header name");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: {X-A: 1}, remove: [X-A]}}]\n") ==
        "t.yaml:4:69: listeners[0].routes[0].response_headers.remove[0]: header already set or "
        "removed by this route");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: {\"X A\": 1}}}]\n") ==
        "t.yaml:4:51: listeners[0].routes[0].response_headers.set.X A: must be an HTTP header name "
        "like X-Env");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: {X-A: \"a\\nb\"}}}]\n") ==
        "t.yaml:4:56: listeners[0].routes[0].response_headers.set.X-A: header values cannot "
        "contain control characters (CR, LF, NUL...)");
  CHECK(listenerError("    routes: [{pool: web, response_headers: {set: [X-A]}}]\n") ==
        "t.yaml:4:50: listeners[0].routes[0].response_headers.set: must be a map of header name "
        "-> value");
  CHECK(listenerError("    routes: [{pool: web, match: {host: \"a b.com\"}}]\n") ==
        "t.yaml:4:40: listeners[0].routes[0].match.host: must be a host name like "
        "api.example.com or *.example.com (no port)");
  CHECK(listenerError("    routes: [{pool: web, match: {host: \"api.*.com\"}}]\n") ==
        "t.yaml:4:40: listeners[0].routes[0].match.host: must be a host name like "
        "api.example.com or *.example.com (no port)");
  CHECK(listenerError("    routes: [{pool: web, match: {host: \"example.com:80\"}}]\n") ==
        "t.yaml:4:40: listeners[0].routes[0].match.host: must be a host name like "
        "api.example.com or *.example.com (no port)");
  CHECK(listenerError("    routes: []\n") ==
        "t.yaml:4:13: listeners[0].routes: must have at least one route");
  CHECK(listenerError("    routes: [{pool: web}]\n    tls: {certificates: []}\n") ==
        "t.yaml:5:25: listeners[0].tls.certificates: must have at least one certificate");
  CHECK(listenerError("    routes: [{pool: web}]\n    tls: {certificates: [{cert: a.crt}]}\n") ==
        "t.yaml:5:26: listeners[0].tls.certificates[0]: missing required key 'key'");
  CHECK(listenerError("    routes: [{pool: web}]\n"
                      "    tls: {certificates: [{cert: a.crt, key: a.key}], min_version: 1.1}\n") ==
        "t.yaml:5:67: listeners[0].tls.min_version: must be \"1.2\" or \"1.3\"");
  CHECK(listenerError("    routes: [{pool: web}]\n    timeouts: {client_idle: 1x}\n") ==
        "t.yaml:5:29: listeners[0].timeouts.client_idle: unknown unit 'x' (use ms, s, m or h)");
}

TEST_CASE("tls files are checked at load time, with the certificate entry's position") {
  sy::testing::CertDir certs;
  auto listener = [](const std::string& tls) {
    return "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n"
           "listeners:\n"
           "  - listen: 127.0.0.1:0\n"
           "    routes: [{pool: web}]\n"
           "    tls:\n"
           "      certificates:\n"
           "        - {cert: a.crt, key: a.key}\n" +
           tls;
  };
  CHECK(load(listener("")).listeners[0].tls->certificates.size() == 1);
  CHECK(errorOf(listener("        - {cert: missing.crt, key: a.key}\n")) ==
        "t.yaml:8:11: listeners[0].tls.certificates[1]: cannot read missing.crt: No such file or "
        "directory");
  CHECK(errorOf(listener("        - {cert: a.crt, key: b.key}\n")) ==
        "t.yaml:8:11: listeners[0].tls.certificates[1]: the key in b.key does not match the "
        "certificate in a.crt");
  std::ofstream("junk.pem") << "not a certificate\n";
  CHECK(errorOf(listener("        - {cert: junk.pem, key: a.key}\n")) ==
        "t.yaml:8:11: listeners[0].tls.certificates[1]: junk.pem: not a PEM certificate");
  CHECK(errorOf(listener("        - {cert: a.crt, key: junk.pem}\n")) ==
        "t.yaml:8:11: listeners[0].tls.certificates[1]: junk.pem: not a PEM private key "
        "(encrypted keys are not supported)");
  CHECK(errorOf(listener("    redirect_https: 443\n")) ==
        "t.yaml:8:21: listeners[0].redirect_https: only for plain HTTP listeners (this one has "
        "tls:)");
}

TEST_CASE("redirect_https and pools[].tls") {
  sy::testing::CertDir certs;
  Config c = load(R"(listeners:
  - listen: 127.0.0.1:0
    redirect_https: 8443
    routes: [{pool: web}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
    tls: {ca: a.crt, sni: a.test, cert: b.crt, key: b.key}
  - name: plain
    backends: [{address: 127.0.0.1:9002}]
    tls: {enabled: false}
  - name: insecure
    backends: [{address: 127.0.0.1:9003}]
    tls: {verify: false}
)");
  CHECK(c.listeners[0].redirectHttps == 8443);
  REQUIRE(c.pools[0].tls.has_value());
  CHECK(c.pools[0].tls->ca == "a.crt");
  CHECK(c.pools[0].tls->sni == "a.test");
  CHECK(c.pools[0].tls->verify);
  CHECK(c.pools[0].tls->cert == "b.crt");
  CHECK_FALSE(c.pools[1].tls.has_value());
  REQUIRE(c.pools[2].tls.has_value());
  CHECK_FALSE(c.pools[2].tls->verify);
  CHECK(c.pools[2].tls->ca.empty());

  auto poolError = [](const std::string& tls) {
    return errorOf("listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
                   "pools:\n"
                   "  - name: web\n"
                   "    backends: [{address: 127.0.0.1:9001}]\n"
                   "    tls: " + tls + "\n");
  };
  CHECK(poolError("{ca: nope.pem}") ==
        "t.yaml:5:15: pools[0].tls.ca: cannot read nope.pem: No such file or directory");
  CHECK(poolError("{cert: a.crt}") ==
        "t.yaml:5:10: pools[0].tls: cert and key go together: give both or neither");
  CHECK(poolError("{cert: a.crt, key: b.key}") ==
        "t.yaml:5:17: pools[0].tls.cert: the key in b.key does not match the certificate in a.crt");
  CHECK(poolError("{verify: maybe}").starts_with("t.yaml:5:19: pools[0].tls.verify:"));
}

}  // namespace
}  // namespace sy::config
