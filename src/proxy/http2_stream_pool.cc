#include "switchyard/proxy/http2_stream_pool.h"

#include "http2_stream.h"

namespace sy::proxy {

Http2StreamPool::~Http2StreamPool() {
  free_.clear([](Http2Stream* s) { delete s; });
}

Http2Stream* Http2StreamPool::acquire(Http2Connection& conn) {
  Http2Stream* s = free_.pop();
  if (!s) s = new Http2Stream(headers_);
  s->bind(conn);
  return s;
}

void Http2StreamPool::release(Http2Stream* s) {
  if (free_.size() >= maxFree_) {
    delete s;
    return;
  }
  free_.push(s);
}

size_t Http2StreamPool::trim(size_t keep) {
  return free_.trim(keep, [](Http2Stream* s) { delete s; });
}

}  // namespace sy::proxy
