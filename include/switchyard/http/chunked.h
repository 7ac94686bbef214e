#pragma once
// Chunked transfer coding (RFC 9112 §7.1) for bodies re-framed on their way through.

#include <charconv>
#include <cstddef>
#include <string_view>

#include "switchyard/net/buffer.h"

namespace sy::http {

// Appends the chunk-size line "<hex>\r\n" for a chunk of n bytes.
inline void addChunkHeader(net::WriteBatch* b, size_t n) {
  char tmp[20];
  char* end = std::to_chars(tmp, tmp + sizeof tmp - 2, n, 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  b->addCopy(tmp, static_cast<size_t>(end - tmp));
}

inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace sy::http
