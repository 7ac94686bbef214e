// The `listeners:` section: listeners, their TLS settings, routes and header rules.

#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "sections.h"
#include "switchyard/common/ascii.h"
#include "switchyard/net/tls.h"

namespace sy::config::detail {
namespace {

bool sameEndpoint(const SocketAddress& a, const SocketAddress& b) {
  // Port 0 asks the kernel for a fresh port each time, so it never collides.
  if (a.port == 0 || a.addrLen != b.addrLen || a.addrLen == 0) return false;
  return std::memcmp(&a.addr, &b.addr, a.addrLen) == 0;
}

// Lowercases and checks a route host: "api.example.com" or "*.example.com".
std::optional<std::string> normalizeRouteHost(std::string host) {
  for (char& c : host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  std::string_view rest = host;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty() || rest.size() > 253 || rest.front() == '.' || rest.back() == '.' ||
      rest.find("..") != std::string_view::npos) {
    return std::nullopt;
  }
  for (char c : rest) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return std::nullopt;
  }
  return host;
}

std::optional<ListenerTls> loadTls(Walker& w, const YAML::Node& node, const std::string& path) {
  MapView m(w, node, path, {"certificates", "min_version"});
  ListenerTls tls;
  if (m.require("certificates")) {
    YAML::Node list = *m.get("certificates");
    forEachItem(w, list, m.pathOf("certificates"),
                [&](const YAML::Node& item, const std::string& itemPath, size_t) {
                  MapView c(w, item, itemPath, {"cert", "key"});
                  TlsCertificate cert;
                  cert.mark = markOf(item);
                  if (c.require("cert") && c.string("cert", cert.cert) && cert.cert.empty()) {
                    w.fail(*c.get("cert"), c.pathOf("cert"), "must be a file path");
                  }
                  if (c.require("key") && c.string("key", cert.key) && cert.key.empty()) {
                    w.fail(*c.get("key"), c.pathOf("key"), "must be a file path");
                  }
                  if (w.ok()) {
                    // Read the files now, so --check and a reload refuse a bad certificate.
                    std::string err = net::checkCertificateFiles(cert.cert, cert.key);
                    if (!err.empty()) w.fail(item, itemPath, err);
                  }
                  if (w.ok()) tls.certificates.push_back(std::move(cert));
                });
    if (w.ok() && tls.certificates.empty()) {
      w.fail(list, m.pathOf("certificates"), "must have at least one certificate");
    }
  }
  if (std::string version; m.string("min_version", version)) {
    if (version == "1.2") {
      tls.minVersion = TlsVersion::kTls12;
    } else if (version == "1.3") {
      tls.minVersion = TlsVersion::kTls13;
    } else {
      w.fail(*m.get("min_version"), m.pathOf("min_version"), "must be \"1.2\" or \"1.3\"");
    }
  }
  if (!w.ok()) return std::nullopt;
  return tls;
}

// A path prefix as routes use it: starts with '/', no spaces, controls, '?' or '#'.
bool cleanPathPrefix(std::string_view p) {
  bool clean = p.starts_with('/');
  for (char c : p) clean = clean && c > ' ' && c != 0x7f && c != '?' && c != '#';
  return clean;
}

// A header name a route may set or remove: a token, and not one that frames the message or
// belongs to one connection (those the proxy derives itself).
bool checkRuleHeaderName(Walker& w, const YAML::Node& node, const std::string& path,
                         const std::string& name) {
  bool token = !name.empty();
  for (char c : name) token = token && common::isTokenChar(c);
  if (!token) {
    w.fail(node, path, "must be an HTTP header name like X-Env");
    return false;
  }
  for (std::string_view managed : {"content-length", "transfer-encoding", "connection",
                                   "keep-alive", "proxy-connection", "upgrade", "te", "trailer"}) {
    if (common::equalsIgnoreCase(name, managed)) {
      w.fail(node, path, name + " is managed by the proxy (framing or hop-by-hop) and cannot be "
                                "set or removed");
      return false;
    }
  }
  return true;
}

// routes[].request_headers / response_headers: {set: {Name: value, ...}, remove: [Name, ...]}.
void loadHeaderRules(Walker& w, const MapView& route, std::string_view key, bool request,
                     HeaderRules& out) {
  std::optional<YAML::Node> node = route.get(key);
  if (!node) return;
  MapView m(w, *node, route.pathOf(key), {"set", "remove"});
  if (!m.ok()) return;
  auto seen = [&](std::string_view name) { return out.touches(name); };
  if (std::optional<YAML::Node> set = m.get("set")) {
    const std::string setPath = m.pathOf("set");
    if (!set->IsMap()) {
      w.fail(*set, setPath, "must be a map of header name -> value");
      return;
    }
    for (auto it = set->begin(); it != set->end() && w.ok(); ++it) {
      YAML::Node k = it->first;
      YAML::Node v = it->second;
      std::optional<std::string> name = readString(w, k, setPath);
      if (!name) return;
      const std::string itemPath = keyPath(setPath, *name);
      if (!checkRuleHeaderName(w, k, itemPath, *name)) return;
      if (seen(*name)) {
        w.fail(k, itemPath, "duplicate header name");
        return;
      }
      std::optional<std::string> value = readString(w, v, itemPath);
      if (!value) return;
      for (char c : *value) {
        const unsigned char u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
          w.fail(v, itemPath, "header values cannot contain control characters (CR, LF, NUL...)");
          return;
        }
      }
      out.set.emplace_back(*name, *value);
    }
  }
  if (std::optional<YAML::Node> remove = m.get("remove")) {
    forEachItem(w, *remove, m.pathOf("remove"),
                [&](const YAML::Node& item, const std::string& itemPath, size_t) {
                  std::optional<std::string> name = readString(w, item, itemPath);
                  if (!name || !checkRuleHeaderName(w, item, itemPath, *name)) return;
                  if (request && common::equalsIgnoreCase(*name, "host")) {
                    w.fail(item, itemPath, "Host cannot be removed (set it instead)");
                  } else if (seen(*name)) {
                    w.fail(item, itemPath, "header already set or removed by this route");
                  } else {
                    out.remove.push_back(*name);
                  }
                });
  }
}

std::optional<Route> loadRoute(Walker& w, const YAML::Node& node, const std::string& path,
                               const Config& config) {
  MapView m(w, node, path,
            {"match", "pool", "split", "split_key", "rewrite_prefix", "request_headers",
             "response_headers", "fault", "rate_limit"});
  Route route;
  route.mark = markOf(node);
  if (std::optional<YAML::Node> match = m.get("match")) {
    MapView mm(w, *match, m.pathOf("match"),
               {"host", "path_prefix", "headers", "methods", "query"});
    std::string host;
    if (mm.string("host", host)) {
      if (std::optional<std::string> normalized = normalizeRouteHost(host)) {
        route.match.host = std::move(*normalized);
      } else {
        w.fail(*mm.get("host"), mm.pathOf("host"),
               "must be a host name like api.example.com or *.example.com (no port)");
      }
    }
    std::string& prefix = route.match.pathPrefix;
    if (mm.string("path_prefix", prefix) && !cleanPathPrefix(prefix)) {
      w.fail(*mm.get("path_prefix"), mm.pathOf("path_prefix"),
             "must start with '/' and contain no spaces, '?' or '#'");
    }
    readRouteMatchConditions(mm, route.match);
  }
  std::string rewrite;
  if (m.string("rewrite_prefix", rewrite)) {
    if (!cleanPathPrefix(rewrite)) {
      w.fail(*m.get("rewrite_prefix"), m.pathOf("rewrite_prefix"),
             "must start with '/' and contain no spaces, '?' or '#'");
    } else if (route.match.pathPrefix.empty()) {
      w.fail(*m.get("rewrite_prefix"), m.pathOf("rewrite_prefix"),
             "needs match.path_prefix (the part of the path it replaces)");
    } else {
      route.rewritePrefix = std::move(rewrite);
    }
  }
  loadHeaderRules(w, m, "request_headers", true, route.requestHeaders);
  loadHeaderRules(w, m, "response_headers", false, route.responseHeaders);
  if (std::optional<YAML::Node> fault = m.get("fault"))
    route.fault = loadRouteFault(w, *fault, m.pathOf("fault"));
  loadRouteRateLimits(m, config, route);
  if (w.ok()) readRouteTarget(m, config, route);
  if (!w.ok()) return std::nullopt;
  return route;
}

void loadListener(Walker& w, const YAML::Node& node, const std::string& path, size_t index,
                  Config& config) {
  MapView m(w, node, path,
            {"name", "listen", "tls", "redirect_https", "routes", "timeouts", "protocols", "http2",
             "proxy_protocol", "real_ip"});
  if (!m.ok()) return;
  Listener listener;
  listener.mark = m.mark();
  listener.name = "listener" + std::to_string(index);
  listener.timeouts = config.timeouts;

  if (m.name("name", listener.name)) {
    for (size_t i = 0; i < config.listeners.size(); ++i) {
      if (config.listeners[i].name == listener.name) {
        w.fail(*m.get("name"), m.pathOf("name"),
               "duplicate listener name '" + listener.name + "' (also listeners[" +
                   std::to_string(i) + "])");
        return;
      }
    }
  }
  if (m.require("listen")) {
    YAML::Node listenNode = *m.get("listen");
    std::string listenPath = m.pathOf("listen");
    std::optional<SocketAddress> address = readAddress(w, listenNode, listenPath, true);
    if (!address) return;
    if (sameEndpoint(*address, config.admin.listen)) {
      w.fail(listenNode, listenPath,
             "address " + address->text + " is already used by admin.listen");
      return;
    }
    for (const Listener& other : config.listeners) {
      if (sameEndpoint(*address, other.listen)) {
        w.fail(listenNode, listenPath,
               "address " + address->text + " is already used by listener '" + other.name + "'");
        return;
      }
    }
    listener.listen = std::move(*address);
  }
  if (std::optional<YAML::Node> tls = m.get("tls")) {
    listener.tls = loadTls(w, *tls, m.pathOf("tls"));
  }
  readListenerProtocols(m, listener);
  m.boolean("proxy_protocol", listener.proxyProtocol);
  listener.realIp = config.realIp;
  readRealIp(m, listener.realIp);
  if (m.integer("redirect_https", listener.redirectHttps, 1, 65535) && listener.tls) {
    w.fail(*m.get("redirect_https"), m.pathOf("redirect_https"),
           "only for plain HTTP listeners (this one has tls:)");
  }
  if (m.require("routes")) {
    YAML::Node routes = *m.get("routes");
    forEachItem(w, routes, m.pathOf("routes"),
                [&](const YAML::Node& item, const std::string& itemPath, size_t) {
                  if (std::optional<Route> route = loadRoute(w, item, itemPath, config)) {
                    listener.routes.push_back(std::move(*route));
                  }
                });
    if (w.ok() && listener.routes.empty()) {
      w.fail(routes, m.pathOf("routes"), "must have at least one route");
    }
  }
  readListenerTimeouts(m, listener.timeouts);
  if (w.ok()) config.listeners.push_back(std::move(listener));
}


}  // namespace

void loadListeners(Walker& w, const YAML::Node& node, const std::string& path, Config& config) {
  forEachItem(w, node, path, [&](const YAML::Node& item, const std::string& itemPath,
                                 size_t index) { loadListener(w, item, itemPath, index, config); });
  if (w.ok() && config.listeners.empty()) w.fail(node, path, "must have at least one listener");
}

}  // namespace sy::config::detail
