// Access log line formats (access_log.h): JSON and Apache/nginx "combined".

#include <charconv>
#include <ctime>

#include "switchyard/common/json.h"
#include "switchyard/metrics/access_log.h"

namespace sy::metrics {
namespace {

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void put2(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
}

void put4(char* p, int v) {
  put2(p, v / 100);
  put2(p + 2, v % 100);
}

void refresh(TimeCache& tc, int64_t second) {
  if (tc.second == second) return;
  tc.second = second;
  time_t t = static_cast<time_t>(second);
  tm u;
  gmtime_r(&t, &u);
  char* p = tc.iso;  // 2026-11-27T00:45:58
  put4(p, u.tm_year + 1900);
  p[4] = '-';
  put2(p + 5, u.tm_mon + 1);
  p[7] = '-';
  put2(p + 8, u.tm_mday);
  p[10] = 'T';
  put2(p + 11, u.tm_hour);
  p[13] = ':';
  put2(p + 14, u.tm_min);
  p[16] = ':';
  put2(p + 17, u.tm_sec);
  p = tc.clf;  // 27/Nov/2026:00:45:58 +0000
  put2(p, u.tm_mday);
  p[2] = '/';
  const char* mon = kMonths[u.tm_mon];
  p[3] = mon[0];
  p[4] = mon[1];
  p[5] = mon[2];
  p[6] = '/';
  put4(p + 7, u.tm_year + 1900);
  p[11] = ':';
  put2(p + 12, u.tm_hour);
  p[14] = ':';
  put2(p + 15, u.tm_min);
  p[17] = ':';
  put2(p + 18, u.tm_sec);
  p[20] = ' ';
  p[21] = '+';
  p[22] = p[23] = p[24] = p[25] = '0';
}

void putUint(std::string& out, uint64_t v) {
  char tmp[20];
  out.append(tmp, std::to_chars(tmp, tmp + sizeof tmp, v).ptr);
}

// Nanoseconds as a decimal with 3 fractional digits of `unit` (1e6 = ms, 1e9 = s).
void putScaled(std::string& out, uint64_t ns, uint64_t unit) {
  const uint64_t thousandths = (ns + unit / 2000) / (unit / 1000);
  putUint(out, thousandths / 1000);
  const uint32_t frac = static_cast<uint32_t>(thousandths % 1000);
  char f[4] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
               static_cast<char>('0' + frac % 10)};
  out.append(f, 4);
}

void jsonStringOrNull(std::string& out, std::string_view v) {
  if (v.empty()) {
    out += "null";
  } else {
    json::appendString(out, v);
  }
}

void jsonMsOrNull(std::string& out, int64_t ns) {
  if (ns < 0) {
    out += "null";
  } else {
    putScaled(out, static_cast<uint64_t>(ns), 1'000'000);
  }
}

// Combined-format field text: `"`, `\`, control bytes and bytes >= 0x7f as \xHH (as nginx).
void putClf(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  if (v.empty()) {
    out += '-';
    return;
  }
  for (char ch : v) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      const char esc[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
      out.append(esc, 4);
    } else {
      out += ch;
    }
  }
}

void putSecondsOrDash(std::string& out, int64_t ns) {
  if (ns < 0) {
    out += '-';
  } else {
    putScaled(out, static_cast<uint64_t>(ns), 1'000'000'000);
  }
}

}  // namespace

void formatAccessLine(LogFormat format, const AccessRecord& r, int64_t wallNs, TimeCache& tc,
                      std::string& out) {
  if (wallNs < 0) wallNs = 0;
  const int64_t second = wallNs / 1'000'000'000;
  const int millis = static_cast<int>(wallNs / 1'000'000 % 1000);
  refresh(tc, second);

  if (format == LogFormat::kCombined) {
    // client - - [time] "METHOD target PROTOCOL" status bytes "referer" "user-agent", then
    // Switchyard's own fields as key=value.
    putClf(out, r.client);
    out += " - - [";
    out.append(tc.clf, sizeof tc.clf - 1);
    out += "] \"";
    if (r.method.empty()) {
      out += '-';
    } else {
      putClf(out, r.method);
      out += ' ';
      putClf(out, r.target);
      out += ' ';
      putClf(out, r.protocol);
    }
    out += "\" ";
    putUint(out, static_cast<uint64_t>(r.status));
    out += ' ';
    putUint(out, r.bytesSent);
    out += " \"";
    putClf(out, r.referer);
    out += "\" \"";
    putClf(out, r.userAgent);
    out += "\" request_id=";
    putClf(out, r.requestId);
    out += " duration=";
    putScaled(out, r.durationNs, 1'000'000'000);
    out += " backend=";
    if (r.backend.empty()) {
      out += '-';
    } else {
      putClf(out, r.pool);
      out += '/';
      putClf(out, r.backend);
    }
    out += " upstream_connect=";
    putSecondsOrDash(out, r.upstreamConnectNs);
    out += " upstream_response=";
    putSecondsOrDash(out, r.upstreamResponseNs);
    if (!r.fault.empty()) {
      out += " fault=";
      putClf(out, r.fault);
    }
    out += " attempts=";
    putUint(out, r.attempts);
    if (r.grpcStatus >= 0) {
      out += " grpc_status=";
      putUint(out, static_cast<uint64_t>(r.grpcStatus));
    }
    out += '\n';
    return;
  }

  out += "{\"time\":\"";
  out.append(tc.iso, sizeof tc.iso - 1);
  const char ms[5] = {'.', static_cast<char>('0' + millis / 100),
                      static_cast<char>('0' + millis / 10 % 10),
                      static_cast<char>('0' + millis % 10), 'Z'};
  out.append(ms, 5);
  out += "\",\"request_id\":";
  jsonStringOrNull(out, r.requestId);
  out += ",\"client\":";
  jsonStringOrNull(out, r.client);
  out += ",\"listener\":";
  jsonStringOrNull(out, r.listener);
  out += ",\"method\":";
  jsonStringOrNull(out, r.method);
  out += ",\"path\":";
  jsonStringOrNull(out, r.target);
  out += ",\"protocol\":";
  jsonStringOrNull(out, r.protocol);
  out += ",\"host\":";
  jsonStringOrNull(out, r.host);
  out += ",\"status\":";
  putUint(out, static_cast<uint64_t>(r.status));
  out += ",\"bytes_sent\":";
  putUint(out, r.bytesSent);
  out += ",\"request_body_bytes\":";
  putUint(out, r.requestBodyBytes);
  out += ",\"duration_ms\":";
  putScaled(out, r.durationNs, 1'000'000);
  out += ",\"pool\":";
  jsonStringOrNull(out, r.pool);
  out += ",\"backend\":";
  jsonStringOrNull(out, r.backend);
  out += ",\"upstream_address\":";
  jsonStringOrNull(out, r.upstreamAddress);
  out += ",\"upstream_connect_ms\":";
  jsonMsOrNull(out, r.upstreamConnectNs);
  out += ",\"upstream_response_ms\":";
  jsonMsOrNull(out, r.upstreamResponseNs);
  out += ",\"attempts\":";
  putUint(out, r.attempts);
  if (!r.fault.empty()) {
    out += ",\"fault\":";
    jsonStringOrNull(out, r.fault);
  }
  out += ",\"grpc_status\":";
  if (r.grpcStatus >= 0) {
    putUint(out, static_cast<uint64_t>(r.grpcStatus));
  } else {
    out += "null";
  }
  out += ",\"user_agent\":";
  jsonStringOrNull(out, r.userAgent);
  out += ",\"referer\":";
  jsonStringOrNull(out, r.referer);
  out += "}\n";
}

}  // namespace sy::metrics
