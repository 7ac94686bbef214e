// Where each `timeouts:` key may be written: every key at the top level (the default of every
// listener and pool), client_* under a listener, upstream_* and tunnel_idle under a pool. A key
// written where it would have no effect is refused with where it belongs.
#include <doctest/doctest.h>

#include <string>

#include "switchyard/config/loader.h"

namespace sy::config {
namespace {

std::string errorOf(const std::string& yaml) {
  auto config = loadConfigString(yaml, "t.yaml");
  REQUIRE_FALSE(config.has_value());
  return config.error().format();
}

// A config whose only listener has `timeouts: {<listenerTimeouts>}` on line 4 (first key at
// column 16).
std::string withListenerTimeouts(const std::string& listenerTimeouts) {
  return "listeners:\n"
         "  - listen: 127.0.0.1:0\n"
         "    routes: [{pool: web}]\n"
         "    timeouts: {" + listenerTimeouts + "}\n"
         "pools:\n"
         "  - name: web\n"
         "    backends: [{address: 127.0.0.1:9001}]\n";
}

// A config whose only pool has `timeouts: {<poolTimeouts>}` on line 5 (first key at column 16).
std::string withPoolTimeouts(const std::string& poolTimeouts) {
  return "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\n"
         "pools:\n"
         "  - name: web\n"
         "    backends: [{address: 127.0.0.1:9001}]\n"
         "    timeouts: {" + poolTimeouts + "}\n";
}

constexpr const char* kUpstreamOnListener =
    "has no effect on a listener: upstream-side timeouts (upstream_*, tunnel_idle) are taken "
    "from the pool a request is routed to; set it under that pool's timeouts or the top-level "
    "timeouts";
constexpr const char* kClientOnPool =
    "has no effect on a pool: client-side timeouts (client_*) are taken from the listener that "
    "accepted the connection; set it under that listener's timeouts or the top-level timeouts";
constexpr const char* kShutdownHere =
    "has no effect here: the shutdown drain is process-wide; set it under the top-level timeouts";

}  // namespace

TEST_CASE("a listener refuses upstream-side timeouts") {
  for (std::string key :
       {"upstream_connect", "upstream_response", "upstream_idle", "tunnel_idle"}) {
    CAPTURE(key);
    // The offending key comes second: column 16 + 17 (`client_idle: 5s, `).
    CHECK(errorOf(withListenerTimeouts("client_idle: 5s, " + key + ": 1s")) ==
          "t.yaml:4:33: listeners[0].timeouts." + key + ": " + kUpstreamOnListener);
  }
}

TEST_CASE("a pool refuses client-side timeouts") {
  for (std::string key : {"client_header", "client_body", "client_idle", "client_send"}) {
    CAPTURE(key);
    // Column 16 + 22 (`upstream_connect: 1s, `).
    CHECK(errorOf(withPoolTimeouts("upstream_connect: 1s, " + key + ": 1s")) ==
          "t.yaml:5:38: pools[0].timeouts." + key + ": " + kClientOnPool);
  }
}

TEST_CASE("shutdown is refused under a listener and under a pool") {
  CHECK(errorOf(withListenerTimeouts("shutdown: 5s")) ==
        std::string("t.yaml:4:16: listeners[0].timeouts.shutdown: ") + kShutdownHere);
  CHECK(errorOf(withPoolTimeouts("shutdown: 5s")) ==
        std::string("t.yaml:5:16: pools[0].timeouts.shutdown: ") + kShutdownHere);
}

TEST_CASE("a misplaced key in block style and in a second listener points at its line") {
  CHECK(errorOf(R"(listeners:
  - listen: 127.0.0.1:0
    routes: [{pool: web}]
  - name: second
    listen: 127.0.0.1:0
    routes: [{pool: web}]
    timeouts:
      client_header: 2s
      tunnel_idle: 2h
pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
)") == std::string("t.yaml:9:7: listeners[1].timeouts.tunnel_idle: ") + kUpstreamOnListener);
}

TEST_CASE("a misplaced key brought in by a YAML merge key is refused where it is written") {
  // The shared map carries an upstream key; merging it into a listener would silently drop it.
  CHECK(errorOf(R"(timeouts: &t {client_idle: 5s, upstream_connect: 1s}
listeners:
  - listen: 127.0.0.1:0
    routes: [{pool: web}]
    timeouts: {<<: *t}
pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]
)") == std::string("t.yaml:1:32: listeners[0].timeouts.upstream_connect: ") +
             kUpstreamOnListener);
}

TEST_CASE("an unknown timeouts key under a listener or pool lists only the keys that belong") {
  CHECK(errorOf(withListenerTimeouts("client_headers: 5s")) ==
        "t.yaml:4:16: listeners[0].timeouts.client_headers: unknown key (expected one of: "
        "client_header, client_body, client_idle, client_send)");
  CHECK(errorOf(withPoolTimeouts("upstream_timeout: 5s")) ==
        "t.yaml:5:16: pools[0].timeouts.upstream_timeout: unknown key (expected one of: "
        "upstream_connect, upstream_response, upstream_idle, tunnel_idle)");
}

TEST_CASE("top-level timeouts are the defaults of every listener and pool") {
  auto c = loadConfigString(R"(timeouts:
  client_header: 1s
  client_body: 2s
  client_idle: 3s
  client_send: 4s
  upstream_connect: 5s
  upstream_response: 6s
  upstream_idle: 7s
  tunnel_idle: 8s
  shutdown: 9s
listeners:
  - listen: 127.0.0.1:0
    routes: [{pool: web}]
    timeouts: {client_send: 40s}
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
    timeouts: {tunnel_idle: 80s}
)",
                            "t.yaml");
  REQUIRE_MESSAGE(c.has_value(), c.error().format());
  CHECK(c->timeouts.shutdown == std::chrono::seconds(9));
  const ClientTimeouts& l = c->listeners.at(0).timeouts;
  CHECK(l.clientHeader == std::chrono::seconds(1));
  CHECK(l.clientBody == std::chrono::seconds(2));
  CHECK(l.clientIdle == std::chrono::seconds(3));
  CHECK(l.clientSend == std::chrono::seconds(40));  // the listener's own
  const UpstreamTimeouts& p = c->pools.at(0).timeouts;
  CHECK(p.upstreamConnect == std::chrono::seconds(5));
  CHECK(p.upstreamResponse == std::chrono::seconds(6));
  CHECK(p.upstreamIdle == std::chrono::seconds(7));
  CHECK(p.tunnelIdle == std::chrono::seconds(80));  // the pool's own
}

}  // namespace sy::config
