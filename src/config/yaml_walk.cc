#include "yaml_walk.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "switchyard/config/units.h"

namespace sy::config::detail {
namespace {

// Bounds at or above this are "no real upper bound" for messages.
constexpr int64_t kHugeBound = std::numeric_limits<int32_t>::max();
constexpr size_t kMaxNameLength = 64;

std::string formatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string rangeMessage(int64_t value, int64_t min, int64_t max) {
  if (value < min) {
    if (min == 1) return "must be > 0";
    if (max >= kHugeBound) return "must be >= " + std::to_string(min);
  } else if (max >= kHugeBound) {
    return "must be <= " + std::to_string(max);
  }
  return "must be between " + std::to_string(min) + " and " + std::to_string(max);
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':';
}

std::string joinKeys(std::initializer_list<std::string_view> keys) {
  std::string out;
  for (std::string_view k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

}  // namespace

Mark markOf(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  YAML::Mark m = node.Mark();
  if (m.is_null() || m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

void Walker::fail(Mark at, std::string path, std::string message) {
  if (error_) return;
  error_ = ConfigError{file_, at.line, at.column, std::move(path), std::move(message)};
}

std::string keyPath(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string indexPath(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string formatSize(uint64_t bytes) {
  if (bytes != 0 && bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes != 0 && bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes != 0 && bytes % (1ull << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes);
}

std::string formatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<std::string> readString(Walker& w, const YAML::Node& node, const std::string& path) {
  if (!w.ok()) return std::nullopt;
  if (!node.IsScalar()) {
    w.fail(node, path, "must be a string");
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<std::string> readName(Walker& w, const YAML::Node& node, const std::string& path) {
  std::optional<std::string> name = readString(w, node, path);
  if (!name) return std::nullopt;
  bool valid = !name->empty() && name->size() <= kMaxNameLength;
  for (char c : *name) valid = valid && isNameChar(c);
  if (!valid) {
    w.fail(node, path, "must be 1-64 characters from A-Z a-z 0-9 . _ - :");
    return std::nullopt;
  }
  return name;
}

std::optional<int64_t> readInt(Walker& w, const YAML::Node& node, const std::string& path,
                               int64_t min, int64_t max) {
  if (!w.ok()) return std::nullopt;
  int64_t value = 0;
  bool parsed = false;
  if (node.IsScalar()) {
    std::string_view text = node.Scalar();
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    bool whole = !text.empty() && end == text.data() + text.size();
    if (whole && ec == std::errc::result_out_of_range) {
      // All digits but beyond int64: out of any range we accept.
      value = text.front() == '-' ? std::numeric_limits<int64_t>::min()
                                  : std::numeric_limits<int64_t>::max();
      ec = std::errc();
    }
    parsed = whole && ec == std::errc();
  }
  if (!parsed) {
    w.fail(node, path, "must be an integer");
    return std::nullopt;
  }
  if (value < min || value > max) {
    w.fail(node, path, rangeMessage(value, min, max));
    return std::nullopt;
  }
  return value;
}

std::optional<double> readNumber(Walker& w, const YAML::Node& node, const std::string& path,
                                 double min, double max) {
  if (!w.ok()) return std::nullopt;
  double value = 0;
  bool parsed = false;
  if (node.IsScalar()) {
    std::string_view text = node.Scalar();
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    parsed = !text.empty() && ec == std::errc() && end == text.data() + text.size() &&
             std::isfinite(value);
  }
  if (!parsed) {
    w.fail(node, path, "must be a number");
    return std::nullopt;
  }
  if (value < min || value > max) {
    std::string message =
        max == std::numeric_limits<double>::max()
            ? "must be >= " + formatNumber(min)
            : "must be between " + formatNumber(min) + " and " + formatNumber(max);
    w.fail(node, path, std::move(message));
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> readDuration(Walker& w, const YAML::Node& node, const std::string& path,
                                     bool allowZero) {
  if (!w.ok()) return std::nullopt;
  if (!node.IsScalar()) {
    w.fail(node, path, "must be a duration like 250ms, 5s, 2m or 1h");
    return std::nullopt;
  }
  auto value = parseDuration(node.Scalar());
  if (!value) {
    w.fail(node, path, value.error());
    return std::nullopt;
  }
  if (!allowZero && value->count() == 0) {
    w.fail(node, path, "must be > 0");
    return std::nullopt;
  }
  return *value;
}

std::optional<uint64_t> readSize(Walker& w, const YAML::Node& node, const std::string& path,
                                 uint64_t min, uint64_t max) {
  if (!w.ok()) return std::nullopt;
  if (!node.IsScalar()) {
    w.fail(node, path, "must be a size like 512, 32KiB or 10MiB");
    return std::nullopt;
  }
  auto value = parseSize(node.Scalar());
  if (!value) {
    w.fail(node, path, value.error());
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    std::string message;
    if (max == std::numeric_limits<uint64_t>::max()) {
      message = min == 1 ? "must be > 0" : "must be at least " + formatSize(min);
    } else {
      message = "must be between " + formatSize(min) + " and " + formatSize(max);
    }
    w.fail(node, path, std::move(message));
    return std::nullopt;
  }
  return *value;
}

std::optional<double> readFraction(Walker& w, const YAML::Node& node, const std::string& path) {
  if (!w.ok()) return std::nullopt;
  if (!node.IsScalar()) {
    w.fail(node, path, "must be a fraction like 0.5 or a percentage like 50%");
    return std::nullopt;
  }
  auto value = parseFraction(node.Scalar());
  if (!value) {
    w.fail(node, path, value.error());
    return std::nullopt;
  }
  return *value;
}

std::optional<SocketAddress> readAddress(Walker& w, const YAML::Node& node, const std::string& path,
                                         bool allowPortZero) {
  if (!w.ok()) return std::nullopt;
  if (!node.IsScalar()) {
    w.fail(node, path, "must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
    return std::nullopt;
  }
  auto address = parseSocketAddress(node.Scalar());
  if (!address) {
    w.fail(node, path, address.error());
    return std::nullopt;
  }
  if (!allowPortZero && address->port == 0) {
    w.fail(node, path, "port must be > 0");
    return std::nullopt;
  }
  return std::move(*address);
}

MapView::MapView(Walker& w, const YAML::Node& node, std::string path,
                 std::initializer_list<std::string_view> allowed,
                 std::span<const MisplacedKey> misplaced)
    : w_(&w), node_(node), path_(std::move(path)) {
  if (!w.ok()) return;
  if (!node.IsMap()) {
    w.fail(node, path_, "must be a map");
    return;
  }
  ok_ = collect(node, allowed, misplaced, 0);
}

bool MapView::collect(const YAML::Node& map, std::initializer_list<std::string_view> allowed,
                      std::span<const MisplacedKey> misplaced, int depth) {
  // YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`): yaml-cpp leaves them to the application.
  // Keys written in the map itself win over merged ones, and earlier merged maps over later
  // ones, so merged entries are only added where the key is not yet present.
  constexpr int kMaxMergeDepth = 16;
  std::vector<YAML::Node> merges;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: the iterator hands out its key/value pair as a temporary.
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!key.IsScalar()) {
      w_->fail(key, path_, "keys must be strings");
      return false;
    }
    const std::string& name = key.Scalar();
    if (name == "<<") {
      merges.push_back(value);
      continue;
    }
    bool known = false;
    for (std::string_view a : allowed) known = known || a == name;
    if (!known) {
      for (const MisplacedKey& m : misplaced) {
        if (m.key == name) {
          w_->fail(key, keyPath(path_, name), std::string(m.why));
          return false;
        }
      }
      w_->fail(key, keyPath(path_, name),
               "unknown key (expected one of: " + joinKeys(allowed) + ")");
      return false;
    }
    bool present = false;
    for (const auto& entry : entries_) present = present || entry.first == name;
    if (present && depth == 0) {
      w_->fail(key, keyPath(path_, name), "duplicate key");
      return false;
    }
    if (!present) entries_.emplace_back(name, value);
  }
  for (const YAML::Node& merge : merges) {
    std::vector<YAML::Node> sources;
    if (merge.IsMap()) {
      sources.push_back(merge);
    } else if (merge.IsSequence()) {
      for (size_t i = 0; i < merge.size(); ++i) sources.push_back(merge[i]);
    }
    for (const YAML::Node& source : sources) {
      if (!source.IsMap() || depth >= kMaxMergeDepth) {
        w_->fail(merge, keyPath(path_, "<<"), "a merge key needs a map or a list of maps");
        return false;
      }
      if (!collect(source, allowed, misplaced, depth + 1)) return false;
    }
    if (sources.empty()) {
      w_->fail(merge, keyPath(path_, "<<"), "a merge key needs a map or a list of maps");
      return false;
    }
  }
  return true;
}

std::optional<YAML::Node> MapView::get(std::string_view key) const {
  if (!ok_) return std::nullopt;
  for (const auto& [name, value] : entries_) {
    if (name == key) {
      if (value.IsNull()) return std::nullopt;
      return value;
    }
  }
  return std::nullopt;
}

bool MapView::require(std::string_view key) const {
  if (!ok_ || !w_->ok()) return false;
  if (get(key)) return true;
  w_->fail(node_, path_, "missing required key '" + std::string(key) + "'");
  return false;
}

bool MapView::string(std::string_view key, std::string& out) const {
  std::optional<YAML::Node> node = get(key);
  if (!node) return false;
  std::optional<std::string> value = readString(*w_, *node, pathOf(key));
  if (!value) return false;
  out = std::move(*value);
  return true;
}

bool MapView::string(std::string_view key, std::optional<std::string>& out) const {
  std::string value;
  if (!string(key, value)) return false;
  out = std::move(value);
  return true;
}

bool MapView::boolean(std::string_view key, bool& out) const {
  std::optional<YAML::Node> node = get(key);
  if (!node) return false;
  std::optional<std::string> value = readString(*w_, *node, pathOf(key));
  if (!value) return false;
  if (*value == "true" || *value == "yes" || *value == "on") {
    out = true;
  } else if (*value == "false" || *value == "no" || *value == "off") {
    out = false;
  } else {
    w_->fail(*node, pathOf(key), "must be true or false");
    return false;
  }
  return true;
}

bool MapView::name(std::string_view key, std::string& out) const {
  std::optional<YAML::Node> node = get(key);
  if (!node) return false;
  std::optional<std::string> value = readName(*w_, *node, pathOf(key));
  if (!value) return false;
  out = std::move(*value);
  return true;
}

bool MapView::number(std::string_view key, double& out, double min, double max) const {
  std::optional<YAML::Node> node = get(key);
  if (!node) return false;
  std::optional<double> value = readNumber(*w_, *node, pathOf(key), min, max);
  if (!value) return false;
  out = *value;
  return true;
}

bool MapView::duration(std::string_view key, Duration& out, bool allowZero) const {
  std::optional<YAML::Node> node = get(key);
  if (!node) return false;
  std::optional<Duration> value = readDuration(*w_, *node, pathOf(key), allowZero);
  if (!value) return false;
  out = *value;
  return true;
}

bool MapView::size(std::string_view key, uint64_t& out, uint64_t min, uint64_t max) const {
  std::optional<YAML::Node> node = get(key);
  if (!node) return false;
  std::optional<uint64_t> value = readSize(*w_, *node, pathOf(key), min, max);
  if (!value) return false;
  out = *value;
  return true;
}

bool MapView::fraction(std::string_view key, double& out) const {
  std::optional<YAML::Node> node = get(key);
  if (!node) return false;
  std::optional<double> value = readFraction(*w_, *node, pathOf(key));
  if (!value) return false;
  out = *value;
  return true;
}

}  // namespace sy::config::detail
