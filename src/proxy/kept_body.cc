#include "switchyard/proxy/kept_body.h"

#include <algorithm>
#include <cstring>

#include "switchyard/http/chunked.h"

namespace sy::proxy {

void KeptBody::start(net::BlockPool* pool, uint64_t limit) {
  release();
  pool_ = pool;
  limit_ = limit;
  whole_ = limit > 0;
}

void KeptBody::release() {
  for (uint32_t i = 0; i < count_; ++i) net::BlockPool::unref(pieces_[i].block);
  count_ = 0;
  bytes_ = 0;
  ownedTail_ = false;
  whole_ = false;
}

void KeptBody::drop() { release(); }

void KeptBody::add(net::Block* block, const char* data, size_t n) {
  if (!whole_ || n == 0) return;
  if (bytes_ + n > limit_) {
    drop();
    return;
  }
  bytes_ += n;
  if (count_ < kRefSlots) {
    net::BlockPool::ref(block);
    pieces_[count_++] = {block, static_cast<uint32_t>(data - block->data()),
                         static_cast<uint32_t>(n)};
    ownedTail_ = false;
    return;
  }
  while (n > 0) {
    if (!ownedTail_) {
      if (count_ == kSlots) {
        drop();
        return;
      }
      pieces_[count_++] = {pool_->acquire(), 0, 0};
      ownedTail_ = true;
    }
    Piece& tail = pieces_[count_ - 1];
    const size_t room = tail.block->capacity - tail.len;
    const size_t take = std::min(room, n);
    std::memcpy(tail.block->data() + tail.len, data, take);
    tail.len += static_cast<uint32_t>(take);
    data += take;
    n -= take;
    if (tail.len == tail.block->capacity) ownedTail_ = false;
  }
}

void KeptBody::appendTo(net::WriteBatch* out, bool chunked) const {
  for (uint32_t i = 0; i < count_; ++i) {
    const Piece& p = pieces_[i];
    if (p.len == 0) continue;
    if (chunked) http::addChunkHeader(out, p.len);
    out->addRef(p.block, p.block->data() + p.offset, p.len);
    if (chunked) out->addStatic("\r\n", 2);
  }
}

}  // namespace sy::proxy
