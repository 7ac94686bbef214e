// H2Memory (h2_memory.h): nghttp2's allocator: reuse by size class, realloc, bounds.
#include "switchyard/proxy/h2_memory.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

using sy::proxy::H2Memory;

TEST_CASE("h2 memory: classes, alignment and reuse of a freed object") {
  CHECK(H2Memory::classFor(1) == 0);
  CHECK(H2Memory::classFor(16) == 0);
  CHECK(H2Memory::classFor(17) == 1);
  CHECK(H2Memory::classFor(4096 - 16) == H2Memory::kClasses - 1);
  CHECK(H2Memory::classFor(4096 - 15) == H2Memory::kClasses);
  // Every size: the smallest class whose blocks (32 << class, a 16-byte prefix included) hold it.
  for (size_t n = 0; n <= 4096 - 16; ++n) {
    size_t want = 0;
    while ((size_t{32} << want) - 16 < n) ++want;
    REQUIRE(H2Memory::classFor(n) == want);
  }

  void* a = H2Memory::allocate(100);
  REQUIRE(a != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(a) % 16 == 0);
  std::memset(a, 0xab, 100);
  const size_t cls = H2Memory::classFor(100);
  const size_t before = H2Memory::cached(cls);
  H2Memory::release(a);
  CHECK(H2Memory::cached(cls) == before + 1);
  void* b = H2Memory::allocate(90);  // same class: the object just freed
  CHECK(b == a);
  CHECK(H2Memory::cached(cls) == before);
  H2Memory::release(b);
  H2Memory::release(nullptr);  // allowed, like free(NULL)
}

TEST_CASE("h2 memory: calloc zeroes, realloc keeps the bytes across classes and to large") {
  auto* z = static_cast<unsigned char*>(H2Memory::allocateZeroed(10, 30));
  REQUIRE(z != nullptr);
  for (int i = 0; i < 300; ++i) REQUIRE(z[i] == 0);
  H2Memory::release(z);
  CHECK(H2Memory::allocateZeroed(SIZE_MAX / 2, 4) == nullptr);  // overflow refused

  auto* p = static_cast<char*>(H2Memory::resize(nullptr, 10));
  REQUIRE(p != nullptr);
  std::memcpy(p, "0123456789", 10);
  CHECK(H2Memory::resize(p, 16) == p);  // still fits its class
  p = static_cast<char*>(H2Memory::resize(p, 1000));
  REQUIRE(p != nullptr);
  CHECK(std::memcmp(p, "0123456789", 10) == 0);
  p = static_cast<char*>(H2Memory::resize(p, 100000));  // past the largest class
  REQUIRE(p != nullptr);
  CHECK(std::memcmp(p, "0123456789", 10) == 0);
  p[99999] = 'x';
  p = static_cast<char*>(H2Memory::resize(p, 200000));
  REQUIRE(p != nullptr);
  CHECK(p[99999] == 'x');
  H2Memory::release(p);
}

TEST_CASE("h2 memory: each thread caches a bounded amount and may free others' objects") {
  const size_t cls = H2Memory::kClasses - 1;  // 4 KiB objects
  const size_t cap = H2Memory::kMaxCachedBytes / (size_t{32} << cls);
  std::vector<void*> many;
  for (size_t i = 0; i < cap * 3; ++i) many.push_back(H2Memory::allocate(4000));
  for (void* p : many) H2Memory::release(p);
  CHECK(H2Memory::cached(cls) == cap);

  void* fromHere = H2Memory::allocate(50);
  size_t otherCached = 0;
  std::thread t([&] {
    H2Memory::release(fromHere);  // lands in that thread's list, freed when it ends
    otherCached = H2Memory::cached(H2Memory::classFor(50));
  });
  t.join();
  CHECK(otherCached == 1);
}

TEST_CASE("h2 memory: nghttp2 runs a session on it") {
  nghttp2_session_callbacks* cb = nullptr;
  REQUIRE(nghttp2_session_callbacks_new(&cb) == 0);
  nghttp2_session* s = nullptr;
  REQUIRE(nghttp2_session_server_new3(&s, cb, nullptr, nullptr, H2Memory::mem()) == 0);
  // A client preface, SETTINGS and a HEADERS frame (GET / on stream 1, HPACK static entries).
  const unsigned char in[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                             "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                             "\x00\x00\x03\x01\x05\x00\x00\x00\x01\x82\x86\x84";
  const size_t len = 24 + 9 + 9 + 3;
  CHECK(nghttp2_session_mem_recv(s, in, len) == static_cast<ssize_t>(len));
  CHECK(nghttp2_session_find_stream(s, 1) != nullptr);
  nghttp2_session_del(s);
  nghttp2_session_callbacks_del(cb);
}
