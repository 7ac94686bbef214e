#include "switchyard/config/loader.h"
#include "switchyard/net/tls.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sections.h"
#include "switchyard/config/units.h"
#include "yaml_walk.h"

namespace sy::config {

std::string ConfigError::format() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  if (!out.empty()) out += ": ";
  if (!keyPath.empty()) out += keyPath + ": ";
  out += message;
  return out;
}

namespace detail {

void readTimeouts(const MapView& parent, Timeouts& out) {
  std::optional<YAML::Node> node = parent.get("timeouts");
  if (!node) return;
  MapView m(parent.walker(), *node, parent.pathOf("timeouts"),
            {"client_header", "client_body", "client_idle", "client_send", "upstream_connect",
             "upstream_response", "upstream_idle", "tunnel_idle", "shutdown"});
  m.duration("client_header", out.clientHeader);
  m.duration("client_body", out.clientBody);
  m.duration("client_idle", out.clientIdle);
  m.duration("client_send", out.clientSend);
  m.duration("upstream_connect", out.upstreamConnect);
  m.duration("upstream_response", out.upstreamResponse);
  m.duration("upstream_idle", out.upstreamIdle);
  m.duration("tunnel_idle", out.tunnelIdle);
  m.duration("shutdown", out.shutdown);
}

bool checkRegionExists(Walker& w, const Config& config, const YAML::Node& node,
                       const std::string& path, const std::string& region) {
  if (config.regions.contains(region)) return true;
  std::string known;
  for (const auto& [name, where] : config.regions) known += (known.empty() ? "" : ", ") + name;
  w.fail(node, path,
         "unknown region '" + region + "' (" +
             (known.empty() ? "no regions are defined under `regions:`" : "regions: " + known) +
             ")");
  return false;
}

}  // namespace detail

namespace {

using detail::forEachItem;
using detail::keyPath;
using detail::MapView;
using detail::markOf;
using detail::Walker;

constexpr std::string_view kDefaultAdminListen = "127.0.0.1:9901";
constexpr int64_t kMaxWorkers = 256;
constexpr uint64_t kMinHeaderBytes = 1024;
constexpr uint64_t kMaxHeaderBytes = 1024 * 1024;

bool sameEndpoint(const SocketAddress& a, const SocketAddress& b) {
  // Port 0 asks the kernel for a fresh port each time, so it never collides.
  if (a.port == 0 || a.addrLen != b.addrLen || a.addrLen == 0) return false;
  return std::memcmp(&a.addr, &b.addr, a.addrLen) == 0;
}

bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
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

void loadWorkers(const MapView& top, Config& config) {
  std::optional<YAML::Node> node = top.get("workers");
  if (!node) return;
  if (node->IsScalar() && node->Scalar() == "auto") {
    config.workers = 0;
    return;
  }
  int64_t count = 0;
  bool parsed = false;
  if (node->IsScalar()) {
    const std::string& text = node->Scalar();
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
    parsed = !text.empty() && ec == std::errc() && end == text.data() + text.size();
  }
  if (!parsed || count < 1 || count > kMaxWorkers) {
    top.walker().fail(*node, top.pathOf("workers"),
                      "must be auto or a number between 1 and " + std::to_string(kMaxWorkers));
    return;
  }
  config.workers = static_cast<unsigned>(count);
}

void loadAdmin(const MapView& top, Config& config) {
  std::optional<YAML::Node> node = top.get("admin");
  if (!node) return;
  Walker& w = top.walker();
  MapView m(w, *node, top.pathOf("admin"), {"listen", "token_file"});
  if (std::optional<YAML::Node> listen = m.get("listen")) {
    if (auto address = detail::readAddress(w, *listen, m.pathOf("listen"), true)) {
      config.admin.listen = std::move(*address);
    }
  }
  if (m.string("token_file", config.admin.tokenFile) && config.admin.tokenFile->empty()) {
    w.fail(*m.get("token_file"), m.pathOf("token_file"), "must not be empty (use null for none)");
  }
}

void loadAccessLog(const MapView& top, Config& config) {
  std::optional<YAML::Node> node = top.get("access_log");
  if (!node) return;
  Walker& w = top.walker();
  MapView m(w, *node, top.pathOf("access_log"), {"path", "format"});
  if (m.string("path", config.accessLog.path) && config.accessLog.path.empty()) {
    w.fail(*m.get("path"), m.pathOf("path"), "must be stdout, stderr, off or a file path");
  }
  if (m.string("format", config.accessLog.format) && config.accessLog.format != "json" &&
      config.accessLog.format != "combined") {
    w.fail(*m.get("format"), m.pathOf("format"), "must be one of: json, combined");
  }
}

void loadLimits(const MapView& top, Config& config) {
  std::optional<YAML::Node> node = top.get("limits");
  if (!node) return;
  MapView m(top.walker(), *node, top.pathOf("limits"),
            {"max_connections", "max_header_bytes", "max_headers", "max_body_bytes"});
  Limits& limits = config.limits;
  m.integer("max_connections", limits.maxConnections, 1);
  m.size("max_header_bytes", limits.maxHeaderBytes, kMinHeaderBytes, kMaxHeaderBytes);
  m.integer("max_headers", limits.maxHeaders, 1);
  m.size("max_body_bytes", limits.maxBodyBytes);
}

std::optional<LatLon> readLatLon(Walker& w, const YAML::Node& node, const std::string& path) {
  MapView m(w, node, path, {"lat", "lon"});
  LatLon out;
  if (m.require("lat")) m.number("lat", out.lat, -90, 90);
  if (m.require("lon")) m.number("lon", out.lon, -180, 180);
  if (!w.ok()) return std::nullopt;
  return out;
}

void loadRegions(const MapView& top, Config& config) {
  std::optional<YAML::Node> node = top.get("regions");
  if (!node) return;
  Walker& w = top.walker();
  std::string path = top.pathOf("regions");
  if (!node->IsMap()) {
    w.fail(*node, path, "must be a map of region name -> {lat, lon}");
    return;
  }
  for (auto it = node->begin(); it != node->end() && w.ok(); ++it) {
    // Copies: the iterator hands out its key/value pair as a temporary.
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    std::optional<std::string> name = detail::readName(w, key, path);
    if (!name) return;
    std::string regionPath = keyPath(path, *name);
    if (config.regions.contains(*name)) {
      w.fail(key, regionPath, "duplicate key");
      return;
    }
    if (std::optional<LatLon> where = readLatLon(w, value, regionPath)) {
      config.regions.emplace(*name, *where);
    }
  }
}

void loadGeo(const MapView& top, Config& config) {
  std::optional<YAML::Node> node = top.get("geo");
  if (!node) return;
  Walker& w = top.walker();
  MapView m(w, *node, top.pathOf("geo"),
            {"trusted_proxies", "client_header", "networks", "database", "default_region"});
  Geo& geo = config.geo;
  if (std::optional<YAML::Node> proxies = m.get("trusted_proxies")) {
    geo.trustedProxies.clear();
    forEachItem(w, *proxies, m.pathOf("trusted_proxies"),
                [&](const YAML::Node& item, const std::string& path, size_t) {
                  std::optional<std::string> text = detail::readString(w, item, path);
                  if (!text) return;
                  if (auto cidr = parseCidr(*text); !cidr) {
                    w.fail(item, path, cidr.error());
                    return;
                  }
                  geo.trustedProxies.push_back(*text);
                });
  }
  if (m.string("client_header", geo.clientHeader)) {
    for (char c : geo.clientHeader) {
      if (!isTokenChar(c)) {
        w.fail(*m.get("client_header"), m.pathOf("client_header"),
               "must be an HTTP header name like X-Client-Region (\"\" disables it)");
        break;
      }
    }
  }
  if (std::optional<YAML::Node> networks = m.get("networks")) {
    std::vector<Cidr> seen;
    forEachItem(w, *networks, m.pathOf("networks"),
                [&](const YAML::Node& item, const std::string& path, size_t) {
                  MapView n(w, item, path, {"cidr", "region"});
                  GeoNetwork network;
                  if (n.require("cidr") && n.string("cidr", network.cidr)) {
                    if (auto cidr = parseCidr(network.cidr); !cidr) {
                      w.fail(*n.get("cidr"), n.pathOf("cidr"), cidr.error());
                    } else {
                      // Two entries for one network would make the longest match ambiguous.
                      for (size_t i = 0; i < seen.size(); ++i) {
                        if (seen[i].family == cidr->family && seen[i].prefix == cidr->prefix &&
                            std::memcmp(seen[i].bytes, cidr->bytes, sizeof cidr->bytes) == 0) {
                          w.fail(*n.get("cidr"), n.pathOf("cidr"),
                                 "network " + network.cidr + " is listed twice (also networks[" +
                                     std::to_string(i) + "])");
                          break;
                        }
                      }
                      seen.push_back(*cidr);
                    }
                  }
                  if (n.require("region") && n.name("region", network.region)) {
                    detail::checkRegionExists(w, config, *n.get("region"), n.pathOf("region"),
                                              network.region);
                  }
                  if (w.ok()) geo.networks.push_back(std::move(network));
                });
  }
  if (m.string("database", geo.database)) {
    geo.databaseMark = markOf(*m.get("database"));
    if (geo.database->empty()) {
      w.fail(*m.get("database"), m.pathOf("database"), "must not be empty (use null for none)");
    }
  }
  std::string defaultRegion;
  if (m.name("default_region", defaultRegion) &&
      detail::checkRegionExists(w, config, *m.get("default_region"), m.pathOf("default_region"),
                                defaultRegion)) {
    geo.defaultRegion = defaultRegion;
  }
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
  if (m.string("min_version", tls.minVersion) && tls.minVersion != "1.2" &&
      tls.minVersion != "1.3") {
    w.fail(*m.get("min_version"), m.pathOf("min_version"), "must be \"1.2\" or \"1.3\"");
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
  for (char c : name) token = token && isTokenChar(c);
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
      std::optional<std::string> name = detail::readString(w, k, setPath);
      if (!name) return;
      const std::string itemPath = keyPath(setPath, *name);
      if (!checkRuleHeaderName(w, k, itemPath, *name)) return;
      if (seen(*name)) {
        w.fail(k, itemPath, "duplicate header name");
        return;
      }
      std::optional<std::string> value = detail::readString(w, v, itemPath);
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
                  std::optional<std::string> name = detail::readString(w, item, itemPath);
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
            {"match", "pool", "rewrite_prefix", "request_headers", "response_headers"});
  Route route;
  route.mark = markOf(node);
  if (std::optional<YAML::Node> match = m.get("match")) {
    MapView mm(w, *match, m.pathOf("match"), {"host", "path_prefix"});
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
  if (m.require("pool") && m.name("pool", route.pool) && !config.findPool(route.pool)) {
    std::string known;
    for (const Pool& p : config.pools) known += (known.empty() ? "" : ", ") + p.name;
    w.fail(*m.get("pool"), m.pathOf("pool"),
           "unknown pool '" + route.pool + "' (pools: " + known + ")");
  }
  if (!w.ok()) return std::nullopt;
  return route;
}

void loadListener(Walker& w, const YAML::Node& node, const std::string& path, size_t index,
                  Config& config) {
  MapView m(w, node, path,
            {"name", "listen", "tls", "redirect_https", "routes", "timeouts", "protocols", "http2"});
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
    std::optional<SocketAddress> address = detail::readAddress(w, listenNode, listenPath, true);
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
  detail::readListenerProtocols(m, listener);
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
  detail::readTimeouts(m, listener.timeouts);
  if (w.ok()) config.listeners.push_back(std::move(listener));
}

std::expected<Config, ConfigError> loadDocument(const YAML::Node& root, const std::string& name) {
  Config config;
  config.sourcePath = name;
  config.admin.listen = *parseSocketAddress(kDefaultAdminListen);
  if (!root.IsDefined() || root.IsNull()) {
    return std::unexpected(
        ConfigError{name, 0, 0, "", "config is empty; it needs at least listeners and pools"});
  }

  if (!root.IsMap()) {
    Mark at = markOf(root);
    return std::unexpected(
        ConfigError{name, at.line, at.column, "", "the top level must be a map of settings"});
  }

  Walker w(name);
  MapView top(w, root, "",
              {"workers", "watch", "admin", "access_log", "timeouts", "limits", "listeners",
               "pools", "regions", "geo"});
  loadWorkers(top, config);
  top.boolean("watch", config.watch);
  loadAdmin(top, config);
  loadAccessLog(top, config);
  detail::readTimeouts(top, config.timeouts);
  loadLimits(top, config);
  loadRegions(top, config);
  loadGeo(top, config);
  if (top.require("listeners") && top.require("pools")) {
    detail::loadPools(w, *top.get("pools"), "pools", config);
    YAML::Node listeners = *top.get("listeners");
    forEachItem(w, listeners, "listeners",
                [&](const YAML::Node& item, const std::string& path, size_t index) {
                  loadListener(w, item, path, index, config);
                });
    if (w.ok() && config.listeners.empty()) {
      w.fail(listeners, "listeners", "must have at least one listener");
    }
  }
  if (!w.ok()) return std::unexpected(w.takeError());
  return config;
}

}  // namespace

std::expected<Config, ConfigError> loadConfigString(const std::string& yaml,
                                                    const std::string& name) {
  try {
    return loadDocument(YAML::Load(yaml), name);
  } catch (const YAML::Exception& e) {
    // ParserException (syntax) and anything else yaml-cpp throws; marks are 0-based.
    ConfigError error{name, 0, 0, "", e.msg};
    if (!e.mark.is_null()) {
      error.line = e.mark.line + 1;
      error.column = e.mark.column + 1;
    }
    if (dynamic_cast<const YAML::ParserException*>(&e)) error.message = "invalid YAML: " + e.msg;
    return std::unexpected(std::move(error));
  } catch (const std::exception& e) {
    return std::unexpected(
        ConfigError{name, 0, 0, "", std::string("internal error reading config: ") + e.what()});
  }
}

std::expected<Config, ConfigError> loadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return std::unexpected(ConfigError{path, 0, 0, "", "cannot read file: it is a directory"});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::unexpected(
        ConfigError{path, 0, 0, "", std::string("cannot read file: ") + std::strerror(errno)});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return std::unexpected(
        ConfigError{path, 0, 0, "", std::string("cannot read file: ") + std::strerror(errno)});
  }
  return loadConfigString(text.str(), path);
}

}  // namespace sy::config
