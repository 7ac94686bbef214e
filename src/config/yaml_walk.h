#pragma once
// Internal to the config loader: typed, position-aware reading of yaml-cpp nodes.
//
// A Walker records the first error (file:line:column, key path, message); once it holds one,
// readers keep returning "nothing" so the loader can run to the end of a section without checking
// after every key. Nothing here throws on bad input; yaml-cpp calls are only made on nodes whose
// type has been checked. Main thread only (address readers resolve names with getaddrinfo).

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/config/loader.h"

namespace sy::config::detail {

// 1-based position of `node` in the source text; {0, 0} when unknown.
Mark markOf(const YAML::Node& node);

class Walker {
 public:
  explicit Walker(std::string file) : file_(std::move(file)) {}

  bool ok() const { return !error_.has_value(); }
  const std::string& file() const { return file_; }

  // Records an error; only the first one is kept (later ones are usually consequences of it).
  void fail(Mark at, std::string keyPath, std::string message);
  void fail(const YAML::Node& at, std::string keyPath, std::string message) {
    fail(markOf(at), std::move(keyPath), std::move(message));
  }

  // Precondition: !ok().
  ConfigError takeError() { return std::move(*error_); }

 private:
  std::string file_;
  std::optional<ConfigError> error_;
};

// "a" + "b" -> "a.b" ("" + "b" -> "b"); "a" + 3 -> "a[3]".
std::string keyPath(std::string_view parent, std::string_view key);
std::string indexPath(std::string_view parent, size_t index);

// "1KiB" / "1MiB" for exact binary multiples, else the byte count.
std::string formatSize(uint64_t bytes);
// "2h", "5m", "30s" or "250ms": the largest unit that divides the value exactly.
std::string formatDuration(Duration d);

constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();

// Value readers. Each checks the node's type and syntax; on failure it records an error at the
// node under `path` and returns nullopt (also when the walker already holds an error).
std::optional<std::string> readString(Walker& w, const YAML::Node& node, const std::string& path);
// A name for a pool, backend, listener or region: 1-64 of [A-Za-z0-9._:-].
std::optional<std::string> readName(Walker& w, const YAML::Node& node, const std::string& path);
std::optional<int64_t> readInt(Walker& w, const YAML::Node& node, const std::string& path,
                               int64_t min, int64_t max);
std::optional<double> readNumber(Walker& w, const YAML::Node& node, const std::string& path,
                                 double min, double max);
std::optional<Duration> readDuration(Walker& w, const YAML::Node& node, const std::string& path,
                                     bool allowZero);
std::optional<uint64_t> readSize(Walker& w, const YAML::Node& node, const std::string& path,
                                 uint64_t min, uint64_t max);
std::optional<double> readFraction(Walker& w, const YAML::Node& node, const std::string& path);
// Port 0 (ephemeral) is refused unless `allowPortZero`.
std::optional<SocketAddress> readAddress(Walker& w, const YAML::Node& node, const std::string& path,
                                         bool allowPortZero);

// Calls fn(item, itemPath, index) for each element of a YAML list; records "must be a list"
// otherwise. Stops early once the walker holds an error.
template <class Fn>
void forEachItem(Walker& w, const YAML::Node& node, const std::string& path, Fn&& fn) {
  if (!w.ok()) return;
  if (!node.IsSequence()) {
    w.fail(node, path, "must be a list");
    return;
  }
  for (size_t i = 0; i < node.size() && w.ok(); ++i) fn(node[i], indexPath(path, i), i);
}

// A key that is valid in other maps of the same kind but has no effect in this one (an
// upstream timeout under a listener): refused with `why` instead of "unknown key".
struct MisplacedKey {
  std::string_view key;
  std::string_view why;
};

// One YAML map with a fixed set of allowed keys. The constructor refuses non-maps, unknown keys,
// misplaced keys, duplicate keys and non-string keys, and applies YAML merge keys
// (`<<: *defaults`); the accessors then read values by key. A key whose value is null (`key:` or
// `key: ~`) counts as absent, so it takes its default. `misplaced` must outlive the constructor
// only (static tables in practice).
class MapView {
 public:
  MapView(Walker& w, const YAML::Node& node, std::string path,
          std::initializer_list<std::string_view> allowed,
          std::span<const MisplacedKey> misplaced = {});

  // False when the node was not a valid map (the error is recorded).
  bool ok() const { return ok_; }
  Walker& walker() const { return *w_; }
  const std::string& path() const { return path_; }
  Mark mark() const { return markOf(node_); }

  // The value of `key`, or nullopt when it is absent or null.
  std::optional<YAML::Node> get(std::string_view key) const;
  std::string pathOf(std::string_view key) const { return keyPath(path_, key); }
  // Records "missing required key" at this map and returns false when `key` is absent or null.
  bool require(std::string_view key) const;

  // get() + the matching reader. `out` is set only when the key is present and valid; returns
  // whether it was set.
  bool string(std::string_view key, std::string& out) const;
  bool string(std::string_view key, std::optional<std::string>& out) const;
  bool name(std::string_view key, std::string& out) const;
  bool boolean(std::string_view key, bool& out) const;
  bool number(std::string_view key, double& out, double min, double max) const;
  bool duration(std::string_view key, Duration& out, bool allowZero = false) const;
  bool size(std::string_view key, uint64_t& out, uint64_t min = 0,
            uint64_t max = std::numeric_limits<uint64_t>::max()) const;
  bool fraction(std::string_view key, double& out) const;
  template <class T>
  bool integer(std::string_view key, T& out, int64_t min, int64_t max = kNoMax) const {
    std::optional<YAML::Node> node = get(key);
    if (!node) return false;
    if constexpr (sizeof(T) < sizeof(int64_t)) {
      max = std::min<int64_t>(max, static_cast<int64_t>(std::numeric_limits<T>::max()));
    }
    std::optional<int64_t> value = readInt(*w_, *node, pathOf(key), min, max);
    if (!value) return false;
    out = static_cast<T>(*value);
    return true;
  }

 private:
  // Adds the entries of `map` (and of maps merged into it with `<<`) that are not yet present.
  bool collect(const YAML::Node& map, std::initializer_list<std::string_view> allowed,
               std::span<const MisplacedKey> misplaced, int depth);

  Walker* w_;
  YAML::Node node_;
  std::string path_;
  bool ok_ = false;
  std::vector<std::pair<std::string, YAML::Node>> entries_;
};

}  // namespace sy::config::detail
