// InputBuffer (input_buffer.h): where reads land, and how a partial head survives a block move.
#include "switchyard/proxy/input_buffer.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "../http/test_handler.h"

using sy::http::Parser;
using sy::http::ParserLimits;
using sy::http::test::RecordingHandler;
using sy::net::BlockPool;
using sy::proxy::InputBuffer;

namespace {

// Copies `s` into the buffer as if a read had delivered it.
void deliver(InputBuffer& ib, BlockPool& pool, Parser* parser, const std::string& s,
             uint32_t maxHead = 32 * 1024) {
  uv_buf_t b = ib.prepare(pool, parser, maxHead);
  REQUIRE(b.len >= s.size());
  REQUIRE(b.base == ib.at(ib.end));
  std::memcpy(b.base, s.data(), s.size());
  ib.end += static_cast<uint32_t>(s.size());
}

// Gives the parser every unparsed byte.
Parser::Result parseAll(InputBuffer& ib, Parser& p) {
  Parser::Result r = p.execute(ib.at(ib.parsed), ib.unparsed());
  ib.parsed += static_cast<uint32_t>(r.consumed);
  return r;
}

std::string header(const Parser& p, std::string_view name) {
  for (const auto& h : p.headers())
    if (sy::http::equalsIgnoreCase(p.view(h.name), name)) return std::string(p.view(h.value));
  return "<absent>";
}

}  // namespace

TEST_CASE("InputBuffer: the first prepare takes a block and reads from its start") {
  BlockPool pool;
  InputBuffer ib;
  uv_buf_t b = ib.prepare(pool, nullptr, 32 * 1024);
  REQUIRE(ib.block != nullptr);
  CHECK(b.base == ib.block->data());
  CHECK(b.len == ib.block->capacity);
  CHECK(ib.parsed == 0);
  CHECK(ib.end == 0);
  CHECK(pool.liveCount() == 1);
  ib.release();
  CHECK(ib.block == nullptr);
  CHECK(pool.liveCount() == 0);
}

TEST_CASE("InputBuffer: a consumed block is read from the start again") {
  BlockPool pool;
  InputBuffer ib;
  deliver(ib, pool, nullptr, "0123456789");
  ib.parsed = ib.end;  // all parsed
  sy::net::Block* first = ib.block;
  uv_buf_t b = ib.prepare(pool, nullptr, 32 * 1024);
  CHECK(ib.block == first);
  CHECK(ib.parsed == 0);
  CHECK(ib.end == 0);
  CHECK(b.base == first->data());
  SUBCASE("unless a write still references its bytes") {
    deliver(ib, pool, nullptr, "abcdef");
    ib.parsed = ib.end;
    BlockPool::ref(ib.block);  // e.g. a body forwarded by reference, not yet written
    uv_buf_t c = ib.prepare(pool, nullptr, 32 * 1024);
    CHECK(ib.end == 6);  // the referenced bytes are not overwritten
    CHECK(c.base == ib.block->data() + 6);
    BlockPool::unref(ib.block);
  }
  ib.release();
  CHECK(pool.liveCount() == 0);
}

TEST_CASE("InputBuffer: a partial head is kept contiguous across a block move") {
  BlockPool pool;
  RecordingHandler handler;
  Parser parser(HTTP_REQUEST, &handler, ParserLimits{});
  InputBuffer ib;

  // A complete request, then the start of the next one's head, filling the block to within
  // a short read of its end (the pipelined case).
  const std::string first = "GET /first HTTP/1.1\r\nHost: a\r\nX-Pad: ";
  const std::string partial = "GET /second HTTP/1.1\r\nHost: b.example\r\nX-Part: abc";
  const uint32_t cap = BlockPool::kBlockSize;
  const size_t padLen = cap - 1000 - first.size() - 4 - partial.size();
  const std::string msg1 = first + std::string(padLen, 'p') + "\r\n\r\n";
  deliver(ib, pool, &parser, msg1 + partial);
  REQUIRE(ib.block->capacity - ib.end < 2048);  // the next prepare has to move the head
  Parser::Result r = parseAll(ib, parser);
  REQUIRE(r.err == HPE_OK);
  REQUIRE(handler.messageCompleteCalls == 1);
  REQUIRE(parser.inHead());
  sy::net::Block* old = ib.block;
  REQUIRE(parser.base() == old->data() + msg1.size());

  uv_buf_t b = ib.prepare(pool, &parser, 32 * 1024);
  REQUIRE(ib.block != nullptr);
  CHECK(ib.block != old);
  // Only the partial head moved, to the start of the new block, and the parser follows it.
  CHECK(ib.parsed == partial.size());
  CHECK(ib.end == partial.size());
  CHECK(parser.base() == ib.block->data());
  CHECK(std::string(ib.block->data(), partial.size()) == partial);
  CHECK(b.base == ib.block->data() + partial.size());
  CHECK(b.len >= 2048);
  CHECK(pool.liveCount() == 1);  // the old block went back to the pool

  // The rest of the head arrives in the new block; the head reads correctly across the move.
  const std::string rest = "def\r\nX-After: 1\r\n\r\n";
  std::memcpy(b.base, rest.data(), rest.size());
  ib.end += static_cast<uint32_t>(rest.size());
  r = parseAll(ib, parser);
  REQUIRE(r.err == HPE_OK);
  REQUIRE(handler.headersCompleteCalls == 2);
  CHECK(handler.urls[1] == "/second");
  CHECK(parser.url() == "/second");
  CHECK(header(parser, "host") == "b.example");
  CHECK(header(parser, "x-part") == "abcdef");
  CHECK(header(parser, "x-after") == "1");
  CHECK(handler.messageCompleteCalls == 2);
  ib.release();
  CHECK(pool.liveCount() == 0);
}

TEST_CASE("InputBuffer: a head longer than a standard block moves to a large block") {
  BlockPool pool;
  RecordingHandler handler;
  const uint32_t maxHead = 64 * 1024;
  Parser parser(HTTP_REQUEST, &handler, ParserLimits{maxHead, 100});
  InputBuffer ib;
  const std::string start = "GET /big HTTP/1.1\r\nHost: a\r\nX-Big: ";
  const std::string partial = start + std::string(BlockPool::kBlockSize - 1000 - start.size(), 'v');
  deliver(ib, pool, &parser, partial, maxHead);
  REQUIRE(parseAll(ib, parser).err == HPE_OK);
  REQUIRE(parser.inHead());

  uv_buf_t b = ib.prepare(pool, &parser, maxHead);
  CHECK(ib.block->capacity > BlockPool::kBlockSize);
  CHECK(ib.block->capacity >= maxHead + 2048);  // room for a head up to the limit
  CHECK(parser.base() == ib.block->data());
  CHECK(ib.end == partial.size());
  CHECK(b.len == ib.block->capacity - ib.end);
  CHECK(std::string(ib.block->data(), partial.size()) == partial);

  const std::string rest = "vv\r\n\r\n";
  std::memcpy(b.base, rest.data(), rest.size());
  ib.end += static_cast<uint32_t>(rest.size());
  REQUIRE(parseAll(ib, parser).err == HPE_OK);
  CHECK(handler.headersCompleteCalls == 1);
  CHECK(header(parser, "x-big").size() == partial.size() - start.size() + 2);
  ib.release();
  CHECK(pool.liveCount() == 0);
}

TEST_CASE("InputBuffer: without a head in progress only the unparsed bytes move") {
  BlockPool pool;
  InputBuffer ib;
  const std::string bytes(BlockPool::kBlockSize - 500, 'x');
  deliver(ib, pool, nullptr, bytes);
  ib.parsed = ib.end - 300;  // 300 bytes not yet parsed (e.g. held while paused)
  std::memcpy(ib.at(ib.parsed), std::string(300, 'u').data(), 300);
  sy::net::Block* old = ib.block;
  uv_buf_t b = ib.prepare(pool, nullptr, 32 * 1024);
  CHECK(ib.block != old);
  CHECK(ib.parsed == 0);
  CHECK(ib.end == 300);
  CHECK(std::string(ib.block->data(), 300) == std::string(300, 'u'));
  CHECK(b.base == ib.block->data() + 300);
  ib.release();
  CHECK(pool.liveCount() == 0);
}

TEST_CASE("InputBuffer: releaseIfEmpty") {
  BlockPool pool;
  RecordingHandler handler;
  Parser parser(HTTP_REQUEST, &handler, ParserLimits{});
  InputBuffer ib;
  SUBCASE("no block: nothing happens") {
    ib.releaseIfEmpty(&parser);
    CHECK(ib.block == nullptr);
  }
  SUBCASE("everything parsed, no head in progress: the block is dropped") {
    deliver(ib, pool, &parser, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE(parseAll(ib, parser).err == HPE_OK);
    REQUIRE(handler.messageCompleteCalls == 1);
    ib.releaseIfEmpty(&parser);
    CHECK(ib.block == nullptr);
    CHECK(ib.parsed == 0);
    CHECK(ib.end == 0);
    CHECK(pool.liveCount() == 0);
  }
  SUBCASE("unparsed bytes: kept") {
    deliver(ib, pool, &parser, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    ib.releaseIfEmpty(&parser);
    CHECK(ib.block != nullptr);
    CHECK(pool.liveCount() == 1);
  }
  SUBCASE("a partial head, all of it given to the parser: kept (the head's bytes live there)") {
    deliver(ib, pool, &parser, "GET /p HTTP/1.1\r\nHost: a\r\nX-Half: 1");
    REQUIRE(parseAll(ib, parser).err == HPE_OK);
    REQUIRE(parser.inHead());
    REQUIRE(ib.unparsed() == 0);
    ib.releaseIfEmpty(&parser);
    REQUIRE(ib.block != nullptr);
    CHECK(pool.liveCount() == 1);
    // ...and the head completes correctly afterwards.
    deliver(ib, pool, &parser, "2\r\n\r\n");
    REQUIRE(parseAll(ib, parser).err == HPE_OK);
    CHECK(handler.headersCompleteCalls == 1);
    CHECK(header(parser, "x-half") == "12");
  }
  SUBCASE("a null parser counts as no head in progress") {
    deliver(ib, pool, nullptr, "abc");
    ib.parsed = ib.end;
    ib.releaseIfEmpty(nullptr);
    CHECK(ib.block == nullptr);
  }
  ib.release();
  CHECK(pool.liveCount() == 0);
}

TEST_CASE("InputBuffer: adopt takes a received block over when nothing in the current one is needed") {
  BlockPool pool;
  InputBuffer ib;
  SUBCASE("no block yet") {
    sy::net::Block* b = pool.acquire();
    CHECK(ib.adopt(b, nullptr));
    CHECK(ib.block == b);
    CHECK(ib.parsed == 0);
    CHECK(ib.end == 0);
  }
  SUBCASE("a consumed block is given back to the pool") {
    deliver(ib, pool, nullptr, "0123456789");
    ib.parsed = ib.end;
    sy::net::Block* b = pool.acquire();
    CHECK(pool.liveCount() == 2);
    CHECK(ib.adopt(b, nullptr));
    CHECK(ib.block == b);
    CHECK(pool.liveCount() == 1);
  }
  SUBCASE("a consumed block a write still references stays with the write") {
    deliver(ib, pool, nullptr, "0123456789");
    ib.parsed = ib.end;
    sy::net::Block* old = ib.block;
    BlockPool::ref(old);  // a body forwarded by reference, not yet written
    CHECK(ib.adopt(pool.acquire(), nullptr));
    CHECK(old->refs == 1);
    CHECK(std::memcmp(old->data(), "0123456789", 10) == 0);
    BlockPool::unref(old);
  }
  ib.release();
  CHECK(pool.liveCount() == 0);
}

TEST_CASE("InputBuffer: adopt refuses while unparsed bytes or a partial head are in the block") {
  BlockPool pool;
  RecordingHandler handler;
  Parser parser(HTTP_REQUEST, &handler, ParserLimits{});
  InputBuffer ib;
  sy::net::Block* offered = pool.acquire();
  SUBCASE("unparsed bytes") {
    deliver(ib, pool, nullptr, "0123456789");
    ib.parsed = 4;
    sy::net::Block* cur = ib.block;
    CHECK_FALSE(ib.adopt(offered, nullptr));
    CHECK(ib.block == cur);
    CHECK(ib.parsed == 4);
    CHECK(ib.end == 10);
  }
  SUBCASE("a partial head, all of it given to the parser") {
    deliver(ib, pool, &parser, "GET / HTTP/1.1\r\nHost: a\r\nX-Part: ab");
    REQUIRE(parseAll(ib, parser).err == HPE_OK);
    REQUIRE(parser.inHead());
    REQUIRE(ib.parsed == ib.end);
    sy::net::Block* cur = ib.block;
    CHECK_FALSE(ib.adopt(offered, &parser));
    CHECK(ib.block == cur);
  }
  BlockPool::unref(offered);
  ib.release();
  CHECK(pool.liveCount() == 0);
}
