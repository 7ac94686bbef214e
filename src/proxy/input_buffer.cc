#include "switchyard/proxy/input_buffer.h"

#include <algorithm>
#include <cstring>

namespace sy::proxy {
namespace {

constexpr uint32_t kMinRead = 2048;

}  // namespace

uv_buf_t InputBuffer::prepare(net::BlockPool& pool, http::Parser* parser, uint32_t maxHead) {
  const bool head = parser && parser->inHead();
  if (!block) {
    block = pool.acquire();
    parsed = end = 0;
  } else if (block->refs == 1 && parsed == end && !head) {
    parsed = end = 0;  // nothing in it is needed any more: read from the start again
  }
  if (block->capacity - end < kMinRead) {
    uint32_t live = head ? static_cast<uint32_t>(parser->base() - block->data()) : parsed;
    uint32_t keep = end - live;
    uint32_t want = keep + kMinRead;
    if (want > net::BlockPool::kBlockSize) want = std::max(keep + 16 * 1024, maxHead + kMinRead);
    net::Block* nb = pool.acquire(want);
    std::memcpy(nb->data(), block->data() + live, keep);
    if (head) parser->rebase(nb->data());
    parsed -= live;
    end -= live;
    net::BlockPool::unref(block);
    block = nb;
  }
  return uv_buf_init(block->data() + end, block->capacity - end);
}

bool InputBuffer::adopt(net::Block* b, const http::Parser* parser) {
  if (block) {
    if (parsed != end || (parser && parser->inHead())) return false;
    net::BlockPool::unref(block);
  }
  block = b;
  parsed = end = 0;
  return true;
}

void InputBuffer::releaseIfEmpty(const http::Parser* parser) {
  if (block && parsed == end && !(parser && parser->inHead())) release();
}

void InputBuffer::release() {
  if (block) net::BlockPool::unref(block);
  block = nullptr;
  parsed = end = 0;
}

}  // namespace sy::proxy
