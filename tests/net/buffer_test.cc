#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "switchyard/net/buffer.h"

using sy::net::Block;
using sy::net::BlockPool;
using sy::net::WriteBatch;
using sy::net::WritePool;

namespace {

std::string joined(const WriteBatch& w) {
  std::string s;
  for (const uv_buf_t& b : w.bufs) s.append(b.base, b.len);
  return s;
}

}  // namespace

TEST_CASE("BlockPool: acquire gives a standard block with one reference") {
  BlockPool pool;
  CHECK(pool.liveCount() == 0);
  CHECK(pool.freeCount() == 0);
  Block* b = pool.acquire();
  REQUIRE(b != nullptr);
  CHECK(b->refs == 1);
  CHECK(b->pool == &pool);
  CHECK(b->capacity == BlockPool::kBlockSize);
  CHECK(sizeof(Block) + BlockPool::kBlockSize == 32 * 1024);
  CHECK(pool.liveCount() == 1);
  // The whole capacity is writable.
  std::memset(b->data(), 'x', b->capacity);
  CHECK(b->data()[b->capacity - 1] == 'x');
  BlockPool::unref(b);
  CHECK(pool.liveCount() == 0);
  CHECK(pool.freeCount() == 1);
}

TEST_CASE("BlockPool: ref/unref keeps the block until the last reference") {
  BlockPool pool;
  Block* b = pool.acquire();
  BlockPool::ref(b);
  BlockPool::ref(b);
  CHECK(b->refs == 3);
  BlockPool::unref(b);
  BlockPool::unref(b);
  CHECK(pool.liveCount() == 1);
  CHECK(pool.freeCount() == 0);
  BlockPool::unref(b);
  CHECK(pool.liveCount() == 0);
  CHECK(pool.freeCount() == 1);
}

TEST_CASE("BlockPool: standard blocks are recycled (LIFO)") {
  BlockPool pool;
  Block* a = pool.acquire();
  Block* b = pool.acquire();
  CHECK(a != b);
  CHECK(pool.liveCount() == 2);
  BlockPool::unref(a);
  BlockPool::unref(b);
  CHECK(pool.freeCount() == 2);
  Block* c = pool.acquire();
  CHECK(c == b);
  CHECK(c->refs == 1);
  CHECK(c->nextFree == nullptr);
  CHECK(pool.freeCount() == 1);
  Block* d = pool.acquire(100);  // smaller requests are served by standard blocks
  CHECK(d == a);
  CHECK(d->capacity == BlockPool::kBlockSize);
  CHECK(pool.freeCount() == 0);
  CHECK(pool.liveCount() == 2);
  Block* e = pool.acquire();
  CHECK(e != a);
  CHECK(e != b);
  CHECK(pool.liveCount() == 3);
  BlockPool::unref(c);
  BlockPool::unref(d);
  BlockPool::unref(e);
  CHECK(pool.liveCount() == 0);
  CHECK(pool.freeCount() == 3);
}

TEST_CASE("BlockPool: big blocks are not recycled") {
  BlockPool pool;
  const uint32_t big = BlockPool::kBlockSize * 4 + 17;
  Block* b = pool.acquire(big);
  REQUIRE(b != nullptr);
  CHECK(b->capacity == big);
  CHECK(b->refs == 1);
  CHECK(pool.liveCount() == 1);
  std::memset(b->data(), 'y', big);
  BlockPool::ref(b);
  BlockPool::unref(b);
  CHECK(pool.liveCount() == 1);
  BlockPool::unref(b);
  CHECK(pool.liveCount() == 0);
  CHECK(pool.freeCount() == 0);

  SUBCASE("a big request skips the free list") {
    Block* s = pool.acquire();
    BlockPool::unref(s);
    REQUIRE(pool.freeCount() == 1);
    Block* b2 = pool.acquire(BlockPool::kBlockSize + 1);
    CHECK(b2->capacity == BlockPool::kBlockSize + 1);
    CHECK(pool.freeCount() == 1);
    BlockPool::unref(b2);
    CHECK(pool.freeCount() == 1);
  }
  SUBCASE("exactly the standard size is a standard block") {
    Block* s = pool.acquire(BlockPool::kBlockSize);
    CHECK(s->capacity == BlockPool::kBlockSize);
    BlockPool::unref(s);
    CHECK(pool.freeCount() == 1);
  }
}

TEST_CASE("BlockPool: setMaxFree bounds the free list") {
  BlockPool pool;
  pool.setMaxFree(2);
  std::vector<Block*> bs;
  for (int i = 0; i < 5; ++i) bs.push_back(pool.acquire());
  CHECK(pool.liveCount() == 5);
  for (Block* b : bs) BlockPool::unref(b);
  CHECK(pool.liveCount() == 0);
  CHECK(pool.freeCount() == 2);
}

TEST_CASE("BlockPool: trim gives back only blocks that stayed idle since the last trim") {
  BlockPool pool;
  std::vector<Block*> bs;
  for (int i = 0; i < 10; ++i) bs.push_back(pool.acquire());
  for (Block* b : bs) BlockPool::unref(b);
  bs.clear();
  CHECK(pool.freeCount() == 10);
  // The 10 were all taken since the pool started (the free list was empty): nothing is surplus.
  CHECK(pool.trim(2) == 0);
  CHECK(pool.freeCount() == 10);

  // Steady use of 3 blocks: the other 7 stayed idle the whole period and go; the working set
  // (3, more than `keep`) stays.
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 3; ++i) bs.push_back(pool.acquire());
    for (Block* b : bs) BlockPool::unref(b);
    bs.clear();
  }
  CHECK(pool.trim(2) == 7);
  CHECK(pool.freeCount() == 3);  // the working set stays

  // Nothing used since: all but `keep` go; blocks stay writable and usable afterwards.
  CHECK(pool.trim(2) == 1);
  CHECK(pool.freeCount() == 2);
  Block* b = pool.acquire();
  std::memset(b->data(), 'y', b->capacity);
  CHECK(b->data()[b->capacity - 1] == 'y');
  BlockPool::unref(b);
  // One block was taken since the last trim: only the other one is surplus.
  CHECK(pool.trim(0) == 1);
  CHECK(pool.freeCount() == 1);
}

TEST_CASE("WriteBatch: addRef takes references, reset drops them") {
  BlockPool pool;
  Block* b = pool.acquire();
  std::memcpy(b->data(), "hello world", 11);
  {
    WriteBatch w;
    CHECK(w.empty());
    w.addRef(b, b->data(), 5);
    w.addRef(b, b->data() + 5, 6);
    w.addRef(b, b->data(), 0);  // empty: ignored, no reference
    CHECK(b->refs == 3);
    CHECK(w.refs.size() == 2);
    CHECK(w.bufs.size() == 2);
    CHECK(w.bytes == 11);
    CHECK_FALSE(w.empty());
    // The owner may drop its own reference; the batch keeps the block alive.
    BlockPool::unref(b);
    CHECK(pool.liveCount() == 1);
    w.finalize();
    CHECK(joined(w) == "hello world");
    CHECK(w.bufs[0].base == b->data());
    w.reset();
    CHECK(w.empty());
    CHECK(w.refs.empty());
    CHECK(w.bytes == 0);
  }
  CHECK(pool.liveCount() == 0);
  CHECK(pool.freeCount() == 1);
}

TEST_CASE("WriteBatch: addStatic points at the memory as is") {
  static const char kCrlf[] = "\r\n";
  WriteBatch w;
  w.addStatic(kCrlf, 2);
  w.addStatic(kCrlf, 0);
  CHECK(w.bufs.size() == 1);
  CHECK(w.refs.empty());
  w.finalize();
  CHECK(w.bufs[0].base == kCrlf);
  CHECK(w.bufs[0].len == 2);
  CHECK(w.bytes == 2);
}

TEST_CASE("WriteBatch: addCopy pointers stay valid after scratch grows") {
  WriteBatch w;
  std::vector<std::string> pieces;
  for (int i = 0; i < 200; ++i) pieces.push_back(std::to_string(i) + std::string(i % 7 + 1, 'z'));
  std::string expect;
  for (const auto& p : pieces) {
    std::string tmp = p;  // the source dies right after the call
    w.addCopy(tmp.data(), tmp.size());
    tmp.assign(tmp.size(), '!');
    expect += p;
  }
  w.addCopy("ignored", 0);
  CHECK(w.bufs.size() == pieces.size());
  CHECK(w.bytes == expect.size());
  CHECK(w.scratch.size() == expect.size());
  w.finalize();
  CHECK(w.scratchIdx.empty());
  const char* lo = w.scratch.data();
  const char* hi = lo + w.scratch.size();
  for (const uv_buf_t& b : w.bufs) {
    CHECK(b.base >= lo);
    CHECK(b.base + b.len <= hi);
  }
  CHECK(joined(w) == expect);
}

TEST_CASE("WriteBatch: mixed buffers keep their order") {
  BlockPool pool;
  Block* b = pool.acquire();
  std::memcpy(b->data(), "BODYBYTES", 9);
  WriteBatch w;
  w.addCopy("5\r\n", 3);
  w.addRef(b, b->data(), 4);
  w.addStatic("\r\n", 2);
  w.addCopy("5\r\n", 3);
  w.addRef(b, b->data() + 4, 5);
  w.addStatic("\r\n", 2);
  w.addCopy("0\r\n\r\n", 5);
  w.finalize();
  CHECK(joined(w) == "5\r\nBODY\r\n5\r\nBYTES\r\n0\r\n\r\n");
  CHECK(w.bytes == 3 + 4 + 2 + 3 + 5 + 2 + 5);
  CHECK(b->refs == 3);
  w.reset();
  CHECK(b->refs == 1);
  BlockPool::unref(b);
  CHECK(pool.liveCount() == 0);
}

TEST_CASE("WriteBatch: reuse after reset") {
  WriteBatch w;
  w.addCopy("first", 5);
  w.finalize();
  w.owner = &w;
  w.reset();
  CHECK(w.owner == nullptr);
  CHECK(w.scratch.empty());
  CHECK(w.scratchIdx.empty());
  w.addCopy("second", 6);
  w.addCopy("!", 1);
  w.finalize();
  CHECK(joined(w) == "second!");
  CHECK(w.bytes == 7);
}

TEST_CASE("WritePool: batches are reused and reset on release") {
  BlockPool blocks;
  WritePool pool;
  WriteBatch* a = pool.acquire();
  REQUIRE(a != nullptr);
  CHECK(a->empty());
  WriteBatch* b = pool.acquire();
  CHECK(a != b);

  Block* blk = blocks.acquire();
  a->addRef(blk, blk->data(), 10);
  a->addCopy("xyz", 3);
  a->owner = &blocks;
  CHECK(blk->refs == 2);
  pool.release(a);
  CHECK(blk->refs == 1);  // release drops the batch's references

  WriteBatch* c = pool.acquire();
  CHECK(c == a);
  CHECK(c->empty());
  CHECK(c->refs.empty());
  CHECK(c->scratch.empty());
  CHECK(c->bytes == 0);
  CHECK(c->owner == nullptr);
  CHECK(c->nextFree == nullptr);

  pool.release(b);
  pool.release(c);
  CHECK(pool.acquire() == c);  // LIFO
  CHECK(pool.acquire() == b);
  WriteBatch* fresh = pool.acquire();
  CHECK(fresh != b);
  CHECK(fresh != c);
  pool.release(fresh);
  pool.release(b);
  pool.release(c);
  BlockPool::unref(blk);
  CHECK(blocks.liveCount() == 0);
}
