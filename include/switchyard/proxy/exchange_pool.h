#pragma once
// Per-request state of an HTTP/1.1 connection, pooled per worker: steady-state requests
// allocate nothing, and connections between requests hold none. Worker thread only.

#include "switchyard/common/free_list.h"
#include "switchyard/http/forward.h"
#include "switchyard/http/parser.h"
#include "switchyard/net/buffer.h"
#include "switchyard/proxy/upstream_request.h"

namespace sy::proxy {

struct Exchange {
  explicit Exchange(http::HeaderPool* headers);
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  http::Parser reqParser_;
  UpstreamRequest up;  // the request on its way to a backend
  Exchange* nextFree = nullptr;
  http::ResponseBody respBody_ = http::ResponseBody::kNone;
  net::WriteBatch* clientOut_ = nullptr;  // response bytes being collected for the client
  bool clientEof_ = false;  // the client half-closed (tunnel: close once its bytes are sent)
  uv_shutdown_t shutdownReq_;  // used once, when the connection closes
};

// The worker's free Exchanges. Each Exchange has pages of its own (mmap), not heap memory: the
// Exchanges a burst of requests needed are interleaved in time with the connections accepted
// meanwhile, so from the heap they would leave resident holes between those connections once
// trim() freed them (the bench's idle-connection memory doubled as Exchange grew past 8 KiB).
// Mapped, they go back to the system when trimmed, and pages an Exchange never writes (most of
// a rewritten target's storage) are never resident. Pool growth is not per request.
class ExchangePool {
 public:
  explicit ExchangePool(http::HeaderPool* headers) : headers_(headers) {}
  ExchangePool(const ExchangePool&) = delete;
  ExchangePool& operator=(const ExchangePool&) = delete;
  ~ExchangePool();
  Exchange* acquire();
  void release(Exchange* x);
  size_t freeCount() const { return free_.size(); }
  // Called periodically: frees the idle Exchanges beyond `keep` that stayed unused since the
  // previous call (see net::BlockPool::trim). Returns how many were freed.
  size_t trim(size_t keep);

 private:
  http::HeaderPool* headers_;
  common::FreeList<Exchange> free_;
  size_t maxFree_ = 4096;
};

}  // namespace sy::proxy
