// ExchangePool (exchange_pool.h): per-worker reuse of per-request state.
#include "switchyard/proxy/exchange_pool.h"

#include <doctest/doctest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

using sy::http::HeaderPool;
using sy::proxy::Exchange;
using sy::proxy::ExchangePool;

TEST_CASE("ExchangePool: acquire makes a fresh Exchange when none is free") {
  HeaderPool headers;
  ExchangePool pool(&headers);
  CHECK(pool.freeCount() == 0);
  Exchange* x = pool.acquire();
  REQUIRE(x != nullptr);
  CHECK_FALSE(x->up.begun());
  CHECK(x->clientOut_ == nullptr);
  CHECK_FALSE(x->clientEof_);
  CHECK(x->nextFree == nullptr);
  CHECK_FALSE(x->reqParser_.inMessage());
  pool.release(x);
  CHECK(pool.freeCount() == 1);
}

TEST_CASE("ExchangePool: release then acquire reuses (last released first)") {
  HeaderPool headers;
  ExchangePool pool(&headers);
  Exchange* a = pool.acquire();
  Exchange* b = pool.acquire();
  CHECK(a != b);
  pool.release(a);
  pool.release(b);
  CHECK(pool.freeCount() == 2);
  Exchange* c = pool.acquire();
  CHECK(c == b);
  CHECK(c->nextFree == nullptr);  // unlinked from the free list
  CHECK(pool.freeCount() == 1);
  Exchange* d = pool.acquire();
  CHECK(d == a);
  CHECK(pool.freeCount() == 0);
  Exchange* e = pool.acquire();  // the list is empty again: a new one
  CHECK(e != a);
  CHECK(e != b);
  pool.release(c);
  pool.release(d);
  pool.release(e);
  CHECK(pool.freeCount() == 3);
}  // the destructor frees what is in the list (checked by ASan builds)

TEST_CASE("ExchangePool: trim frees only what stayed idle through a whole period") {
  HeaderPool headers;
  ExchangePool pool(&headers);
  std::vector<Exchange*> xs;
  for (int i = 0; i < 5; ++i) xs.push_back(pool.acquire());
  for (Exchange* x : xs) pool.release(x);
  REQUIRE(pool.freeCount() == 5);

  // The period that just ended ran the list dry (5 in use at once): nothing is surplus yet.
  CHECK(pool.trim(0) == 0);
  CHECK(pool.freeCount() == 5);

  // Steady traffic of two at a time: three stayed idle the whole period.
  Exchange* a = pool.acquire();
  Exchange* b = pool.acquire();
  pool.release(a);
  pool.release(b);
  CHECK(pool.trim(0) == 3);
  CHECK(pool.freeCount() == 2);

  SUBCASE("keep is a floor") {
    CHECK(pool.trim(1) == 1);  // both stayed idle; one is kept
    CHECK(pool.freeCount() == 1);
    CHECK(pool.trim(1) == 0);
    CHECK(pool.freeCount() == 1);
  }
  SUBCASE("an unused period frees the rest") {
    CHECK(pool.trim(0) == 2);
    CHECK(pool.freeCount() == 0);
    CHECK(pool.trim(0) == 0);
    Exchange* c = pool.acquire();  // still works when empty
    REQUIRE(c != nullptr);
    pool.release(c);
    CHECK(pool.freeCount() == 1);
  }
  SUBCASE("demand beyond the list protects everything in it") {
    std::vector<Exchange*> burst;
    for (int i = 0; i < 3; ++i) burst.push_back(pool.acquire());  // 2 from the list, 1 new
    for (Exchange* x : burst) pool.release(x);
    CHECK(pool.freeCount() == 3);
    CHECK(pool.trim(0) == 0);
    CHECK(pool.freeCount() == 3);
  }
}

TEST_CASE("ExchangePool: the free list is capped") {
  // Past 4096 idle Exchanges a released one is deleted instead of kept.
  HeaderPool headers;
  ExchangePool pool(&headers);
  std::vector<Exchange*> xs;
  for (int i = 0; i < 4100; ++i) xs.push_back(pool.acquire());
  for (Exchange* x : xs) pool.release(x);
  CHECK(pool.freeCount() == 4096);
}

TEST_CASE("ExchangePool: a trimmed Exchange gives its pages back to the system") {
  // Heap memory freed between live connections stays resident; the pool's own mappings do not.
  HeaderPool headers;
  ExchangePool pool(&headers);
  Exchange* x = pool.acquire();
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  void* first = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(x) & ~(page - 1));
  unsigned char resident = 0;
  REQUIRE(mincore(first, 1, &resident) == 0);
  CHECK((resident & 1) == 1);
  pool.release(x);
  CHECK(pool.trim(0) == 0);  // the period ran the list dry
  CHECK(pool.trim(0) == 1);  // idle a whole period: freed
  CHECK(mincore(first, 1, &resident) == -1);
  CHECK(errno == ENOMEM);  // no longer mapped
}
