#pragma once
// Input side of a socket: the block being read into, and how far it has been parsed. Worker
// thread only.

#include <cstdint>

#include <uv.h>

#include "switchyard/http/parser.h"
#include "switchyard/net/buffer.h"

namespace sy::proxy {

// Bytes held for one socket direction before reading the other side pauses.
inline constexpr size_t kHighWater = 256 * 1024;
inline constexpr size_t kLowWater = 64 * 1024;

struct InputBuffer {
  net::Block* block = nullptr;
  uint32_t parsed = 0;  // offset of the first byte not yet given to the parser
  uint32_t end = 0;     // offset after the last byte read

  char* at(uint32_t off) { return block->data() + off; }
  uint32_t unparsed() const { return end - parsed; }
  // Space to read into. Keeps the bytes still needed (a partial head from the parser's base,
  // else the unparsed bytes) contiguous, moving them to a fresh block when the tail is short.
  // `parser` may be null when no message is in progress.
  uv_buf_t prepare(net::BlockPool& pool, http::Parser* parser, uint32_t maxHead);
  // Takes `b` (one reference) as the block to read into, from its start, when nothing in the
  // current one is still needed (io_uring hands received blocks over: net::TcpStream::setAdopt);
  // false leaves everything as it was.
  bool adopt(net::Block* b, const http::Parser* parser);
  // Drops the block if nothing in it is still needed.
  void releaseIfEmpty(const http::Parser* parser);
  void release();
};

}  // namespace sy::proxy
