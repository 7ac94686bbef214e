// The `rate_limits:` and `redis:` sections, and routes[].rate_limit (config/README.md
// "rate_limits").
#include <charconv>
#include <fstream>
#include <sstream>

#include "sections.h"
#include "switchyard/common/ascii.h"

namespace sy::config::detail {
namespace {

constexpr int64_t kMaxKeysLimit = 100'000'000;

bool tokenName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!common::isTokenChar(c)) return false;
  return true;
}

std::optional<RateLimitKeyPart> parseKeyPart(std::string_view text, std::string* err) {
  RateLimitKeyPart part;
  if (text == "client_ip") return part;
  if (text == "host") {
    part.kind = RateLimitKeyPart::Kind::kHost;
    return part;
  }
  if (text == "route") {
    part.kind = RateLimitKeyPart::Kind::kRoute;
    return part;
  }
  struct Prefix {
    std::string_view text;
    RateLimitKeyPart::Kind kind;
  };
  for (Prefix p : {Prefix{"header:", RateLimitKeyPart::Kind::kHeader},
                   Prefix{"cookie:", RateLimitKeyPart::Kind::kCookie},
                   Prefix{"query:", RateLimitKeyPart::Kind::kQuery}}) {
    if (!text.starts_with(p.text)) continue;
    std::string_view name = text.substr(p.text.size());
    if (!tokenName(name)) {
      *err = "'" + std::string(p.text) + "' must be followed by a name (letters, digits and " +
             "!#$%&'*+-.^_`|~)";
      return std::nullopt;
    }
    part.kind = p.kind;
    part.name = std::string(name);
    return part;
  }
  *err = "must be client_ip, host, route, header:NAME, cookie:NAME or query:NAME";
  return std::nullopt;
}

void loadPolicy(Walker& w, const YAML::Node& node, const std::string& path, Config& config) {
  MapView m(w, node, path, {"name", "key", "rate", "burst", "mode", "store", "max_keys"});
  if (!m.ok()) return;
  RateLimitPolicy p;
  p.mark = markOf(node);
  if (m.require("name") && m.name("name", p.name)) {
    for (const RateLimitPolicy& other : config.rateLimits)
      if (other.name == p.name)
        w.fail(*m.get("name"), m.pathOf("name"), "policy '" + p.name + "' is defined twice");
  }
  if (std::optional<YAML::Node> key = m.get("key")) {
    p.key.clear();
    forEachItem(w, *key, m.pathOf("key"), [&](const YAML::Node& item, const std::string& ip, size_t) {
      std::optional<std::string> text = readString(w, item, ip);
      if (!text) return;
      std::string err;
      if (auto part = parseKeyPart(*text, &err)) {
        p.key.push_back(std::move(*part));
      } else {
        w.fail(item, ip, err);
      }
    });
    if (w.ok() && p.key.empty()) w.fail(*key, m.pathOf("key"), "must list at least one part");
  }
  std::string rate;
  if (m.require("rate") && m.string("rate", rate)) {
    if (auto parsed = parseRate(rate)) {
      p.count = parsed->first;
      p.period = parsed->second;
    } else {
      w.fail(*m.get("rate"), m.pathOf("rate"), parsed.error());
    }
  }
  m.integer("burst", p.burst, 0, 1'000'000);
  std::string mode;
  if (m.string("mode", mode)) {
    if (mode == "dry_run") {
      p.dryRun = true;
    } else if (mode != "reject") {
      w.fail(*m.get("mode"), m.pathOf("mode"), "must be one of: reject, dry_run");
    }
  }
  std::string store;
  if (m.string("store", store)) {
    if (store == "redis") {
      p.redis = true;
    } else if (store != "local") {
      w.fail(*m.get("store"), m.pathOf("store"), "must be one of: local, redis");
    }
  }
  m.integer("max_keys", p.maxKeys, 1, kMaxKeysLimit);
  if (w.ok()) config.rateLimits.push_back(std::move(p));
}

}  // namespace

std::expected<std::pair<uint64_t, Duration>, std::string> parseRate(std::string_view text) {
  const std::string_view kWhat = "must be N/s, N/m or N/h (N a whole number from 1)";
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 2 != text.size())
    return std::unexpected(std::string(kWhat));
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + slash, n);
  if (ec != std::errc() || end != text.data() + slash || n == 0 || n > 1'000'000'000)
    return std::unexpected(std::string(kWhat));
  switch (text[slash + 1]) {
    case 's': return std::pair{n, Duration(1s)};
    case 'm': return std::pair{n, Duration(60s)};
    case 'h': return std::pair{n, Duration(3600s)};
    default: return std::unexpected(std::string(kWhat));
  }
}

void loadRateLimits(const MapView& top, Config& config) {
  Walker& w = top.walker();
  if (std::optional<YAML::Node> node = top.get("rate_limits")) {
    forEachItem(w, *node, top.pathOf("rate_limits"),
                [&](const YAML::Node& item, const std::string& path, size_t) {
                  loadPolicy(w, item, path, config);
                });
  }
  if (std::optional<YAML::Node> node = top.get("redis")) {
    MapView m(w, *node, top.pathOf("redis"), {"address", "timeout", "password_file"});
    if (!m.ok()) return;
    Redis r;
    if (m.require("address"))
      if (auto address = readAddress(w, *m.get("address"), m.pathOf("address"), false))
        r.address = std::move(*address);
    m.duration("timeout", r.timeout);
    if (m.string("password_file", r.passwordFile)) {
      std::ifstream in(*r.passwordFile, std::ios::binary);
      std::ostringstream text;
      if (in) text << in.rdbuf();
      if (!in || in.bad()) {
        w.fail(*m.get("password_file"), m.pathOf("password_file"),
               "cannot read '" + *r.passwordFile + "'");
      } else {
        r.password = text.str();
        while (!r.password.empty() && (r.password.back() == '\n' || r.password.back() == '\r'))
          r.password.pop_back();
        if (r.password.empty())
          w.fail(*m.get("password_file"), m.pathOf("password_file"), "the file is empty");
      }
    }
    if (w.ok()) config.redis = std::move(r);
  }
  if (!w.ok() || config.redis) return;
  for (size_t i = 0; i < config.rateLimits.size(); ++i) {
    if (!config.rateLimits[i].redis) continue;
    w.fail(config.rateLimits[i].mark, indexPath("rate_limits", i),
           "store: redis needs a top-level `redis: {address: HOST:PORT}`");
    return;
  }
}

void loadRouteRateLimits(const MapView& route, const Config& config, Route& out) {
  std::optional<YAML::Node> node = route.get("rate_limit");
  if (!node) return;
  Walker& w = route.walker();
  forEachItem(w, *node, route.pathOf("rate_limit"),
              [&](const YAML::Node& item, const std::string& path, size_t) {
                std::optional<std::string> name = readName(w, item, path);
                if (!name) return;
                for (size_t i = 0; i < config.rateLimits.size(); ++i) {
                  if (config.rateLimits[i].name != *name) continue;
                  for (uint32_t seen : out.rateLimits)
                    if (seen == i) {
                      w.fail(item, path, "policy '" + *name + "' is listed twice");
                      return;
                    }
                  out.rateLimits.push_back(static_cast<uint32_t>(i));
                  return;
                }
                std::string known;
                for (const RateLimitPolicy& p : config.rateLimits)
                  known += (known.empty() ? "" : ", ") + p.name;
                w.fail(item, path,
                       "unknown rate limit policy '" + *name + "' (" +
                           (known.empty() ? "no policies are defined under `rate_limits:`"
                                          : "policies: " + known) +
                           ")");
              });
  if (w.ok() && out.rateLimits.size() > kMaxRoutePolicies)
    w.fail(*node, route.pathOf("rate_limit"),
           "at most " + std::to_string(kMaxRoutePolicies) + " policies per route");
}

}  // namespace sy::config::detail
