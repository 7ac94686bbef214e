#pragma once
// I/O memory for one worker: reference-counted blocks handed out from a free list, and
// pooled multi-buffer write requests. Worker-local: no atomics, no locks; never share a
// pool, a block or a write request between threads.
//
// Bytes read from a socket land in a Block; parsed body bytes are forwarded by reference
// (WriteBatch::addRef) so a body is never copied between the two sockets. A block returns
// to its pool when its last reference is dropped.

#include <cstddef>
#include <cstdint>
#include <vector>

#include <uv.h>

#include "switchyard/common/free_list.h"

namespace sy::net {

class BlockPool;

struct Block {
  BlockPool* pool;
  Block* nextFree;
  uint32_t refs;
  uint32_t capacity;
  char* data() { return reinterpret_cast<char*>(this + 1); }
};

class BlockPool {
 public:
  static constexpr uint32_t kBlockSize = 32 * 1024 - sizeof(Block);

  BlockPool() = default;
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;
  ~BlockPool();

  // A block with capacity >= minCapacity and one reference. Standard-size blocks are recycled;
  // larger ones (long request heads) are allocated and freed individually.
  Block* acquire(uint32_t minCapacity = kBlockSize);
  static void ref(Block* b) { ++b->refs; }
  static void unref(Block* b) {
    if (--b->refs == 0) b->pool->recycle(b);
  }

  size_t freeCount() const { return free_.size(); }
  size_t liveCount() const { return live_; }
  // Keep at most this many idle standard blocks (the rest are freed).
  void setMaxFree(size_t n) { maxFree_ = n; }
  // Called periodically: frees the idle blocks beyond `keep` that stayed unused since the
  // previous call (so a burst's blocks go back to the system once it is over, while steady
  // traffic keeps its working set). Returns how many were freed.
  size_t trim(size_t keep);

 private:
  void recycle(Block* b);
  common::FreeList<Block> free_;
  size_t live_ = 0;
  size_t maxFree_ = 4096;  // hard cap (128 MiB of address space; trim() keeps it far lower)
};

// A uv_write of several buffers that keeps the blocks it points into alive until the write
// completes. Small framing strings (chunk sizes, CRLFs) are stored in the batch itself.
// Reused from a per-worker free list, so steady-state writes do not allocate.
struct WriteBatch {
  WriteBatch();  // reserves room for a typical batch, so a pooled one rarely grows

  uv_write_t req;
  void* owner = nullptr;  // set by the submitter; read in the completion callback
  WriteBatch* nextFree = nullptr;
  std::vector<uv_buf_t> bufs;
  std::vector<Block*> refs;
  std::vector<char> scratch;
  // Indexes of bufs whose base is still an offset into scratch (resolved by finalize(), since
  // scratch may reallocate while the batch is built).
  std::vector<uint32_t> scratchIdx;
  size_t bytes = 0;

  bool empty() const { return bufs.empty(); }
  // Points at [p, p+n) inside block b (takes a reference).
  void addRef(Block* b, const char* p, size_t n);
  // Points at static or otherwise long-lived memory (no reference taken).
  void addStatic(const char* p, size_t n);
  // Copies n bytes into the batch's scratch storage.
  void addCopy(const char* p, size_t n);
  // Makes scratch-relative bufs absolute; call once before uv_write.
  void finalize();
  // Drops references and clears; keeps capacity.
  void reset();

  // The bufs not yet written (after advance()).
  uv_buf_t* pendingBufs() { return bufs.data() + first; }
  unsigned pendingCount() const { return static_cast<unsigned>(bufs.size() - first); }
  // Marks the first n bytes as written.
  void advance(size_t n);
  size_t first = 0;
};

// Writes a finalized-or-not batch to `s`: first synchronously (uv_try_write: no write request,
// no poll changes when the socket takes it all), then queues the rest with uv_write and `cb`.
// Returns <0 on error (batch untouched), 0 when all was written now (*done = true: the caller
// still owns the batch), or 1 when a uv_write is pending (the batch belongs to it until `cb`).
int writeBatch(uv_stream_t* s, WriteBatch* b, uv_write_cb cb, bool* done);

class WritePool {
 public:
  ~WritePool();
  // Puts n batches in the pool up front. How many batches are queued at once depends on how
  // fast peers read, so without this a slow moment could be the first to need a new batch
  // (and its vectors) long after start-up.
  void prefill(size_t n);
  WriteBatch* acquire();
  void release(WriteBatch* w);

 private:
  WriteBatch* free_ = nullptr;
};

}  // namespace sy::net
