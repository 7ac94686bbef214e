#pragma once
// ASCII helpers shared by the HTTP code and the config loader (header names, tokens).

#include <cstring>
#include <string_view>

namespace sy::common {

// Case-insensitive ASCII comparison of header names and tokens.
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    x |= 0x20;
    if (x != (y | 0x20) || x < 'a' || x > 'z') return false;
  }
  return true;
}

inline char toLowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }

// Whether `c` may appear in an HTTP token (RFC 9110 tchar): header names, cookie names.
inline bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// The value of a hexadecimal digit, or -1 (percent-encoding, IPv6 literals).
inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace sy::common
