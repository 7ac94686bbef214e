#include "switchyard/metrics/process.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sy::metrics {
namespace {

// Reads a small /proc file into buf (NUL-terminated); returns its length or 0.
size_t readSmallFile(const char* path, char* buf, size_t cap) {
  FILE* f = std::fopen(path, "re");
  if (!f) return 0;
  size_t n = std::fread(buf, 1, cap - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  return n;
}

double bootTimeSeconds() {
  char buf[8192];
  if (!readSmallFile("/proc/stat", buf, sizeof buf)) return 0;
  const char* p = std::strstr(buf, "\nbtime ");
  return p ? std::strtod(p + 7, nullptr) : 0;
}

}  // namespace

ProcessStats readProcessStats() {
  ProcessStats s;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    s.cpuSeconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                   static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  const long page = sysconf(_SC_PAGESIZE);
  char buf[1024];
  if (readSmallFile("/proc/self/statm", buf, sizeof buf)) {
    unsigned long long size = 0, resident = 0;
    if (std::sscanf(buf, "%llu %llu", &size, &resident) == 2) {
      s.virtualBytes = size * static_cast<uint64_t>(page);
      s.residentBytes = resident * static_cast<uint64_t>(page);
    }
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    uint64_t n = 0;
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
    s.openFds = n > 0 ? n - 1 : 0;  // the directory stream's own descriptor
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) s.maxFds = rl.rlim_cur;
  // Field 22 of /proc/self/stat: start time in clock ticks after boot. The command name (field
  // 2) may contain spaces and parentheses, so count fields from the last ')'.
  if (readSmallFile("/proc/self/stat", buf, sizeof buf)) {
    if (const char* p = std::strrchr(buf, ')')) {
      int field = 2;
      for (++p; *p && field < 22; ++p)
        if (*p == ' ') ++field;
      const double ticks = std::strtod(p, nullptr);
      const long hz = sysconf(_SC_CLK_TCK);
      if (hz > 0) s.startTimeSeconds = bootTimeSeconds() + ticks / static_cast<double>(hz);
    }
  }
  return s;
}

}  // namespace sy::metrics
