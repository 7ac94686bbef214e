#pragma once
// Memory for nghttp2 sessions (nghttp2_mem): per-thread free lists by size class.
//
// nghttp2 allocates and frees a handful of small objects for every stream (the stream, its
// header buffers, frames and outbound items). With the C library's allocator that was about 8 %
// of the user time of an HTTP/2 request; here a freed object goes on its thread's list for its
// size class and the next stream takes it back, so steady state calls no malloc at all.
//
// Bounded: each class keeps at most kMaxCachedBytes of free objects per thread, the rest goes
// back to the C library; objects above the largest class are plain malloc/free. Every object
// carries its class in a 16-byte prefix (alignment stays 16), so it may be freed on any thread.

#include <cstddef>
#include <cstdint>

#include <nghttp2/nghttp2.h>

namespace sy::proxy {

class H2Memory {
 public:
  static constexpr size_t kClasses = 8;            // 32, 64, ... 4096 bytes (prefix included)
  static constexpr size_t kMaxCachedBytes = 256 * 1024;  // per class and thread

  // The allocator to hand to nghttp2_session_*_new3 (valid for the process's lifetime).
  static nghttp2_mem* mem();

  static void* allocate(size_t n);
  static void release(void* p);
  static void* allocateZeroed(size_t count, size_t size);
  static void* resize(void* p, size_t n);

  // This thread's cached free objects of class `cls` (tests).
  static size_t cached(size_t cls);
  // The class an allocation of n bytes uses, or kClasses when it is too large for one.
  static size_t classFor(size_t n);
};

}  // namespace sy::proxy
