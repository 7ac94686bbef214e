// The richer parts of a route: match.headers, match.methods and match.query (conditions ANDed
// with host and path), and the weighted `split:` with its `split_key` (instead of `pool:`).
// Kept apart from listeners.cc so that other route keys can grow there independently.

#include <string>
#include <string_view>

#include "sections.h"
#include "switchyard/common/ascii.h"
#include "switchyard/config/units.h"
#include "switchyard/http/request_head.h"

namespace sy::config::detail {
namespace {

bool isToken(std::string_view s) {
  bool ok = !s.empty();
  for (char c : s) ok = ok && common::isTokenChar(c);
  return ok;
}

bool hasControl(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

// A map of name -> string value (match.headers, match.query). `checkName` validates a key and
// returns an error message ("" = fine); names equal under `sameName` may appear once.
template <class CheckName, class SameName>
void readConditionMap(const MapView& match, std::string_view key, CheckName checkName,
                      SameName sameName, std::vector<std::pair<std::string, std::string>>& out) {
  std::optional<YAML::Node> node = match.get(key);
  if (!node) return;
  Walker& w = match.walker();
  const std::string path = match.pathOf(key);
  if (!node->IsMap()) {
    w.fail(*node, path, "must be a map of name -> value (\"*\": present with any value)");
    return;
  }
  for (auto it = node->begin(); it != node->end() && w.ok(); ++it) {
    std::optional<std::string> name = readString(w, it->first, path);
    if (!name) return;
    const std::string itemPath = keyPath(path, *name);
    if (std::string err = checkName(*name); !err.empty()) {
      w.fail(it->first, itemPath, err);
      return;
    }
    for (const auto& kv : out) {
      if (sameName(kv.first, *name)) {
        w.fail(it->first, itemPath, "given twice");
        return;
      }
    }
    std::optional<std::string> value = readString(w, it->second, itemPath);
    if (!value) return;
    if (hasControl(*value)) {
      w.fail(it->second, itemPath, "values cannot contain control characters");
      return;
    }
    out.emplace_back(std::move(*name), std::move(*value));
  }
}

void readMethods(const MapView& match, RouteMatch& out) {
  std::optional<YAML::Node> node = match.get("methods");
  if (!node) return;
  Walker& w = match.walker();
  forEachItem(w, *node, match.pathOf("methods"),
              [&](const YAML::Node& item, const std::string& itemPath, size_t) {
                std::optional<std::string> name = readString(w, item, itemPath);
                if (!name) return;
                uint8_t method = 0;
                if (!http::methodFromName(*name, method)) {
                  w.fail(item, itemPath,
                         "unknown method '" + *name + "' (methods are upper case: GET, POST...)");
                  return;
                }
                for (const std::string& m : out.methods) {
                  if (m == *name) {
                    w.fail(item, itemPath, "method listed twice");
                    return;
                  }
                }
                out.methods.push_back(std::move(*name));
              });
  if (w.ok() && out.methods.empty()) {
    w.fail(*node, match.pathOf("methods"), "must list at least one method");
  }
}

void readSplit(const MapView& route, const Config& config, Route& out) {
  Walker& w = route.walker();
  std::optional<YAML::Node> node = route.get("split");
  forEachItem(w, *node, route.pathOf("split"),
              [&](const YAML::Node& item, const std::string& itemPath, size_t) {
                MapView s(w, item, itemPath, {"pool", "weight"});
                if (!s.ok()) return;
                SplitTarget t;
                t.mark = s.mark();
                if (s.require("pool") && s.name("pool", t.pool)) {
                  if (!config.findPool(t.pool)) {
                    std::string known;
                    for (const Pool& p : config.pools) known += (known.empty() ? "" : ", ") + p.name;
                    w.fail(*s.get("pool"), s.pathOf("pool"),
                           "unknown pool '" + t.pool + "' (pools: " + known + ")");
                    return;
                  }
                  for (const SplitTarget& other : out.split) {
                    if (other.pool == t.pool) {
                      w.fail(*s.get("pool"), s.pathOf("pool"), "pool '" + t.pool +
                                                                   "' appears twice in the split");
                      return;
                    }
                  }
                }
                if (s.require("weight")) s.integer("weight", t.weight, 1, 1000000);
                if (w.ok()) out.split.push_back(std::move(t));
              });
  if (w.ok() && out.split.size() < 2) {
    w.fail(*node, route.pathOf("split"), "must have at least two entries ({pool, weight})");
  }
}

}  // namespace

void readRouteMatchConditions(const MapView& match, RouteMatch& out) {
  readConditionMap(
      match, "headers",
      [](const std::string& name) -> std::string {
        return isToken(name) ? "" : "must be an HTTP header name like X-Env";
      },
      [](std::string_view a, std::string_view b) { return common::equalsIgnoreCase(a, b); },
      out.headers);
  readMethods(match, out);
  readConditionMap(
      match, "query",
      [](const std::string& name) -> std::string {
        return name.empty() || hasControl(name) ? "must be a query parameter name" : "";
      },
      [](std::string_view a, std::string_view b) { return a == b; }, out.query);
}

void readRouteTarget(const MapView& route, const Config& config, Route& out) {
  Walker& w = route.walker();
  const bool hasPool = route.get("pool").has_value();
  const bool hasSplit = route.get("split").has_value();
  if (hasPool && hasSplit) {
    w.fail(*route.get("split"), route.pathOf("split"),
           "give either pool or split, not both");
    return;
  }
  if (!hasPool && !hasSplit) {
    w.fail(route.mark(), route.path(), "missing required key 'pool'");
    return;
  }
  if (hasPool) {
    if (route.name("pool", out.pool) && !config.findPool(out.pool)) {
      std::string known;
      for (const Pool& p : config.pools) known += (known.empty() ? "" : ", ") + p.name;
      w.fail(*route.get("pool"), route.pathOf("pool"),
             "unknown pool '" + out.pool + "' (pools: " + known + ")");
    }
    if (w.ok() && route.get("split_key")) {
      w.fail(*route.get("split_key"), route.pathOf("split_key"), "only with split:");
    }
    return;
  }
  readSplit(route, config, out);
  if (std::string text; w.ok() && route.string("split_key", text)) {
    if (auto key = parseHashKey(text); !key || text.empty()) {
      w.fail(*route.get("split_key"), route.pathOf("split_key"),
             key ? "must not be empty (ip, header:NAME, cookie:NAME or path)" : key.error());
    } else {
      out.splitKey = std::move(*key);
    }
  }
}

}  // namespace sy::config::detail
