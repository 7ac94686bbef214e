// KeptBody: bodies up to the limit are kept (references first, then copies into pooled
// blocks) and queued again byte for byte; larger ones are dropped; nothing leaks.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "switchyard/net/buffer.h"
#include "switchyard/proxy/kept_body.h"

namespace sy::proxy {
namespace {

std::string bytesOf(net::WriteBatch& b) {
  b.finalize();
  std::string s;
  for (const uv_buf_t& x : b.bufs) s.append(x.base, x.len);
  return s;
}

}  // namespace

TEST_CASE("a body given in many pieces is queued again whole, plain and chunked") {
  net::BlockPool pool;
  net::WritePool writes;
  std::string sent;
  {
    KeptBody kept;
    kept.start(&pool, 64 * 1024);
    net::Block* in = pool.acquire();
    size_t at = 0;
    for (int i = 0; i < 50; ++i) {  // more pieces than reference slots: the rest is copied
      std::string piece(100 + i, static_cast<char>('a' + i % 26));
      std::memcpy(in->data() + at, piece.data(), piece.size());
      kept.add(in, in->data() + at, piece.size());
      at += piece.size();
      sent += piece;
    }
    net::BlockPool::unref(in);
    CHECK(kept.whole());
    CHECK(kept.bytes() == sent.size());
    net::WriteBatch* plain = writes.acquire();
    kept.appendTo(plain, false);
    CHECK(bytesOf(*plain) == sent);
    writes.release(plain);
    net::WriteBatch* chunked = writes.acquire();
    kept.appendTo(chunked, true);
    std::string framed = bytesOf(*chunked);
    CHECK(framed.size() > sent.size());
    CHECK(framed.starts_with("64\r\naaaa"));  // 100 bytes: "64" in hex
    writes.release(chunked);
  }
  CHECK(pool.liveCount() == 0);  // every reference and copy block given back
}

TEST_CASE("a body over the limit is dropped and stays dropped") {
  net::BlockPool pool;
  KeptBody kept;
  kept.start(&pool, 1000);
  net::Block* in = pool.acquire();
  kept.add(in, in->data(), 600);
  CHECK(kept.whole());
  kept.add(in, in->data(), 600);
  CHECK_FALSE(kept.whole());
  kept.add(in, in->data(), 10);
  CHECK_FALSE(kept.whole());
  CHECK(kept.bytes() == 0);
  net::BlockPool::unref(in);
  CHECK(pool.liveCount() == 0);
}

TEST_CASE("a limit of 0 keeps nothing; 1 MiB in small pieces fits the slots") {
  net::BlockPool pool;
  KeptBody none;
  none.start(&pool, 0);
  CHECK_FALSE(none.whole());
  KeptBody big;
  big.start(&pool, 1024 * 1024);
  net::Block* in = pool.acquire();
  for (int i = 0; i < 1024; ++i) big.add(in, in->data(), 1024);
  CHECK(big.whole());
  CHECK(big.bytes() == 1024 * 1024);
  big.release();
  net::BlockPool::unref(in);
  CHECK(pool.liveCount() == 0);
}

}  // namespace sy::proxy
