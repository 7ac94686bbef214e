#pragma once
// The worker's free HTTP/2 stream objects (each about 9 KB with its UpstreamRequest), shared by
// all its HTTP/2 connections: a connection that keeps many streams in flight takes and gives
// them back without allocating, and idle connections hold none. Worker thread only.

#include <cstddef>

#include "switchyard/common/free_list.h"

namespace sy::http {
class HeaderPool;
}

namespace sy::proxy {

class Http2Connection;
class Http2Stream;

class Http2StreamPool {
 public:
  explicit Http2StreamPool(http::HeaderPool* headers) : headers_(headers) {}
  Http2StreamPool(const Http2StreamPool&) = delete;
  Http2StreamPool& operator=(const Http2StreamPool&) = delete;
  ~Http2StreamPool();
  // A stream object bound to `conn` (not yet opened).
  Http2Stream* acquire(Http2Connection& conn);
  void release(Http2Stream* s);
  size_t freeCount() const { return free_.size(); }
  // Called periodically: frees the idle objects beyond `keep` that stayed unused since the
  // previous call (see net::BlockPool::trim). Returns how many were freed.
  size_t trim(size_t keep);

 private:
  http::HeaderPool* headers_;
  common::FreeList<Http2Stream> free_;
  size_t maxFree_ = 4096;
};

}  // namespace sy::proxy
