#pragma once
// YAML config loader. Parses and fully validates a config; yaml-cpp exceptions never escape.
// Thread: main thread only (resolves host names with blocking getaddrinfo).

#include <expected>
#include <string>

#include "switchyard/config/config.h"

namespace sy::config {

struct ConfigError {
  std::string file;     // path as given
  int line = 0;         // 1-based; 0 = unknown
  int column = 0;       // 1-based; 0 = unknown
  std::string keyPath;  // e.g. "pools[1].backends[0].weight"; "" when not about a key
  std::string message;  // e.g. "must be > 0"

  // "file:line:column: keyPath: message" (parts that are unknown are left out).
  std::string format() const;
};

// Reads and validates `path`.
std::expected<Config, ConfigError> loadConfigFile(const std::string& path);

// Parses YAML text; `name` is used as the file name in errors and as Config::sourcePath.
std::expected<Config, ConfigError> loadConfigString(const std::string& yaml,
                                                    const std::string& name);

}  // namespace sy::config
