#include "switchyard/server/cpus.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <sched.h>
#include <unistd.h>

namespace sy::server {
namespace {

std::optional<std::string> readSmallFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool parseUnsigned(std::string_view text, unsigned long long& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<unsigned> parseCpuMax(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view quota = text.substr(0, space), period = text.substr(space + 1);
  unsigned long long q = 0, p = 0;
  if (quota == "max" || !parseUnsigned(quota, q) || !parseUnsigned(period, p) || p == 0 || q == 0)
    return std::nullopt;
  const unsigned long long cpus = (q + p - 1) / p;
  return static_cast<unsigned>(cpus > 4096 ? 4096 : cpus);
}

std::optional<std::string> parseOwnCgroup(std::string_view text) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (line.starts_with("0::")) return std::string(line.substr(3));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return std::nullopt;
}

std::optional<unsigned> cgroupCpuLimit(const std::string& root, const std::string& cgroup) {
  std::optional<unsigned> best;
  std::string path = cgroup;
  while (!path.empty() && path.back() == '/') path.pop_back();
  for (;;) {
    if (auto text = readSmallFile(root + path + "/cpu.max")) {
      if (auto cpus = parseCpuMax(*text); cpus && (!best || *cpus < *best)) best = cpus;
    }
    if (path.empty()) break;
    const size_t slash = path.rfind('/');
    path.resize(slash == std::string::npos ? 0 : slash);
  }
  return best;
}

unsigned affinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

unsigned autoWorkerCount() {
  unsigned n = affinityCpus();
  if (auto text = readSmallFile("/proc/self/cgroup")) {
    if (auto own = parseOwnCgroup(*text)) {
      if (auto limit = cgroupCpuLimit("/sys/fs/cgroup", *own); limit && *limit < n) n = *limit;
    }
  }
  return n > 0 ? n : 1;
}

}  // namespace sy::server
