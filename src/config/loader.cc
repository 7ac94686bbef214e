#include "switchyard/config/loader.h"

#include <yaml-cpp/yaml.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sections.h"
#include "switchyard/common/ascii.h"
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

void loadIoUring(const MapView& top, Config& config) {
  std::optional<YAML::Node> node = top.get("io_uring");
  if (!node) return;
  // YAML 1.1 reads a bare on/off as a boolean; yaml-cpp hands back the text, so both spellings
  // arrive here as the words.
  const std::string text = node->IsScalar() ? node->Scalar() : std::string();
  if (text == "off" || text == "false") {
    config.ioUring = IoUring::kOff;
  } else if (text == "auto") {
    config.ioUring = IoUring::kAuto;
  } else if (text == "on" || text == "true") {
    config.ioUring = IoUring::kOn;
  } else {
    top.walker().fail(*node, top.pathOf("io_uring"), "must be off, auto or on");
  }
}

bool isLoopback(const SocketAddress& a) {
  const auto* sa = reinterpret_cast<const sockaddr*>(&a.addr);
  if (sa->sa_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const in6_addr& ip = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&ip)) return true;
    return IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127;
  }
  return false;
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
  // The admin API can reload, drain and upgrade: reachable from other hosts only with a token.
  if (std::optional<YAML::Node> listen = m.get("listen");
      listen && w.ok() && !config.admin.tokenFile && !isLoopback(config.admin.listen)) {
    w.fail(*listen, m.pathOf("listen"),
           config.admin.listen.text +
               " is reachable from other hosts: set admin.token_file (every POST then needs "
               "the token) or listen on a loopback address such as 127.0.0.1:9901");
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
      if (!common::isTokenChar(c)) {
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
              {"workers", "io_uring", "watch", "admin", "access_log", "timeouts", "limits", "listeners",
               "pools", "regions", "geo", "rate_limits", "redis", "real_ip"});
  loadWorkers(top, config);
  loadIoUring(top, config);
  top.boolean("watch", config.watch);
  loadAdmin(top, config);
  loadAccessLog(top, config);
  detail::readGlobalTimeouts(top, config.timeouts);
  loadLimits(top, config);
  loadRegions(top, config);
  loadGeo(top, config);
  detail::loadRateLimits(top, config);
  detail::readRealIp(top, config.realIp);
  if (top.require("listeners") && top.require("pools")) {
    detail::loadPools(w, *top.get("pools"), "pools", config);
    detail::loadListeners(w, *top.get("listeners"), "listeners", config);
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
