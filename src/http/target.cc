#include "switchyard/http/target.h"

#include <cstring>
#include "switchyard/common/ascii.h"

namespace sy::http {
namespace {

using common::hexValue;

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 3986 §2.3.
bool isUnreserved(char c) { return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

// RFC 3986 §2.2.
bool isSubDelim(char c) {
  switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case ',': case ';': case '=':
      return true;
    default:
      return false;
  }
}

// Whether the path part may need rewriting at all: the common request ("/api/v1/items") has no
// '%' and no segment starting with '.', and is used in place after this one scan.
bool mayNeedRewrite(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') return true;
    if (path[i] == '.' && i > 0 && path[i - 1] == '/') return true;
  }
  return false;
}

// Output buffer with a bound; remembers overflow instead of failing each call.
struct Out {
  char* p;
  size_t cap;
  size_t n = 0;
  bool overflow = false;
  void put(char c) {
    if (n == cap) {
      overflow = true;
      return;
    }
    p[n++] = c;
  }
};

}  // namespace

NormalizedPath normalizePath(std::string_view target, char* out, size_t cap) {
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (path.empty() || path.front() != '/' || !mayNeedRewrite(path)) return {};

  // The path is a sequence of "/segment" units. Each is decoded onto the end of the output,
  // then dropped if it is "." and, if "..", dropped together with the unit before it.
  Out o{out, cap};
  size_t i = 0;
  while (i < path.size()) {
    const size_t unitStart = o.n;  // where this unit's '/' goes
    o.put('/');
    ++i;
    for (; i < path.size() && path[i] != '/'; ++i) {
      char c = path[i];
      if (c != '%') {
        o.put(c);
        continue;
      }
      const int hi = i + 1 < path.size() ? hexValue(path[i + 1]) : -1;
      const int lo = i + 2 < path.size() ? hexValue(path[i + 2]) : -1;
      if (hi < 0 || lo < 0) return {PathStatus::kBadEscape, 0};
      const char decoded = static_cast<char>(hi * 16 + lo);
      if (isUnreserved(decoded)) {
        o.put(decoded);
      } else {
        static constexpr char kHex[] = "0123456789ABCDEF";
        o.put('%');
        o.put(kHex[hi]);
        o.put(kHex[lo]);
      }
      i += 2;
    }
    if (o.overflow) return {PathStatus::kTooLong, 0};
    const std::string_view seg(out + unitStart + 1, o.n - unitStart - 1);
    const bool last = i >= path.size();
    if (seg == ".") {
      o.n = unitStart;
    } else if (seg == "..") {
      o.n = unitStart;
      while (o.n > 0 && out[o.n - 1] != '/') --o.n;  // drop the unit before: back to its '/'
      if (o.n > 0) --o.n;
    } else {
      continue;
    }
    if (last) o.put('/');  // "/a/b/.." is "/a/": the directory, not the file "/a"
  }
  if (o.n == 0) o.put('/');
  if (q != std::string_view::npos)
    for (char c : target.substr(q)) o.put(c);
  if (o.overflow) return {PathStatus::kTooLong, 0};
  if (o.n == target.size() && std::memcmp(out, target.data(), o.n) == 0) return {};
  return {PathStatus::kRewritten, o.n};
}

int canonicalizeTarget(std::string_view& target, TargetStorage& storage, const char** reason) {
  if (hasFragment(target)) {
    *reason = "fragment in request target";
    return 400;
  }
  const NormalizedPath n = normalizePath(target, storage.data, sizeof storage.data);
  switch (n.status) {
    case PathStatus::kUnchanged:
      return 0;
    case PathStatus::kRewritten:
      target = std::string_view(storage.data, n.len);
      return 0;
    case PathStatus::kBadEscape:
      *reason = "invalid percent-encoding in request target";
      return 400;
    case PathStatus::kTooLong:
      *reason = "request target too long to normalise";
      return 414;
  }
  return 400;
}

bool validHost(std::string_view a) {
  std::string_view port;
  if (!a.empty() && a.front() == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view lit = a.substr(1, close - 1);
    if (lit.empty()) return false;
    if (lit.front() == 'v' || lit.front() == 'V') {
      // IPvFuture: "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
      size_t i = 1;
      while (i < lit.size() && hexValue(lit[i]) >= 0) ++i;
      if (i == 1 || i + 1 >= lit.size() || lit[i] != '.') return false;
      for (char c : lit.substr(i + 1))
        if (!isUnreserved(c) && !isSubDelim(c) && c != ':') return false;
    } else {
      // IPv6address: hex digits, ':' and the dots of a trailing IPv4 part (the shape, not
      // every rule of RFC 4291: what matters here is that nothing else gets through).
      if (lit.find(':') == std::string_view::npos) return false;
      for (char c : lit)
        if (hexValue(c) < 0 && c != ':' && c != '.') return false;
    }
    const std::string_view rest = a.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    port = rest;
  } else {
    const size_t colon = a.find(':');
    const std::string_view name = a.substr(0, colon);
    for (size_t i = 0; i < name.size(); ++i) {
      const char c = name[i];
      if (isUnreserved(c) || isSubDelim(c)) continue;
      if (c == '%' && i + 2 < name.size() && hexValue(name[i + 1]) >= 0 &&
          hexValue(name[i + 2]) >= 0) {
        i += 2;
        continue;
      }
      return false;
    }
    if (colon != std::string_view::npos) port = a.substr(colon);
  }
  if (port.empty()) return true;
  port.remove_prefix(1);  // ':'
  if (port.size() > 5) return false;
  uint32_t v = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v <= 65535;
}

}  // namespace sy::http
