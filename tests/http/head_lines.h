#pragma once
// Reading a serialized HTTP head in tests: its header lines, its first line, how many lines carry
// a name, whether one line is there.

#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "switchyard/http/parser.h"

namespace sy::http::test {

// Header lines of a serialized head (the first line excluded), e.g. "Host: a".
inline std::vector<std::string> headerLines(const std::string& head) {
  std::vector<std::string> out;
  size_t pos = head.find("\r\n");
  REQUIRE(pos != std::string::npos);
  pos += 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    REQUIRE(e != std::string::npos);
    if (e == pos) {
      CHECK(e + 2 == head.size());  // the blank line ends the head
      break;
    }
    out.push_back(head.substr(pos, e - pos));
    pos = e + 2;
  }
  return out;
}

inline std::string firstLine(const std::string& head) { return head.substr(0, head.find("\r\n")); }

// Number of header lines whose name is `name` (case-insensitive).
inline int countHeader(const std::vector<std::string>& ls, std::string_view name) {
  int n = 0;
  for (const auto& l : ls) {
    size_t colon = l.find(':');
    if (colon != std::string::npos && equalsIgnoreCase(std::string_view(l).substr(0, colon), name))
      ++n;
  }
  return n;
}

inline bool hasLine(const std::vector<std::string>& ls, std::string_view line) {
  for (const auto& l : ls)
    if (l == line) return true;
  return false;
}

}  // namespace sy::http::test
