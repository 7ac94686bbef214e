#pragma once
// `switchyard --dump-config`: the effective configuration as YAML, every default filled in
// (like `nginx -T`). The output is itself a valid config file: loading it gives the same
// Config (tested in tests/config/dump_test.cc and integration/test_cli.py).

#include <string>

#include "switchyard/config/config.h"

namespace sy::config {

std::string dumpConfig(const Config& config);

// "10s", "1h", "1m30s", "250ms", "0s": the shortest text parseDuration reads back exactly.
std::string formatDuration(Duration d);

}  // namespace sy::config
