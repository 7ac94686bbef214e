#include "switchyard/http/date.h"

#include <time.h>

namespace sy::http {
namespace {

void put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

struct DateCache {
  int64_t second = INT64_MIN;
  char text[kHttpDateLength];
};

thread_local DateCache tCache;

}  // namespace

void formatHttpDate(int64_t t, char (&out)[kHttpDateLength]) {
  static constexpr char kDays[] = "ThuFriSatSunMonTueWed";  // 1970-01-01 was a Thursday
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  int64_t days = t / 86400;
  int64_t secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  const int64_t wd = ((days % 7) + 7) % 7;
  // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted): eras of
  // 400 years starting on 1 March, so leap days fall at the end of a year.
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
  const unsigned y = static_cast<unsigned>(year < 0 ? 0 : year > 9999 ? 9999 : year);

  char* p = out;
  for (int i = 0; i < 3; ++i) *p++ = kDays[wd * 3 + i];
  *p++ = ',';
  *p++ = ' ';
  put2(p, day);
  p += 2;
  *p++ = ' ';
  for (int i = 0; i < 3; ++i) *p++ = kMonths[(month - 1) * 3 + i];
  *p++ = ' ';
  put2(p, y / 100);
  put2(p + 2, y % 100);
  p += 4;
  *p++ = ' ';
  put2(p, static_cast<unsigned>(secs / 3600));
  p[2] = ':';
  put2(p + 3, static_cast<unsigned>(secs / 60 % 60));
  p[5] = ':';
  put2(p + 6, static_cast<unsigned>(secs % 60));
  p += 8;
  *p++ = ' ';
  *p++ = 'G';
  *p++ = 'M';
  *p = 'T';
}

std::string_view httpDateAt(int64_t unixSeconds) {
  DateCache& c = tCache;
  if (c.second != unixSeconds) {
    formatHttpDate(unixSeconds, c.text);
    c.second = unixSeconds;
  }
  return {c.text, kHttpDateLength};
}

std::string_view httpDateNow() {
  timespec ts;
  if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0) clock_gettime(CLOCK_REALTIME, &ts);
  return httpDateAt(static_cast<int64_t>(ts.tv_sec));
}

}  // namespace sy::http
