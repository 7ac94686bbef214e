#include "switchyard/proxy/retry_policy.h"

#include <ctime>

#include "switchyard/balancing/rng.h"

namespace sy::proxy {
namespace {

bool digits(std::string_view s, size_t at, size_t n, int* out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// "Sun, 06 Nov 1994 08:49:37 GMT" -> unix seconds.
std::optional<int64_t> parseImfFixdate(std::string_view s) {
  static constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
    return std::nullopt;
  bool dayOk = false;
  for (std::string_view d : kDays) dayOk = dayOk || s.substr(0, 3) == d;
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (s.substr(8, 3) == kMonths[i]) month = i;
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  if (!dayOk || month < 0 || !digits(s, 5, 2, &day) || !digits(s, 12, 4, &year) ||
      !digits(s, 17, 2, &hh) || !digits(s, 20, 2, &mm) || !digits(s, 23, 2, &ss))
    return std::nullopt;
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

uint64_t backoffMs(uint32_t retry, uint64_t baseMs, uint64_t maxMs, uint64_t random) {
  if (retry == 0 || maxMs == 0) return 0;
  uint64_t cap = baseMs;
  for (uint32_t i = 1; i < retry && cap < maxMs; ++i) cap *= 2;
  if (cap > maxMs) cap = maxMs;
  // Uniform in [0, cap] (Lemire's multiply-shift).
  return static_cast<uint64_t>((static_cast<unsigned __int128>(random) * (cap + 1)) >> 64);
}

std::optional<uint64_t> parseRetryAfterMs(std::string_view v, int64_t nowUnix) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (v.front() >= '0' && v.front() <= '9') {
    uint64_t seconds = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return std::nullopt;
      if (seconds < 1'000'000'000) seconds = seconds * 10 + static_cast<uint64_t>(c - '0');
    }
    return seconds * 1000;
  }
  std::optional<int64_t> at = parseImfFixdate(v);
  if (!at) return std::nullopt;
  return *at > nowUnix ? static_cast<uint64_t>(*at - nowUnix) * 1000 : 0;
}

uint64_t retryRandom() {
  thread_local std::unique_ptr<balancing::Rng> rng = balancing::makeRng();
  return rng->next();
}

}  // namespace sy::proxy
