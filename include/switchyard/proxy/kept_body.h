#pragma once
// The request body an UpstreamRequest keeps so that it can send the request again
// (pools[].retries.max_body_bytes). Bounded and allocation-free: a fixed array of pieces inline
// in the request. The first pieces are references into the blocks the body arrived in (no
// copy: the common small body costs a reference count); once those slots are used, further
// bytes are copied into pooled blocks. A body that outgrows the limit or the slots is dropped
// and the request is no longer replayable once any of it was sent. Worker thread only.

#include <cstddef>
#include <cstdint>

#include "switchyard/net/buffer.h"

namespace sy::proxy {

class KeptBody {
 public:
  static constexpr uint32_t kSlots = 41;
  static constexpr uint32_t kRefSlots = 8;  // then copies: 33 pooled blocks hold 1 MiB

  KeptBody() = default;
  KeptBody(const KeptBody&) = delete;
  KeptBody& operator=(const KeptBody&) = delete;
  ~KeptBody() { release(); }

  // Starts keeping a body of at most `limit` bytes, copies drawn from `pool` (limit 0: keeps
  // nothing, whole() is false at once).
  void start(net::BlockPool* pool, uint64_t limit);
  // A body piece (framing removed) inside `block`.
  void add(net::Block* block, const char* data, size_t n);
  // Every byte given since start() is kept.
  bool whole() const { return whole_; }
  uint64_t bytes() const { return bytes_; }
  // Queues the kept bytes on `out` (taking references), chunk-framed when `chunked`.
  void appendTo(net::WriteBatch* out, bool chunked) const;
  // Drops what is kept (whole() turns false).
  void release();

 private:
  struct Piece {
    net::Block* block;
    uint32_t offset;
    uint32_t len;
  };
  void drop();

  Piece pieces_[kSlots];
  uint32_t count_ = 0;
  bool ownedTail_ = false;  // the last piece is a block of ours with room to copy into
  bool whole_ = false;
  uint64_t bytes_ = 0;
  uint64_t limit_ = 0;
  net::BlockPool* pool_ = nullptr;
};

}  // namespace sy::proxy
