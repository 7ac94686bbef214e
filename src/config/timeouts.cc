// The `timeouts:` maps: the top-level one, which takes every key and is the default of every
// listener and pool, and a listener's or pool's own, which take only the keys that have an
// effect there (config/README.md "timeouts"). A key written where it would be ignored is
// refused with where it belongs.

#include "sections.h"

namespace sy::config::detail {
namespace {

constexpr std::string_view kUpstreamOnListener =
    "has no effect on a listener: upstream-side timeouts (upstream_*, tunnel_idle) are taken "
    "from the pool a request is routed to; set it under that pool's timeouts or the top-level "
    "timeouts";
constexpr std::string_view kClientOnPool =
    "has no effect on a pool: client-side timeouts (client_*) are taken from the listener that "
    "accepted the connection; set it under that listener's timeouts or the top-level timeouts";
constexpr std::string_view kShutdownHere =
    "has no effect here: the shutdown drain is process-wide; set it under the top-level timeouts";

constexpr std::string_view kRequestHere =
    "has no effect here: the whole-request timeout is set once, under the top-level timeouts";

constexpr MisplacedKey kNotOnListener[] = {
    {"upstream_connect", kUpstreamOnListener}, {"upstream_response", kUpstreamOnListener},
    {"upstream_idle", kUpstreamOnListener},    {"tunnel_idle", kUpstreamOnListener},
    {"shutdown", kShutdownHere},
    {"request", kRequestHere},
};
constexpr MisplacedKey kNotOnPool[] = {
    {"client_header", kClientOnPool}, {"client_body", kClientOnPool},
    {"client_idle", kClientOnPool},   {"client_send", kClientOnPool},
    {"shutdown", kShutdownHere},
    {"request", kRequestHere},
};

void readClient(const MapView& m, ClientTimeouts& out) {
  m.duration("client_header", out.clientHeader);
  m.duration("client_body", out.clientBody);
  m.duration("client_idle", out.clientIdle);
  m.duration("client_send", out.clientSend);
}

void readUpstream(const MapView& m, UpstreamTimeouts& out) {
  m.duration("upstream_connect", out.upstreamConnect);
  m.duration("upstream_response", out.upstreamResponse);
  m.duration("upstream_idle", out.upstreamIdle);
  m.duration("tunnel_idle", out.tunnelIdle);
}

}  // namespace

void readGlobalTimeouts(const MapView& top, Timeouts& out) {
  std::optional<YAML::Node> node = top.get("timeouts");
  if (!node) return;
  MapView m(top.walker(), *node, top.pathOf("timeouts"),
            {"client_header", "client_body", "client_idle", "client_send", "upstream_connect",
             "upstream_response", "upstream_idle", "tunnel_idle", "shutdown", "request"});
  readClient(m, out);
  readUpstream(m, out);
  m.duration("shutdown", out.shutdown);
  m.duration("request", out.request, /*allowZero=*/true);
}

void readListenerTimeouts(const MapView& listener, ClientTimeouts& out) {
  std::optional<YAML::Node> node = listener.get("timeouts");
  if (!node) return;
  MapView m(listener.walker(), *node, listener.pathOf("timeouts"),
            {"client_header", "client_body", "client_idle", "client_send"}, kNotOnListener);
  readClient(m, out);
}

void readPoolTimeouts(const MapView& pool, UpstreamTimeouts& out) {
  std::optional<YAML::Node> node = pool.get("timeouts");
  if (!node) return;
  MapView m(pool.walker(), *node, pool.pathOf("timeouts"),
            {"upstream_connect", "upstream_response", "upstream_idle", "tunnel_idle"},
            kNotOnPool);
  readUpstream(m, out);
}

}  // namespace sy::config::detail
