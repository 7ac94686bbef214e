#pragma once
// Helpers the config loader tests share (loader_test.cc, loader_keys_test.cc,
// loader_errors_test.cc, loader_values_test.cc).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "switchyard/config/loader.h"

namespace sy::config::test {

// A small valid config; tests append sections to it or write their own.
inline constexpr const char* kMinimal = R"(listeners:
  - listen: 127.0.0.1:0
    routes: [{pool: web}]
pools:
  - name: web
    backends: [{address: 127.0.0.1:9001}]
)";

inline Config load(const std::string& yaml) {
  auto config = loadConfigString(yaml, "t.yaml");
  if (!config) FAIL("unexpected error: " << config.error().format());
  return std::move(*config);
}

// The formatted error for `yaml`, which must not load.
inline std::string errorOf(const std::string& yaml) {
  auto config = loadConfigString(yaml, "t.yaml");
  REQUIRE_FALSE(config.has_value());
  return config.error().format();
}

// The repository's config/ directory, wherever the test runs from.
inline std::filesystem::path configDir() {
  std::vector<std::filesystem::path> candidates = {
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "config",
      "config", "../config", "../../config"};
  if (const char* root = std::getenv("MESON_SOURCE_ROOT")) {
    candidates.insert(candidates.begin(), std::filesystem::path(root) / "config");
  }
  for (const auto& dir : candidates) {
    if (std::filesystem::exists(dir / "switchyard.yaml")) return dir;
  }
  FAIL("cannot find config/switchyard.yaml from " << std::filesystem::current_path());
  return {};
}

}  // namespace sy::config::test
