#pragma once
// Process log: one line per message on stderr, "2026-11-27T00:40:01.123Z INFO  message".
// Thread-safe (each line is written with a single write(2)); cheap when the level is filtered.

#include <cstdarg>

namespace sy::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void setLevel(Level level);
Level level();
bool enabled(Level level);

// printf-style; a newline is appended.
void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace sy::log

#define SY_LOG(lvl, ...)                                               \
  do {                                                                 \
    if (::sy::log::enabled(::sy::log::Level::lvl)) ::sy::log::write(::sy::log::Level::lvl, __VA_ARGS__); \
  } while (0)
#define LOG_DEBUG(...) SY_LOG(kDebug, __VA_ARGS__)
#define LOG_INFO(...) SY_LOG(kInfo, __VA_ARGS__)
#define LOG_WARN(...) SY_LOG(kWarn, __VA_ARGS__)
#define LOG_ERROR(...) SY_LOG(kError, __VA_ARGS__)
