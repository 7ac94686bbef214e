#include "switchyard/config/units.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

namespace sy::config {
namespace {

constexpr std::string_view kDurationSyntax = "must be a duration like 250ms, 5s, 2m or 1h";
constexpr std::string_view kSizeSyntax = "must be a size like 512, 32KiB or 10MiB";
constexpr std::string_view kFractionSyntax = "must be a fraction like 0.5 or a percentage like 50%";
constexpr std::string_view kAddressSyntax = "must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080";
// One year: far beyond any sensible timeout, and keeps millisecond arithmetic exact in a double.
constexpr double kMaxDurationMs = 365.0 * 24 * 3600 * 1000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Parses the whole of `s` as a plain decimal number ("12", "1.5"); no sign, exponent or inf.
std::optional<double> parseDecimal(std::string_view s) {
  if (s.empty() || !isDigit(s.front()) || !isDigit(s.back())) return std::nullopt;
  int dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (!isDigit(c)) {
      return std::nullopt;
    }
  }
  if (dots > 1) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, std::chars_format::fixed);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// Takes the leading run of characters satisfying `pred` off `s`.
template <class Pred>
std::string_view takeWhile(std::string_view& s, Pred pred) {
  size_t n = 0;
  while (n < s.size() && pred(s[n])) ++n;
  std::string_view head = s.substr(0, n);
  s.remove_prefix(n);
  return head;
}

std::unexpected<std::string> fail(std::string_view message) {
  return std::unexpected(std::string(message));
}

}  // namespace

std::expected<Duration, std::string> parseDuration(std::string_view text) {
  text = trim(text);
  if (text == "0") return Duration{0};
  if (!text.empty() && text.front() == '-') return fail("must not be negative");
  if (text.empty()) return fail(kDurationSyntax);

  // One or more <number><unit> terms, e.g. "1m30s".
  double totalMs = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::string_view numberText = takeWhile(rest, [](char c) { return isDigit(c) || c == '.'; });
    std::optional<double> number = parseDecimal(numberText);
    if (!number) return fail(kDurationSyntax);
    std::string_view unit = takeWhile(rest, isAlpha);
    double scale = 0;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60 * 1000;
    } else if (unit == "h") {
      scale = 3600 * 1000;
    } else if (unit.empty()) {
      return fail(rest.empty() ? "needs a unit: ms, s, m or h (e.g. 5s)" : kDurationSyntax);
    } else {
      return fail("unknown unit '" + std::string(unit) + "' (use ms, s, m or h)");
    }
    totalMs += *number * scale;
    if (totalMs > kMaxDurationMs) return fail("is too large (at most 8760h)");
  }
  double whole = std::round(totalMs);
  if (std::fabs(totalMs - whole) > 1e-6) return fail("must be a whole number of milliseconds");
  return Duration{static_cast<Duration::rep>(whole)};
}

std::expected<uint64_t, std::string> parseSize(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '-') return fail("must not be negative");
  std::string_view rest = text;
  std::string_view digits = takeWhile(rest, isDigit);
  if (digits.empty()) return fail(kSizeSyntax);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) return fail("is too large");
  if (ec != std::errc() || end != digits.data() + digits.size()) return fail(kSizeSyntax);

  std::string_view unit = trim(rest);
  struct Unit {
    std::string_view name;
    uint64_t scale;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},
      {"B", 1},
      {"KiB", 1ull << 10},
      {"MiB", 1ull << 20},
      {"GiB", 1ull << 30},
      {"TiB", 1ull << 40},
      {"KB", 1000},
      {"kB", 1000},
      {"MB", 1000 * 1000},
      {"GB", 1000 * 1000 * 1000},
      {"TB", 1000ull * 1000 * 1000 * 1000},
      {"k", 1ull << 10},
      {"K", 1ull << 10},
      {"m", 1ull << 20},
      {"M", 1ull << 20},
      {"g", 1ull << 30},
      {"G", 1ull << 30},
  };
  for (const Unit& u : kUnits) {
    if (u.name != unit) continue;
    if (value > std::numeric_limits<uint64_t>::max() / u.scale) return fail("is too large");
    return value * u.scale;
  }
  if (!unit.empty() && unit.front() == '.') return fail(kSizeSyntax);
  return fail("unknown unit '" + std::string(unit) + "' (use B, KiB, MiB, GiB, KB, MB or GB)");
}

std::expected<double, std::string> parseFraction(std::string_view text) {
  text = trim(text);
  bool percent = !text.empty() && text.back() == '%';
  if (percent) text = trim(text.substr(0, text.size() - 1));
  if (!text.empty() && text.front() == '-') return fail("must not be negative");
  std::optional<double> value = parseDecimal(text);
  if (!value) return fail(kFractionSyntax);
  double fraction = percent ? *value / 100 : *value;
  if (fraction > 1) {
    return fail(percent ? "must be at most 100%"
                        : "must be between 0 and 1, or a percentage like 50%");
  }
  return fraction;
}

std::expected<SocketAddress, std::string> parseHostPort(std::string_view text) {
  text = trim(text);
  SocketAddress out;
  out.text = std::string(text);
  std::string_view portText;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after IPv6 address");
    out.host = std::string(text.substr(1, close - 1));
    std::string_view after = text.substr(close + 1);
    if (after.empty() || after.front() != ':') return fail(kAddressSyntax);
    portText = after.substr(1);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail(kAddressSyntax);
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return fail("IPv6 addresses need brackets, e.g. [::1]:8080");
    }
    portText = text.substr(colon + 1);
  }
  if (out.host.empty()) return fail("missing host (use 0.0.0.0:PORT for all IPv4 interfaces)");

  unsigned port = 0;
  auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (portText.empty() || ec != std::errc() || end != portText.data() + portText.size() ||
      port > 65535) {
    return fail("port must be a number between 0 and 65535");
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

std::expected<SocketAddress, std::string> parseSocketAddress(std::string_view text) {
  auto parsed = parseHostPort(text);
  if (!parsed) return parsed;
  SocketAddress out = std::move(*parsed);
  const bool bracketed = !out.text.empty() && out.text.front() == '[';

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(out.host.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    if (bracketed) return fail("'" + out.host + "' is not an IPv6 address");
    hints.ai_flags = 0;
    rc = getaddrinfo(out.host.c_str(), nullptr, &hints, &result);
    if (rc != 0) {
      return fail("cannot resolve host '" + out.host + "': " + gai_strerror(rc));
    }
  }
  bool wrongFamily = bracketed && result->ai_family != AF_INET6;
  if (!wrongFamily) {
    std::memcpy(&out.addr, result->ai_addr, result->ai_addrlen);
    out.addrLen = static_cast<socklen_t>(result->ai_addrlen);
  }
  freeaddrinfo(result);
  if (wrongFamily) return fail("'" + out.host + "' is not an IPv6 address");

  if (out.addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&out.addr)->sin_port = htons(out.port);
  } else if (out.addr.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&out.addr)->sin6_port = htons(out.port);
  } else {
    return fail("'" + out.host + "' is not an IPv4 or IPv6 address");
  }
  return out;
}

bool isDnsName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!isAlpha(c) && !isDigit(c) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

std::expected<Cidr, std::string> parseCidr(std::string_view text) {
  text = trim(text);
  Cidr out;
  size_t slash = text.find('/');
  std::string address(text.substr(0, slash));
  int maxPrefix = 0;
  if (address.find(':') != std::string::npos) {
    if (inet_pton(AF_INET6, address.c_str(), out.bytes) != 1) {
      return fail("'" + address + "' is not an IPv6 address");
    }
    out.family = AF_INET6;
    maxPrefix = 128;
  } else {
    if (inet_pton(AF_INET, address.c_str(), out.bytes) != 1) {
      return fail("must be a CIDR like 10.0.0.0/8 or fd00::/8");
    }
    out.family = AF_INET;
    maxPrefix = 32;
  }
  out.prefix = maxPrefix;
  if (slash != std::string_view::npos) {
    std::string_view prefixText = text.substr(slash + 1);
    auto [end, ec] =
        std::from_chars(prefixText.data(), prefixText.data() + prefixText.size(), out.prefix);
    if (prefixText.empty() || ec != std::errc() || end != prefixText.data() + prefixText.size() ||
        out.prefix < 0 || out.prefix > maxPrefix) {
      return fail("prefix length must be between 0 and " + std::to_string(maxPrefix));
    }
  }

  // Refuse host bits: "10.0.0.1/8" is almost always a typo for "10.0.0.0/8" or "10.0.0.1/32".
  Cidr network = out;
  int byteCount = maxPrefix / 8;
  for (int i = 0; i < byteCount; ++i) {
    int keepBits = std::clamp(out.prefix - i * 8, 0, 8);
    network.bytes[i] &= static_cast<uint8_t>(0xff00u >> keepBits);
  }
  if (std::memcmp(network.bytes, out.bytes, byteCount) != 0) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(out.family, network.bytes, buf, sizeof buf);
    return fail("has host bits set; did you mean " + std::string(buf) + "/" +
                std::to_string(out.prefix) + "?");
  }
  return out;
}

std::expected<HashKey, std::string> parseHashKey(std::string_view text) {
  HashKey out;
  if (text.empty() || text == "ip") return out;
  if (text == "path") {
    out.kind = HashKey::Kind::kPath;
    return out;
  }
  std::string_view name;
  if (text.starts_with("header:")) {
    out.kind = HashKey::Kind::kHeader;
    name = text.substr(7);
  } else if (text.starts_with("cookie:")) {
    out.kind = HashKey::Kind::kCookie;
    name = text.substr(7);
  } else {
    return fail("must be \"\" or ip (the client IP), header:NAME, cookie:NAME or path");
  }
  bool token = !name.empty();
  for (char c : name) token = token && common::isTokenChar(c);
  if (!token) {
    return fail("'" + std::string(text.substr(0, 7)) + "' must be followed by a " +
                (out.kind == HashKey::Kind::kHeader ? "header" : "cookie") +
                " name (letters, digits and !#$%&'*+-.^_`|~)");
  }
  out.name = std::string(name);
  return out;
}

}  // namespace sy::config
