#include "switchyard/proxy/session.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "switchyard/common/log.h"
#include "switchyard/health/outlier.h"
#include "switchyard/net/socket.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

constexpr uint32_t kMinRead = 2048;
constexpr uint64_t kLingerMs = 2000;
constexpr uint32_t kMaxResponseHead = 64 * 1024;
constexpr uint32_t kMaxPipelined = 8 * 1024;
// At most the low-water mark, so that bytes held back never keep the client paused.
constexpr size_t kFlushBytes = kLowWater;
// A request answered locally keeps its connection only if its body is small enough to skip.
constexpr uint64_t kMaxDiscardBody = 64 * 1024;
constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";

http::ParserLimits requestLimits(const config::Limits& l) {
  return {static_cast<uint32_t>(l.maxHeaderBytes), l.maxHeaders};
}

// Appends "<hex>\r\n" for a chunk of n bytes.
void addChunkHeader(net::WriteBatch* b, size_t n) {
  char tmp[20];
  char* end = std::to_chars(tmp, tmp + sizeof tmp - 2, n, 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  b->addCopy(tmp, static_cast<size_t>(end - tmp));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// InputBuffer

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

void InputBuffer::releaseIfEmpty(const http::Parser* parser) {
  if (block && parsed == end && !(parser && parser->inHead())) release();
}

void InputBuffer::release() {
  if (block) net::BlockPool::unref(block);
  block = nullptr;
  parsed = end = 0;
}

// ---------------------------------------------------------------------------------------------
// Exchange and its pool

Exchange::Exchange(http::HeaderPool* headers)
    : reqParser_(HTTP_REQUEST, nullptr, {}, headers),
      respParser_(HTTP_RESPONSE, nullptr, {kMaxResponseHead, 1000}, headers) {}

ExchangePool::~ExchangePool() {
  free_.clear([](Exchange* x) { delete x; });
}

Exchange* ExchangePool::acquire() {
  if (Exchange* x = free_.pop()) return x;
  return new Exchange(headers_);
}

void ExchangePool::release(Exchange* x) {
  if (free_.size() >= maxFree_) {
    delete x;
    return;
  }
  free_.push(x);
}

size_t ExchangePool::trim(size_t keep) {
  return free_.trim(keep, [](Exchange* x) { delete x; });
}

Exchange& Session::ensureExchange() {
  if (!ex_) {
    ex_ = w_.exchanges().acquire();
    ex_->reqParser_.reset();
    ex_->reqParser_.setHandler(this);
    ex_->respParser_.reset();
    ex_->respParser_.setHandler(this);
    resetExchange();
  }
  return *ex_;
}

void Session::resetExchange() {
  Exchange& x = *ex_;
  x.view_ = w_.view();  // a new request (also on a kept-alive connection) uses the newest config
  x.reqParser_.setLimits(requestLimits(x.view_->snap->config->limits));
  x.set_ = nullptr;
  x.respEdits_ = nullptr;
  x.policy_ = nullptr;
  x.req_ = http::RequestInfo{};
  x.bodyBytes_ = 0;
  x.requestHasBody_ = false;
  x.discardBody_ = x.requestComplete_ = false;
  x.respHeadSent_ = x.respComplete_ = false;
  x.tunnel_ = x.clientEof_ = false;
  x.respBody_ = http::ResponseBody::kNone;
  x.triedCount_ = x.attempts_ = 0;
  x.freshOnly_ = false;
  x.retryStatus_ = 0;
  x.backend_ = nullptr;
  if (x.reqHead_) {
    net::BlockPool::unref(x.reqHead_);
    x.reqHead_ = nullptr;
  }
  x.reqStartNs_ = 0;
  x.status_ = 0;
  x.respBytes_ = 0;
  x.upConnectNs_ = x.upResponseNs_ = -1;
}

void Session::releaseExchange() {
  if (!ex_) return;
  Exchange& x = *ex_;
  if (x.headRef_) {
    net::BlockPool::unref(x.headRef_);
    x.headRef_ = nullptr;
  }
  if (x.reqHead_) {
    net::BlockPool::unref(x.reqHead_);
    x.reqHead_ = nullptr;
  }
  x.upIn_.release();
  if (x.upOut_) {
    w_.writes().release(x.upOut_);
    x.upOut_ = nullptr;
  }
  if (x.clientOut_) {
    w_.writes().release(x.clientOut_);
    x.clientOut_ = nullptr;
  }
  x.view_.reset();
  // Borrowed header arrays go back now; parser state is reset when the Exchange is next taken.
  x.reqParser_.releaseHeaders();
  x.respParser_.releaseHeaders();
  w_.exchanges().release(ex_);
  ex_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Lifetime

Session::Session(server::Worker& worker, server::WorkerListener& listener)
    : w_(worker), listener_(listener) {
  uv_tcp_init(w_.loop(), &tcp_);
  tcp_.data = this;
  timer_.fire = onTimer;
  timer_.data = this;
  ++listener_.sessions;
  w_.stats().addListener(listener_.slot, metrics::kConnOpened);
}

Session::~Session() {
  if (ex_ && ex_->tunnel_) w_.stats().addListener(listener_.slot, metrics::kTunnelsClosed);
  w_.timers().cancel(&timer_);
  releaseExchange();
  in_.release();
  if (--listener_.sessions == 0 && listener_.closed && listener_.handleClosed) delete &listener_;
}

void Session::start() {
  uv_tcp_nodelay(&tcp_, 1);
  int len = sizeof peer_;
  if (uv_tcp_getpeername(&tcp_, &peer_.sa, &len) == 0)
    net::formatIp(&peer_.sa, clientIp_, sizeof clientIp_);
  beginRequest();
  const auto& tlsContexts = w_.view()->snap->listenerTls;
  if (listener_.routeIndex >= 0 && static_cast<size_t>(listener_.routeIndex) < tlsContexts.size())
    if (const auto& ctx = tlsContexts[listener_.routeIndex]) {
      tls_ = std::make_unique<net::TlsStream>(ctx);
      if (!tls_->valid()) {
        LOG_WARN("client %s: cannot start TLS (out of memory)", clientIp_);
        abort();
        return;
      }
    }
  startClientReading();
}

void Session::onHandleClosed(uv_handle_t* h) {
  auto* s = static_cast<Session*>(h->data);
  s->w_.stats().addListener(s->listener_.slot, metrics::kConnClosed);
  s->w_.sessionClosed(s);
  delete s;
}

void Session::abort() {
  if (phase_ == Phase::kClosed) return;
  recordExchange();
  phase_ = Phase::kClosed;
  if (ex_) releaseUpstream(false);
  w_.timers().cancel(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onHandleClosed);
}

void Session::drain() {
  closeAfter_ = true;
  if (phase_ == Phase::kIdle && in_.unparsed() == 0 && clientWrites_ == 0) abort();
}

const config::Config& Session::config() const {
  return ex_ && ex_->view_ ? *ex_->view_->snap->config : *w_.view()->snap->config;
}

const config::Timeouts& Session::timeouts() const {
  const auto& cfg = config();
  if (listener_.routeIndex >= 0 && static_cast<size_t>(listener_.routeIndex) < cfg.listeners.size())
    return cfg.listeners[listener_.routeIndex].timeouts;
  return cfg.timeouts;
}

uint32_t Session::maxHeaderBytes() const {
  return static_cast<uint32_t>(config().limits.maxHeaderBytes);
}

// ---------------------------------------------------------------------------------------------
// Client side

void Session::beginRequest() {
  upstreamDeadline_ = 0;
  if (in_.unparsed() > 0) {
    // A pipelined request is waiting: keep the exchange (and the parser's place) for it.
    if (ex_) resetExchange();
    startRequestHead();
  } else {
    releaseExchange();  // idle between requests: the connection holds no per-request state
    phase_ = Phase::kIdle;
    setClientDeadline(uv_now(w_.loop()) + timeouts().clientIdle.count());
  }
}

void Session::startRequestHead() {
  Exchange& x = ensureExchange();
  if (!x.reqStartNs_) x.reqStartNs_ = uv_hrtime();
  phase_ = Phase::kHead;
  setClientDeadline(uv_now(w_.loop()) + timeouts().clientHeader.count());
}

void Session::startClientReading() {
  if (clientReading_ || phase_ == Phase::kClosed) return;
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), onClientAlloc, onClientRead) == 0)
    clientReading_ = true;
}

void Session::stopClientReading() {
  if (!clientReading_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  clientReading_ = false;
}

void Session::onClientAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* s = static_cast<Session*>(h->data);
  if (s->tls_) {
    *buf = net::TlsStream::readBuffer();  // ciphertext: fed to OpenSSL at once
    return;
  }
  *buf = s->in_.prepare(s->w_.blocks(), s->reqParser(), s->maxHeaderBytes());
}

void Session::onClientRead(uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  auto* s = static_cast<Session*>(st->data);
  if (s->tls_ && n > 0) {
    s->onClientCipher(buf->base, static_cast<size_t>(n));
    return;
  }
  s->onClientData(n);
}

void Session::onClientCipher(const char* p, size_t n) {
  if (phase_ == Phase::kLingering || phase_ == Phase::kClosed) return;  // discarded
  const bool wasEstablished = tls_->established();
  tls_->feed(p, n);
  // Everything decryptable is read now, even if reading pauses on the way: a pause holds at most
  // one socket read's worth, and no plaintext is left inside OpenSSL waiting for a resume.
  for (;;) {
    uv_buf_t b = in_.prepare(w_.blocks(), reqParser(), maxHeaderBytes());
    ssize_t r = tls_->read(b.base, b.len);
    if (r > 0) {
      onClientData(r);
      if (phase_ == Phase::kClosed) return;
      if (phase_ == Phase::kLingering) break;
      continue;
    }
    if (r == net::TlsStream::kWant) break;
    if (r == net::TlsStream::kEof) {
      flushClientTls();
      onClientData(UV_EOF);
      return;
    }
    if (!tls_->established()) {
      w_.stats().addListener(listener_.slot, metrics::kTlsHandshakeFailures);
      LOG_DEBUG("client %s: TLS handshake failed: %s", clientIp_, tls_->error().c_str());
    } else {
      LOG_DEBUG("client %s: TLS error: %s", clientIp_, tls_->error().c_str());
    }
    flushClientTls();  // the alert, if OpenSSL made one
    abort();
    return;
  }
  in_.releaseIfEmpty(reqParser());
  flushClientTls();
  if (!wasEstablished && tls_->established() && phase_ == Phase::kIdle)
    setClientDeadline(uv_now(w_.loop()) + timeouts().clientIdle.count());
}

void Session::flushClientTls() {
  if (!tls_ || phase_ == Phase::kClosed) return;
  net::WriteBatch* b = w_.writes().acquire();
  tls_->drain(b, w_.blocks());
  sendClient(b);
}

void Session::onClientData(ssize_t n) {
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF && phase_ == Phase::kIdle && clientWrites_ > 0) {
      // The client half-closed after its last request: finish sending the answer first.
      stopClientReading();
      closeAfter_ = true;
      phase_ = Phase::kLingering;
      return;
    }
    if (n == UV_EOF && phase_ == Phase::kWaiting && ex_ && ex_->requestComplete_) {
      // Half-close after a complete request: answer it, then close.
      stopClientReading();
      closeAfter_ = true;
      ex_->clientEof_ = true;
      return;
    }
    if (n == UV_EOF && phase_ == Phase::kTunnel) {
      // Half-close passed on: the backend gets a FIN after the client's last bytes and may
      // still answer; the tunnel ends when it closes too (or after tunnel_idle).
      stopClientReading();
      ex_->clientEof_ = true;
      if (ex_->up_) ex_->up_->shutdownWrite();
      return;
    }
    // EOF or error from the client. Between requests this is a normal close; otherwise the
    // request is abandoned and the backend connection with it.
    abort();
    return;
  }
  in_.end += static_cast<uint32_t>(n);
  w_.stats().addListener(listener_.slot, metrics::kBytesIn, static_cast<uint64_t>(n));
  if (phase_ == Phase::kLingering) {
    in_.parsed = in_.end;  // discard
    return;
  }
  if (phase_ == Phase::kIdle) {
    startRequestHead();
  } else if (phase_ == Phase::kBody && ex_->requestHasBody_ && !ex_->requestComplete_) {
    setClientDeadline(uv_now(w_.loop()) + timeouts().clientBody.count());
  }
  pump();
}

void Session::pump() {
  if (inPump_) {
    pumpAgain_ = true;
    return;
  }
  inPump_ = true;
  do {
    pumpAgain_ = false;
    processClientInput();
  } while (pumpAgain_ && phase_ != Phase::kClosed);
  inPump_ = false;
}

void Session::processClientInput() {
  if (phase_ == Phase::kTunnel) {
    tunnelToUpstream();
    return;
  }
  while (in_.block && in_.unparsed() > 0 && !clientPaused_ &&
         (phase_ == Phase::kIdle || phase_ == Phase::kHead || phase_ == Phase::kBody)) {
    if (phase_ == Phase::kIdle) startRequestHead();
    http::Parser::Result r = ex_->reqParser_.execute(in_.at(in_.parsed), in_.unparsed());
    in_.parsed += static_cast<uint32_t>(r.consumed);
    if (r.err == HPE_OK) break;
    if (r.err == HPE_PAUSED) {
      clientPaused_ = true;
      break;
    }
    // Malformed or refused request: answer and close (the framing can no longer be trusted).
    int status = ex_->reqParser_.failStatus() ? ex_->reqParser_.failStatus() : 400;
    const char* reason = ex_->reqParser_.failReason() ? ex_->reqParser_.failReason()
                                                 : llhttp_errno_name(r.err);
    LOG_DEBUG("client %s: refused request (%d): %s", clientIp_, status,
              ex_->reqParser_.failReason() ? ex_->reqParser_.failReason()
                                           : ex_->reqParser_.errorReason());
    in_.parsed = in_.end;
    if (ex_->up_) releaseUpstream(false);
    if (ex_->respHeadSent_) {
      abort();
    } else {
      respondLocal(status, reason, true);
    }
    return;
  }
  if (phase_ == Phase::kClosed || phase_ == Phase::kLingering) return;
  if (!ex_) {  // idle between requests
    startClientReading();
    in_.releaseIfEmpty(nullptr);
    return;
  }
  if (ex_->reqParser_.inHead() && in_.block &&
      ex_->reqParser_.headBytesSoFar(in_.at(in_.end)) > maxHeaderBytes()) {
    in_.parsed = in_.end;
    respondLocal(431, "Request Header Fields Too Large", true);
    return;
  }
  flushUpstream();
  // Reading stays on while a request waits for its answer (no epoll changes per request);
  // pipelined bytes beyond one block's worth wait in the kernel instead.
  if (upstreamBackpressured() || (clientPaused_ && in_.unparsed() > kMaxPipelined)) {
    stopClientReading();
  } else if (!closeAfter_ || !ex_->requestComplete_) {
    startClientReading();
  }
  in_.releaseIfEmpty(reqParser());
  if (ex_->requestComplete_) maybeFinishExchange();
}

int Session::onHeadersComplete(http::Parser& p) {
  // The header arrays go back to the worker's pool as soon as the head is handled: everything
  // kept from it is a view into the read block.
  int rc = &p == &ex_->reqParser_ ? requestHeadersComplete() : responseHeadersComplete();
  p.releaseHeaders();
  return rc;
}

int Session::requestHeadersComplete() {
  noteRequestHead();
  const char* reason = nullptr;
  int status = http::analyzeRequest(ex_->reqParser_, ex_->req_, &reason);
  if (status != 0) {
    ex_->reqParser_.fail(status, reason);
    return -1;
  }
  const config::Config& cfg = *ex_->view_->snap->config;
  if (cfg.limits.maxBodyBytes > 0 && ex_->req_.hasContentLength &&
      ex_->req_.contentLength > cfg.limits.maxBodyBytes) {
    ex_->reqParser_.fail(413, "Content Too Large");
    return -1;
  }
  if (!ex_->req_.keepAlive || w_.draining()) closeAfter_ = true;
  ex_->requestHasBody_ = ex_->req_.chunked || (ex_->req_.hasContentLength && ex_->req_.contentLength > 0);
  phase_ = Phase::kBody;
  uint64_t now = uv_now(w_.loop());
  setClientDeadline(ex_->requestHasBody_ ? now + timeouts().clientBody.count() : 0);

  if (listener_.routeIndex >= 0 && static_cast<size_t>(listener_.routeIndex) < cfg.listeners.size())
    if (uint16_t port = cfg.listeners[listener_.routeIndex].redirectHttps) {
      redirectHttps(port);
      return 0;
    }
  const routing::RouteTable::Entry* route =
      listener_.routeIndex < 0
          ? nullptr
          : ex_->view_->snap->routes[listener_.routeIndex].find(ex_->req_.host, ex_->req_.path);
  if (!route) {
    respondLocal(404, "no route for this host and path\n", false);
    return 0;
  }
  ex_->set_ = ex_->view_->snap->pools[route->pool].get();
  ex_->policy_ = ex_->view_->policies[route->pool].get();
  ex_->selection_ = computeSelectionInputs(ex_->policy_->needs(), ex_->view_->snap->geo.get(),
                                      reinterpret_cast<const sockaddr*>(&peer_), ex_->reqParser_, ex_->req_);

  http::ForwardContext fc{clientIp_, tls_ != nullptr, ex_->reqId_};
  fc.edits = &route->requestHeaders;
  ex_->respEdits_ = &route->responseHeaders;
  if (route->rewrite) {
    fc.rewrite = true;
    fc.stripPrefix = route->pathPrefix;
    fc.newPrefix = route->rewritePrefix;
  }
  size_t bound = http::upstreamRequestHeadBound(ex_->reqParser_, ex_->req_, fc);
  ex_->reqHead_ = w_.blocks().acquire(static_cast<uint32_t>(bound));
  http::HeadWriter hw(ex_->reqHead_->data(), ex_->reqHead_->capacity);
  http::writeUpstreamRequestHead(ex_->reqParser_, ex_->req_, fc, hw);
  if (hw.overflow()) {
    ex_->reqParser_.fail(500, "Internal Server Error");
    return -1;
  }
  ex_->reqHeadLen_ = static_cast<uint32_t>(hw.size());
  ex_->upOut_ = w_.writes().acquire();
  ex_->upOut_->addRef(ex_->reqHead_, ex_->reqHead_->data(), ex_->reqHeadLen_);

  if (ex_->req_.expectContinue && ex_->requestHasBody_) {
    net::WriteBatch* b = w_.writes().acquire();
    b->addStatic(k100Continue.data(), k100Continue.size());
    writeClient(b);
  }
  startAttempt();
  return 0;
}

int Session::onBody(http::Parser& p, const char* data, size_t n) {
  if (&p == &ex_->reqParser_) {
    if (ex_->discardBody_) return 0;
    ex_->bodyBytes_ += n;
    uint64_t max = ex_->view_->snap->config->limits.maxBodyBytes;
    if (max > 0 && ex_->bodyBytes_ > max) {
      ex_->reqParser_.fail(413, "Content Too Large");
      return -1;
    }
    if (!ex_->upOut_) ex_->upOut_ = w_.writes().acquire();
    if (ex_->req_.chunked) addChunkHeader(ex_->upOut_, n);
    ex_->upOut_->addRef(in_.block, data, n);
    if (ex_->req_.chunked) ex_->upOut_->addStatic("\r\n", 2);
    return 0;
  }
  // Response body.
  if (ex_->respBody_ == http::ResponseBody::kNone) return 0;
  if (!ex_->clientOut_) ex_->clientOut_ = w_.writes().acquire();
  if (ex_->respBody_ == http::ResponseBody::kChunked) addChunkHeader(ex_->clientOut_, n);
  ex_->clientOut_->addRef(ex_->upIn_.block, data, n);
  if (ex_->respBody_ == http::ResponseBody::kChunked) ex_->clientOut_->addStatic("\r\n", 2);
  return 0;
}

int Session::onMessageComplete(http::Parser& p) {
  if (&p == &ex_->reqParser_) {
    ex_->requestComplete_ = true;
    setClientDeadline(0);
    if (!ex_->discardBody_ && ex_->req_.chunked) {
      if (!ex_->upOut_) ex_->upOut_ = w_.writes().acquire();
      ex_->upOut_->addStatic(kLastChunk.data(), kLastChunk.size());
    }
    if (phase_ == Phase::kBody) phase_ = Phase::kWaiting;
    return HPE_PAUSED;  // one request at a time: the next one waits in the buffer
  }
  int status = ex_->respParser_.statusCode();
  if (status >= 100 && status < 200) return 0;  // interim answer: the real one follows
  ex_->respComplete_ = true;
  if (ex_->respBody_ == http::ResponseBody::kChunked) {
    if (!ex_->clientOut_) ex_->clientOut_ = w_.writes().acquire();
    ex_->clientOut_->addStatic(kLastChunk.data(), kLastChunk.size());
  }
  return HPE_PAUSED;
}

void Session::respondLocal(int status, const char* body, bool close, std::string_view location) {
  if (phase_ == Phase::kClosed) return;
  if (ex_->respHeadSent_) {
    abort();
    return;
  }
  if (!ex_->requestComplete_ && ex_->requestHasBody_ &&
      (ex_->req_.chunked || ex_->req_.contentLength - ex_->bodyBytes_ > kMaxDiscardBody))
    close = true;
  if (close) closeAfter_ = true;
  ex_->status_ = status;
  if (status >= 500)
    LOG_WARN("%s %.*s -> %d: %s", clientIp_, static_cast<int>(ex_->req_.target.size()),
             ex_->req_.target.data(), status, body);
  ex_->discardBody_ = true;
  if (ex_->upOut_) {
    w_.writes().release(ex_->upOut_);
    ex_->upOut_ = nullptr;
  }
  std::string_view text(body);
  char buf[512];
  std::string_view bodyText = text;
  if (bodyText.empty() || bodyText.back() != '\n') {
    size_t n = std::min(text.size(), sizeof buf - 2);
    std::memcpy(buf, text.data(), n);
    buf[n] = '\n';
    bodyText = std::string_view(buf, n + 1);
  }
  net::Block* b = w_.blocks().acquire();
  size_t len = http::writeLocalResponse(status, bodyText, closeAfter_, ex_->req_.isHead, b->data(),
                                        b->capacity, ex_->reqId_, location);
  net::WriteBatch* wb = w_.writes().acquire();
  wb->addRef(b, b->data(), len);
  net::BlockPool::unref(b);
  ex_->respHeadSent_ = true;
  ex_->respComplete_ = true;
  writeClient(wb);
  maybeFinishExchange();
}

void Session::redirectHttps(uint16_t port) {
  if (ex_->req_.host.empty()) {
    respondLocal(400, "a Host header is needed to redirect to https", false);
    return;
  }
  std::string location = "https://";
  const bool v6 = ex_->req_.host.find(':') != std::string_view::npos && ex_->req_.host.front() != '[';
  if (v6) location += '[';
  location += ex_->req_.host;
  if (v6) location += ']';
  if (port != 443) location += ':' + std::to_string(port);
  location += ex_->req_.target.empty() ? std::string_view("/") : ex_->req_.target;
  respondLocal(308, "use https\n", false, location);
}

void Session::writeClient(net::WriteBatch* batch) {
  if (phase_ == Phase::kClosed || batch->empty()) {
    w_.writes().release(batch);
    return;
  }
  ex_->respBytes_ += batch->bytes;
  w_.stats().addListener(listener_.slot, metrics::kBytesOut, batch->bytes);
  if (tls_) {
    batch->finalize();
    const bool ok = tls_->write(batch->pendingBufs(), batch->pendingCount());
    w_.writes().release(batch);  // the plaintext blocks are free again
    if (!ok) {
      LOG_DEBUG("client %s: TLS write failed: %s", clientIp_, tls_->error().c_str());
      abort();
      return;
    }
    batch = w_.writes().acquire();
    tls_->drain(batch, w_.blocks());
  }
  sendClient(batch);
}

bool Session::flushClientOut() {
  net::WriteBatch* b = ex_->clientOut_;
  if (!b) return false;
  ex_->clientOut_ = nullptr;
  writeClient(b);
  return true;
}

void Session::sendClient(net::WriteBatch* batch) {
  if (phase_ == Phase::kClosed || batch->empty()) {
    w_.writes().release(batch);
    return;
  }
  batch->owner = this;
  bool done = false;
  int rc = net::writeBatch(reinterpret_cast<uv_stream_t*>(&tcp_), batch,
                           [](uv_write_t* req, int status) {
                             auto* b = static_cast<net::WriteBatch*>(req->data);
                             auto* s = static_cast<Session*>(b->owner);
                             s->w_.writes().release(b);
                             s->onClientWriteDone(status);
                           },
                           &done);
  if (rc <= 0) w_.writes().release(batch);
  if (rc < 0) {
    abort();
    return;
  }
  if (!done) ++clientWrites_;
}

void Session::onClientWriteDone(int status) {
  --clientWrites_;
  if (phase_ == Phase::kClosed) return;
  if (status < 0) {
    abort();
    return;
  }
  if (phase_ == Phase::kLingering) {
    if (clientWrites_ == 0) lingerClose();
    return;
  }
  if (ex_ && ex_->up_ && ex_->upConnected_ && !ex_->upReading_ && !ex_->respComplete_) {
    if (!clientBackpressured()) {
      if (ex_->up_->startReading() == 0) ex_->upReading_ = true;
      if (phase_ == Phase::kWaiting) setClientDeadline(0);
    } else if (phase_ == Phase::kWaiting) {
      setClientDeadline(uv_now(w_.loop()) + timeouts().clientSend.count());  // progress
    }
  }
}

bool Session::clientBackpressured() const {
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_)) >
         (ex_ && ex_->upReading_ ? kHighWater : kLowWater);
}

bool Session::upstreamBackpressured() const {
  if (!ex_) return false;
  size_t pending = ex_->upOut_ ? ex_->upOut_->bytes : 0;
  if (ex_->up_ && ex_->upConnected_)
    pending += uv_stream_get_write_queue_size(ex_->up_->stream());
  return pending > (clientReading_ ? kHighWater : kLowWater);
}

void Session::maybeFinishExchange() {
  if (phase_ == Phase::kClosed || phase_ == Phase::kLingering) return;
  if (!ex_->respComplete_) return;
  if (!ex_->requestComplete_ && !closeAfter_) return;  // still skipping the body of a local answer
  finishExchange();
}

void Session::finishExchange() {
  recordExchange();
  releaseUpstream(false);
  if (closeAfter_ || !ex_->requestComplete_ || w_.draining() || listener_.closed) {
    closeAfterWrites();
    return;
  }
  if (clientPaused_) {
    ex_->reqParser_.resume();
    clientPaused_ = false;
  }
  beginRequest();
  pumpAgain_ = true;
  pump();
  if (phase_ == Phase::kIdle || phase_ == Phase::kHead) startClientReading();
}

void Session::closeAfterWrites() {
  phase_ = Phase::kLingering;
  setUpstreamDeadline(0);
  setClientDeadline(uv_now(w_.loop()) + kLingerMs);
  if (clientWrites_ == 0) lingerClose();
}

void Session::lingerClose() {
  // Half-close, then discard what the client still sends until it closes too (or a short
  // timeout), so an unread request body does not turn our answer into a reset.
  if (tls_ && !tlsShutdown_) {
    tlsShutdown_ = true;
    tls_->shutdown();  // close_notify first; onClientWriteDone comes back here once it is sent
    flushClientTls();
    if (clientWrites_ > 0 || phase_ == Phase::kClosed) return;
  }
  // The request lives in an Exchange (borrowed now if the connection was idle), which is given
  // back only when the session is freed, after the socket has closed.
  uv_shutdown_t* req = &ensureExchange().shutdownReq_;
  req->data = this;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&tcp_),
                  [](uv_shutdown_t* req, int status) {
                    auto* s = static_cast<Session*>(req->data);
                    if (status < 0) s->abort();
                  }) != 0) {
    abort();
    return;
  }
  in_.parsed = in_.end;
  startClientReading();
  setClientDeadline(uv_now(w_.loop()) + kLingerMs);
}

// ---------------------------------------------------------------------------------------------
// Upstream side

void Session::startAttempt() {
  const uint32_t maxAttempts = 1 + ex_->set_->cfg.retries.attempts;
  upstream::Backend* b = nullptr;
  if (ex_->attempts_ < maxAttempts && ex_->triedCount_ < std::size(ex_->tried_)) {
    balancing::SelectionContext ctx;
    ctx.client = reinterpret_cast<const sockaddr*>(&peer_);
    ctx.location = ex_->selection_.location.known() ? &ex_->selection_.location : nullptr;
    ctx.hashKey = ex_->selection_.hashKey;
    ctx.tried = ex_->tried_;
    ctx.triedCount = ex_->triedCount_;
    b = ex_->policy_->select(ctx);
  }
  if (!b) {
    // 503 when nothing in the pool was believed up: none chosen, or (in panic mode) every
    // backend tried is down or ejected. 502 when backends thought healthy all failed.
    bool allDown = true;
    for (uint32_t i = 0; i < ex_->triedCount_; ++i) allDown = allDown && !ex_->tried_[i]->available();
    if (ex_->triedCount_ == 0) {
      respondLocal(503, "no backend available in pool", false);
    } else if (allDown) {
      respondLocal(503, "service unavailable: every backend of the pool is down",
                   !ex_->requestComplete_);
    } else {
      respondLocal(502, "bad gateway: no backend could be reached", !ex_->requestComplete_);
    }
    return;
  }
  if (ex_->attempts_ > 0 && ex_->backend_ && !ex_->freshOnly_)
    ex_->backend_->stats().shard(w_.id()).add(metrics::kRetries);  // ex_->backend_ failed: moving on
  ++ex_->attempts_;
  ex_->tried_[ex_->triedCount_++] = b;
  ex_->backend_ = b;
  b->addInFlight(1);
  ex_->holdsInFlight_ = true;
  ex_->upSawBytes_ = false;
  if (!ex_->freshOnly_) {
    if (upstream::UpstreamConn* c =
            upstream::UpstreamConn::takeIdle(*b, w_.id(), this, ex_->set_->tls.get())) {
      useConnection(c, true);
      return;
    }
  }
  ex_->freshOnly_ = false;
  int err = 0;
  ex_->up_ = upstream::UpstreamConn::connect(w_.loop(), b->shared_from_this(), w_.id(), this, &err,
                                        ex_->set_->tls, &w_.blocks(), &w_.writes());
  ex_->upConnected_ = false;
  ex_->upReused_ = false;
  if (!ex_->up_) {
    upstreamFailed(Failure::kConnect, err);
    return;
  }
  setUpstreamDeadline(uv_now(w_.loop()) + ex_->set_->cfg.timeouts.upstreamConnect.count());
}

void Session::useConnection(upstream::UpstreamConn* c, bool reused) {
  ex_->up_ = c;
  ex_->upConnected_ = true;
  ex_->upReused_ = reused;
  ++c->requests;
  ex_->upSentNs_ = uv_hrtime();
  if (reused) ex_->backend_->stats().shard(w_.id()).add(metrics::kUpReuses);
  if (ex_->up_->startReading() == 0) ex_->upReading_ = true;
  setUpstreamDeadline(uv_now(w_.loop()) + ex_->set_->cfg.timeouts.upstreamResponse.count());
  flushUpstream();
}

void Session::onUpstreamConnect(int status) {
  if (status != 0) {
    upstreamFailed(Failure::kConnect, status);
    return;
  }
  ex_->upConnectNs_ = static_cast<int64_t>(uv_hrtime() - ex_->up_->connectStartNs);
  useConnection(ex_->up_, false);
  if (!clientPaused_ && !clientReading_ && phase_ == Phase::kBody && !upstreamBackpressured())
    startClientReading();
}

void Session::flushUpstream() {
  if (!ex_->up_ || !ex_->upConnected_ || !ex_->upOut_ || ex_->upOut_->empty()) return;
  // A request body is coalesced: the backend gets it once the request is complete or a
  // sizeable batch is pending, so a body that arrives in several reads goes out, with the
  // head, in one writev (as nginx's request buffering does for small bodies, but streaming).
  if (ex_->requestHasBody_ && !ex_->requestComplete_ && ex_->upOut_->bytes < kFlushBytes) return;
  net::WriteBatch* b = ex_->upOut_;
  ex_->upOut_ = nullptr;
  bool done = false;
  if (ex_->up_->write(b, &w_.writes(), &done) != 0) {
    upstreamFailed(Failure::kClosed, UV_EPIPE);
    return;
  }
  if (done) {
    armResponseDeadline();
  } else {
    ++ex_->upWrites_;
  }
}

void Session::armResponseDeadline() {
  if (phase_ == Phase::kTunnel) return;
  setUpstreamDeadline(uv_now(w_.loop()) + ex_->set_->cfg.timeouts.upstreamResponse.count());
}

void Session::onUpstreamWriteDone(int status) {
  --ex_->upWrites_;
  if (status < 0) {
    if (status != UV_ECANCELED) upstreamFailed(Failure::kClosed, status);
    return;
  }
  if (phase_ == Phase::kTunnel) {
    if (!clientReading_ && !ex_->clientEof_ && !upstreamBackpressured()) startClientReading();
    return;
  }
  armResponseDeadline();
  if (!clientPaused_ && !clientReading_ && phase_ == Phase::kBody && !upstreamBackpressured())
    startClientReading();
}

void Session::onUpstreamAlloc(size_t, uv_buf_t* buf) {
  *buf = ex_->upIn_.prepare(w_.blocks(), &ex_->respParser_, kMaxResponseHead);
}

void Session::onUpstreamRead(ssize_t n, const uv_buf_t*) {
  if (n == 0) return;
  if (n > 0) {
    ex_->upIn_.end += static_cast<uint32_t>(n);
    ex_->upSawBytes_ = true;
    armResponseDeadline();
    processUpstreamInput();
    return;
  }
  if (phase_ == Phase::kTunnel) {
    tunnelUpstreamClosed();
    return;
  }
  if (n == UV_EOF && ex_->respParser_.inMessage() && ex_->respParser_.needsEof()) {
    // Read-until-close body: EOF completes it.
    if (ex_->respParser_.finish() == HPE_OK || ex_->respComplete_) {
      flushClientOut();
      onResponseComplete();
      return;
    }
  }
  upstreamFailed(Failure::kClosed, static_cast<int>(n));  // EOF or a read error
}

void Session::processUpstreamInput() {
  if (phase_ == Phase::kTunnel) {
    tunnelToClient();
    return;
  }
  while (ex_->upIn_.block && ex_->upIn_.unparsed() > 0 && !ex_->respComplete_) {
    http::Parser::Result r = ex_->respParser_.execute(ex_->upIn_.at(ex_->upIn_.parsed), ex_->upIn_.unparsed());
    ex_->upIn_.parsed += static_cast<uint32_t>(r.consumed);
    if (r.err == HPE_OK || r.err == HPE_PAUSED) break;
    if (r.err == HPE_PAUSED_UPGRADE && ex_->tunnel_) {
      openTunnel();  // what follows the 101 head is the new protocol's
      return;
    }
    if (ex_->retryStatus_) {
      LOG_WARN("upstream %s (%s) answered %d: retrying %.*s on another backend",
               ex_->backend_->name().c_str(), ex_->backend_->address().text.c_str(), ex_->retryStatus_,
               static_cast<int>(ex_->req_.target.size()), ex_->req_.target.data());
      ex_->retryStatus_ = 0;
      retryElsewhere();
      return;
    }
    LOG_WARN("upstream %s (%s): invalid response: %s", ex_->backend_->name().c_str(),
             ex_->backend_->address().text.c_str(),
             ex_->respParser_.failReason() ? ex_->respParser_.failReason() : ex_->respParser_.errorReason());
    upstreamFailed(Failure::kInvalid, 0);
    return;
  }
  if (phase_ == Phase::kClosed) return;
  if (flushClientOut() && phase_ == Phase::kClosed) return;
  if (ex_->respComplete_) {
    onResponseComplete();
    return;
  }
  if (ex_->up_ && ex_->upReading_ && clientBackpressured()) {
    // The client reads slower than the backend sends: hold the backend, and give the client
    // client_send to make progress.
    ex_->up_->stopReading();
    ex_->upReading_ = false;
    if (phase_ == Phase::kWaiting)
      setClientDeadline(uv_now(w_.loop()) + timeouts().clientSend.count());
  }
  ex_->upIn_.releaseIfEmpty(&ex_->respParser_);
}

int Session::responseHeadersComplete() {
  int status = ex_->respParser_.statusCode();
  if (status == 101) {
    // Only an upgrade the client asked for (and we passed on) may be accepted.
    if (ex_->req_.upgrade.empty() || !ex_->respParser_.upgrade() ||
        http::upgradeHeader(ex_->respParser_).empty()) {
      ex_->respParser_.fail(502, "unexpected 101 Switching Protocols");
      return -1;
    }
  } else if (status < 200) {
    return 0;  // 1xx: dropped; the proxy answered 100-continue itself
  }
  if (status >= 500) {
    health::reportFailure(*ex_->backend_, *ex_->set_, health::Outcome::kServerError);
    const uint32_t cond = status == 502   ? config::kRetry502
                          : status == 503 ? config::kRetry503
                          : status == 504 ? config::kRetry504
                                          : 0u;
    if (cond && replayable(cond)) {
      ex_->retryStatus_ = status;  // processUpstreamInput() retries once llhttp has returned
      ex_->respParser_.fail(status, "retrying on another backend");
      return -1;
    }
  } else {
    health::reportSuccess(*ex_->backend_);
  }
  ex_->respBody_ = http::chooseResponseBody(ex_->respParser_, ex_->req_.isHead, ex_->req_.http10);
  if (ex_->respBody_ == http::ResponseBody::kUntilClose || w_.draining()) closeAfter_ = true;
  ex_->status_ = status;
  ex_->upResponseNs_ = static_cast<int64_t>(uv_hrtime() - ex_->upSentNs_);
  ex_->backend_->stats().shard(w_.id()).observe(metrics::kUpstreamResponse,
                                           static_cast<uint64_t>(ex_->upResponseNs_));
  size_t bound = http::clientResponseHeadBound(ex_->respParser_, ex_->respEdits_);
  net::Block* b = w_.blocks().acquire(static_cast<uint32_t>(bound));
  http::HeadWriter hw(b->data(), b->capacity);
  http::writeClientResponseHead(ex_->respParser_, ex_->respBody_, closeAfter_, ex_->req_.http10, hw,
                                ex_->reqId_, ex_->respEdits_);
  if (hw.overflow()) {
    net::BlockPool::unref(b);
    ex_->respParser_.fail(502, "response head too large");
    return -1;
  }
  if (!ex_->clientOut_) ex_->clientOut_ = w_.writes().acquire();
  ex_->clientOut_->addRef(b, b->data(), hw.size());
  net::BlockPool::unref(b);
  ex_->respHeadSent_ = true;
  ex_->tunnel_ = status == 101;  // llhttp stops right after this head (HPE_PAUSED_UPGRADE)
  // No body follows for HEAD, 204 and 304 whatever Content-Length says (llhttp would wait).
  return ex_->respBody_ == http::ResponseBody::kNone ? 1 : 0;
}

void Session::onResponseComplete() {
  setUpstreamDeadline(0);
  const bool reusable = ex_->respParser_.keepAlive() && ex_->requestComplete_ && ex_->upWrites_ == 0 &&
                        (!ex_->upOut_ || ex_->upOut_->empty()) && ex_->upIn_.unparsed() == 0 &&
                        !ex_->respParser_.needsEof();
  if (!ex_->requestComplete_) closeAfter_ = true;  // cannot skip the rest of the body reliably
  releaseUpstream(reusable);
  maybeFinishExchange();
}

void Session::releaseUpstream(bool reusable) {
  if (ex_->holdsInFlight_) {
    ex_->backend_->addInFlight(-1);
    ex_->holdsInFlight_ = false;
  }
  upstream::UpstreamConn* c = ex_->up_;
  ex_->up_ = nullptr;
  ex_->upConnected_ = false;
  ex_->upReading_ = false;
  // Writes still pending on a connection given up here never report back (park() and close()
  // detach this session), so they no longer count: a kept count would mark every later
  // connection of this Exchange (and of the next session to borrow it) as not reusable.
  ex_->upWrites_ = 0;
  if (c) {
    if (reusable && !c->closing() && !w_.draining() &&
        ex_->backend_->adminState() != upstream::AdminState::kDisabled) {
      c->park(uv_now(w_.loop()));
    } else {
      c->close();
    }
  }
  ex_->respParser_.reset();
  ex_->upIn_.release();
  if (ex_->upOut_ && !ex_->discardBody_) {
    w_.writes().release(ex_->upOut_);
    ex_->upOut_ = nullptr;
  }
}

bool Session::replayable(uint32_t condition) const {
  // Idempotent methods (RFC 9110 §9.2.2) without a body: the whole request is the kept head,
  // so it can be sent again; a body has already been streamed away and cannot.
  if (!(ex_->set_->cfg.retries.on & condition) || ex_->requestHasBody_ || ex_->respHeadSent_) return false;
  if (ex_->attempts_ >= 1 + ex_->set_->cfg.retries.attempts) return false;
  switch (ex_->reqParser_.method()) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
    case HTTP_PUT:
    case HTTP_DELETE:
      return true;
    default:
      return false;
  }
}

void Session::retryElsewhere() {
  releaseUpstream(false);
  if (ex_->upOut_) w_.writes().release(ex_->upOut_);
  ex_->upOut_ = w_.writes().acquire();
  ex_->upOut_->addRef(ex_->reqHead_, ex_->reqHead_->data(), ex_->reqHeadLen_);
  startAttempt();  // the failed backend is in ex_->tried_: another one is chosen
}

void Session::upstreamFailed(Failure kind, int err) {
  if (phase_ == Phase::kClosed || !ex_->backend_) return;
  if (phase_ == Phase::kTunnel) {
    tunnelUpstreamClosed();
    return;
  }
  const char* what = kind == Failure::kConnect   ? "connect failed"
                     : kind == Failure::kTimeout ? "timed out"
                     : kind == Failure::kInvalid ? "sent an invalid response"
                                                 : "closed the connection";
  // A kept-alive connection the backend closed just as we reused it: nothing was processed.
  // Only bodiless requests are replayed (their whole request is the kept head).
  const bool staleReuse = ex_->upReused_ && !ex_->upSawBytes_ && kind == Failure::kClosed &&
                          !ex_->requestHasBody_;
  if (kind == Failure::kConnect) ex_->backend_->stats().shard(w_.id()).add(metrics::kUpConnectFailures);
  LOG_WARN("upstream %s (%s) %s%s%s", ex_->backend_->name().c_str(),
           ex_->backend_->address().text.c_str(), what, err ? ": " : "",
           err ? uv_strerror(err) : "");
  if (!staleReuse) {
    health::reportFailure(*ex_->backend_, *ex_->set_,
                          kind == Failure::kConnect   ? health::Outcome::kConnectFailure
                          : kind == Failure::kTimeout ? health::Outcome::kTimeout
                          : kind == Failure::kInvalid ? health::Outcome::kInvalidResponse
                                                      : health::Outcome::kReset);
  }

  if (!ex_->respHeadSent_ && (kind == Failure::kConnect || staleReuse)) {
    // Nothing reached the backend's application: safe to try again for any method. After a
    // connect failure the request bytes are all still queued in ex_->upOut_.
    if (staleReuse) {
      releaseUpstream(false);
      if (ex_->upOut_) w_.writes().release(ex_->upOut_);
      ex_->upOut_ = w_.writes().acquire();
      ex_->upOut_->addRef(ex_->reqHead_, ex_->reqHead_->data(), ex_->reqHeadLen_);
      --ex_->triedCount_;  // not the backend's fault: it may be picked again, on a new connection
      --ex_->attempts_;
      ex_->freshOnly_ = true;
    } else {
      net::WriteBatch* pending = ex_->upOut_;
      ex_->upOut_ = nullptr;
      releaseUpstream(false);
      ex_->upOut_ = pending;
    }
    startAttempt();
    return;
  }
  if (!ex_->upSawBytes_ && replayable(kind == Failure::kTimeout ? config::kRetry504
                                                         : config::kRetryReset)) {
    retryElsewhere();  // retries.on: reset / 504, idempotent request not yet answered
    return;
  }
  releaseUpstream(false);
  if (!ex_->respHeadSent_) {
    int status = kind == Failure::kTimeout ? 504 : 502;
    respondLocal(status,
                 status == 504 ? "gateway timeout: the backend did not answer in time"
                               : "bad gateway: the backend failed",
                 !ex_->requestComplete_);
  } else {
    abort();  // part of the response was sent: closing is the only honest signal
  }
}

// ---------------------------------------------------------------------------------------------
// Tunnel (an upgraded connection: WebSocket)

void Session::openTunnel() {
  phase_ = Phase::kTunnel;
  clientPaused_ = false;  // the request parser is done with this connection
  setUpstreamDeadline(0);
  w_.stats().addListener(listener_.slot, metrics::kUpgrades);
  tunnelToClient();  // the 101 head and any bytes the backend sent right after it
  if (phase_ != Phase::kTunnel) return;
  tunnelToUpstream();  // bytes the client sent after its request
  if (phase_ == Phase::kTunnel && ex_->clientEof_ && ex_->up_) ex_->up_->shutdownWrite();
}

void Session::armTunnelDeadline() {
  setClientDeadline(uv_now(w_.loop()) + ex_->set_->cfg.timeouts.tunnelIdle.count());
}

void Session::tunnelToUpstream() {
  if (uint32_t n = in_.unparsed(); n > 0 && ex_->up_) {
    if (!ex_->upOut_) ex_->upOut_ = w_.writes().acquire();
    ex_->upOut_->addRef(in_.block, in_.at(in_.parsed), n);
    ex_->bodyBytes_ += n;
    in_.parsed = in_.end;
    armTunnelDeadline();
    flushUpstream();
    if (phase_ != Phase::kTunnel) return;
  }
  in_.releaseIfEmpty(nullptr);
  if (upstreamBackpressured()) {
    stopClientReading();
  } else if (!ex_->clientEof_) {
    startClientReading();
  }
}

void Session::tunnelToClient() {
  Exchange& x = *ex_;
  if (uint32_t n = x.upIn_.unparsed(); n > 0) {
    if (!x.clientOut_) x.clientOut_ = w_.writes().acquire();
    x.clientOut_->addRef(x.upIn_.block, x.upIn_.at(x.upIn_.parsed), n);
    x.upIn_.parsed = x.upIn_.end;
  }
  if (flushClientOut()) {
    if (phase_ != Phase::kTunnel) return;
    armTunnelDeadline();
  }
  x.upIn_.releaseIfEmpty(nullptr);
  if (x.up_ && x.upReading_ && clientBackpressured()) {
    x.up_->stopReading();  // resumed by onClientWriteDone once the client catches up
    x.upReading_ = false;
  }
}

void Session::tunnelUpstreamClosed() {
  // The backend closed (or failed): the client gets what was already relayed, then a close.
  releaseUpstream(false);
  closeAfter_ = true;
  closeAfterWrites();
}

// ---------------------------------------------------------------------------------------------
// Timers

void Session::setClientDeadline(uint64_t ms) {
  clientDeadline_ = ms;
  armTimer();
}

void Session::setUpstreamDeadline(uint64_t ms) {
  upstreamDeadline_ = ms;
  armTimer();
}

void Session::armTimer() {
  if (phase_ == Phase::kClosed) return;
  uint64_t next = 0;
  if (clientDeadline_) next = clientDeadline_;
  if (upstreamDeadline_ && (!next || upstreamDeadline_ < next)) next = upstreamDeadline_;
  if (next == 0) return;  // a stale entry firing finds nothing due and stays quiet
  // Deadlines usually move later; only reschedule when the new one is earlier than the armed
  // one (a too-early firing re-arms for what is due then).
  if (armedAt_ && armedAt_ <= next && timer_.scheduled()) return;
  armedAt_ = next;
  w_.timers().schedule(&timer_, next);
}

void Session::onTimer(net::TimerWheel::Entry* e) {
  auto* s = static_cast<Session*>(e->data);
  s->armedAt_ = 0;
  s->onDeadline();
  s->armTimer();
}

void Session::onDeadline() {
  if (phase_ == Phase::kClosed) return;
  uint64_t now = uv_now(w_.loop());
  if (clientDeadline_ && now >= clientDeadline_) {
    clientDeadline_ = 0;
    switch (phase_) {
      case Phase::kIdle:
      case Phase::kLingering:
        abort();
        return;
      case Phase::kWaiting:
        LOG_DEBUG("client %s stalled reading the response: closing", clientIp_);
        abort();
        return;
      case Phase::kTunnel:
        LOG_DEBUG("client %s: tunnel idle for tunnel_idle: closing", clientIp_);
        abort();
        return;
      case Phase::kHead:
      case Phase::kBody:
        LOG_DEBUG("client %s timed out (%s)", clientIp_,
                  phase_ == Phase::kHead ? "request head" : "request body");
        if (ex_->up_) releaseUpstream(false);
        respondLocal(408, "request timeout", true);
        return;
      default:
        break;
    }
  }
  if (upstreamDeadline_ && now >= upstreamDeadline_) {
    upstreamDeadline_ = 0;
    if (ex_ && ex_->up_)
      upstreamFailed(!ex_->upConnected_ ? Failure::kConnect : Failure::kTimeout, UV_ETIMEDOUT);
  }
}

}  // namespace sy::proxy
