// Http2Connection: producing frames (nghttp2_session_mem_send) and writing them to the client,
// and ending the connection once nothing is left to do.
#include <algorithm>
#include <cstring>

#include "switchyard/common/log.h"
#include "switchyard/proxy/http1_connection.h"
#include "switchyard/proxy/http2_connection.h"
#include "switchyard/server/worker.h"
#include "switchyard/upstream/h2_session.h"

namespace sy::proxy {

void Http2Connection::scheduleFlush() {
  if (idleActive_ || !idle_ || inFlush_) return;
  idleActive_ = true;
  uv_idle_start(idle_, onIdle);
}

void Http2Connection::onIdle(uv_idle_t* h) {
  auto* c = static_cast<Http2Connection*>(h->data);
  uv_idle_stop(h);
  if (!c) return;
  c->idleActive_ = false;
  c->flush();
}

void Http2Connection::onWritable() { flush(); }

void Http2Connection::flush() {
  if (inFlush_ || !session_ || t_.closing()) return;
  upstream::H2Session::Cork cork;  // acknowledgements to HTTP/2 backends leave together
  // Batches of up to what the client's socket should hold; when one is written at once (no
  // write callback will come) and nghttp2 has more, the next batch follows right away.
  while (flushBatch() && !t_.closing() && t_.clientWriteQueue() < kLowWater) {
  }
  checkDone();
  if (!t_.closing()) t_.armH2Deadline();
}

bool Http2Connection::flushBatch() {
  inFlush_ = true;
  server::Worker& w = t_.worker();
  net::WriteBatch* batch = nullptr;
  net::Block* block = nullptr;
  uint32_t used = 0;
  size_t total = 0;
  bool more = true;  // stopped for room, not because nghttp2 had nothing left
  while (t_.clientWriteQueue() + total < kHighWater) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      LOG_DEBUG("client %s: HTTP/2 send: %s", t_.client().ip, nghttp2_strerror(static_cast<int>(n)));
      finished_ = true;
      more = false;
      break;
    }
    if (n == 0) {
      more = false;
      break;
    }
    if (!batch) batch = w.writes().acquire();
    size_t off = 0;
    while (off < static_cast<size_t>(n)) {
      if (!block || used == block->capacity) {
        if (block) {
          batch->addRef(block, block->data(), used);
          net::BlockPool::unref(block);
        }
        block = w.blocks().acquire();
        used = 0;
      }
      size_t k = std::min<size_t>(static_cast<size_t>(n) - off, block->capacity - used);
      std::memcpy(block->data() + used, data + off, k);
      used += static_cast<uint32_t>(k);
      off += k;
    }
    total += static_cast<size_t>(n);
  }
  if (block) {
    if (used) batch->addRef(block, block->data(), used);
    net::BlockPool::unref(block);
  }
  inFlush_ = false;
  if (batch) t_.writeClient(batch);
  return more;
}

void Http2Connection::checkDone() {
  if (t_.closing()) return;
  const bool wantWrite = nghttp2_session_want_write(session_) != 0;
  // After a connection error's GOAWAY is out, the connection closes whatever streams are open
  // (they are not waited for, as after a graceful GOAWAY).
  if (terminating_ && !wantWrite) {
    close();
    return;
  }
  if (!finished_ && (nghttp2_session_want_read(session_) || wantWrite)) return;
  close();
}

}  // namespace sy::proxy
