#include <doctest/doctest.h>

#include <time.h>

#include <cstring>
#include <string>

#include "switchyard/http/date.h"

using namespace sy::http;

namespace {
std::string fmt(int64_t t) {
  char out[kHttpDateLength];
  formatHttpDate(t, out);
  return std::string(out, sizeof out);
}
}  // namespace

TEST_CASE("formatHttpDate: IMF-fixdate") {
  CHECK(fmt(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(fmt(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110 §5.6.7 example
  CHECK(fmt(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");  // leap day of a year % 400
  CHECK(fmt(4107542399) == "Sun, 28 Feb 2100 23:59:59 GMT");  // 2100 is not a leap year
  CHECK(fmt(4107542400) == "Mon, 01 Mar 2100 00:00:00 GMT");
  CHECK(fmt(1709208000) == "Thu, 29 Feb 2024 12:00:00 GMT");
  CHECK(fmt(253402300799) == "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST_CASE("formatHttpDate agrees with gmtime_r and strftime over many instants") {
  char expect[64];
  for (int64_t t = 0; t < 253402300799; t += 86400 * 367 + 3607) {
    const time_t tt = static_cast<time_t>(t);
    tm parts;
    REQUIRE(gmtime_r(&tt, &parts) != nullptr);
    REQUIRE(strftime(expect, sizeof expect, "%a, %d %b %Y %H:%M:%S GMT", &parts) == 29);
    CAPTURE(t);
    REQUIRE(fmt(t) == expect);
  }
}

TEST_CASE("httpDateAt: formats once per second; httpDateNow is the current second") {
  std::string_view a = httpDateAt(784111777);
  CHECK(a == "Sun, 06 Nov 1994 08:49:37 GMT");
  const char* p = a.data();
  CHECK(httpDateAt(784111777).data() == p);  // the same cached text
  CHECK(httpDateAt(784111778) == "Sun, 06 Nov 1994 08:49:38 GMT");
  const time_t before = time(nullptr);
  const std::string now(httpDateNow());
  const time_t after = time(nullptr);
  CHECK((now == fmt(before) || now == fmt(after) || now == fmt(before - 1)));
}
