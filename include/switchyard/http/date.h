#pragma once
// The Date header field (RFC 9110 §6.6.1): an origin answer without one gets one from the proxy,
// and so do the proxy's own answers. IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT").

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sy::http {

inline constexpr size_t kHttpDateLength = 29;
// "Date: <IMF-fixdate>\r\n": the bytes a head grows by when the proxy adds Date.
inline constexpr size_t kDateFieldBytes = 6 + kHttpDateLength + 2;

// Writes `unixSeconds` (UTC, 1970 to 9999) as an IMF-fixdate. Pure; any thread.
void formatHttpDate(int64_t unixSeconds, char (&out)[kHttpDateLength]);

// The current time as an IMF-fixdate. Each thread keeps the text of the last second it formatted
// and formats again only when the second changes: one vDSO clock read (CLOCK_REALTIME_COARSE)
// per call, no syscall, lock or allocation. The view is valid on the calling thread until its
// next call.
std::string_view httpDateNow();

// httpDateNow() for a given time (the same per-thread cache), so tests can drive the clock.
std::string_view httpDateAt(int64_t unixSeconds);

}  // namespace sy::http
