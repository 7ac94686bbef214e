// Fuzzes the YAML config loader: any input gives a Config or a ConfigError whose message
// names a position inside the input; never a crash, an escaped exception or a hang.

#include <cstdint>
#include <string>

#include "switchyard/config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  auto cfg = sy::config::loadConfigString(yaml, "fuzz.yaml");
  if (!cfg) {
    const auto& e = cfg.error();
    if (e.message.empty() || e.file != "fuzz.yaml") __builtin_trap();
    if (e.line < 0 || e.column < 0) __builtin_trap();
    (void)e.format();
  }
  return 0;
}
