// Http1Connection: lifetime, the client socket (plain or TLS), request parsing and deadlines.
#include "switchyard/proxy/http1_connection.h"

#include "switchyard/common/log.h"
#include "switchyard/proxy/http2_connection.h"
#include "switchyard/net/socket.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

constexpr uint32_t kMaxPipelined = 8 * 1024;

http::ParserLimits requestLimits(const config::Limits& l) {
  return {static_cast<uint32_t>(l.maxHeaderBytes), l.maxHeaders};
}

}  // namespace

ClientConnection* newClientConnection(server::Worker& w, server::WorkerListener& listener) {
  return new Http1Connection(w, listener);
}

// ---------------------------------------------------------------------------------------------
// Exchange lifetime

Exchange& Http1Connection::ensureExchange() {
  if (!ex_) {
    ex_ = w_.exchanges().acquire();
    ex_->reqParser_.reset();
    ex_->reqParser_.setHandler(this);
    ex_->reqParser_.setLimits(requestLimits(w_.view()->snap->config->limits));
    ex_->respBody_ = http::ResponseBody::kNone;
    ex_->clientEof_ = false;
  }
  return *ex_;
}

void Http1Connection::releaseExchange() {
  if (!ex_) return;
  ex_->up.end();
  if (ex_->clientOut_) {
    w_.writes().release(ex_->clientOut_);
    ex_->clientOut_ = nullptr;
  }
  // Borrowed header arrays go back now; parser state is reset when the Exchange is next taken.
  ex_->reqParser_.releaseHeaders();
  w_.exchanges().release(ex_);
  ex_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Lifetime

Http1Connection::Http1Connection(server::Worker& worker, server::WorkerListener& listener)
    : w_(worker), listener_(listener) {
  tcp_.init(w_.loop(), this);
  timer_.fire = onTimer;
  timer_.data = this;
  ++listener_.sessions;
  w_.stats().addListener(listener_.slot, metrics::kConnOpened);
}

Http1Connection::~Http1Connection() {
  h2_.reset();  // its streams end (and are recorded) first
  if (ex_ && ex_->up.tunnel()) w_.stats().addListener(listener_.slot, metrics::kTunnelsClosed);
  w_.timers().cancel(&timer_);
  releaseExchange();
  in_.release();
  if (--listener_.sessions == 0 && listener_.closed && listener_.handleClosed) delete &listener_;
}

void Http1Connection::start() {
  tcp_.noDelay();
  int len = sizeof client_.peer;
  if (tcp_.peerName(&client_.peer.sa, &len) == 0)
    net::formatIp(&client_.peer.sa, client_.ip, sizeof client_.ip);
  beginRequest();
  if (expectsProxyHeader()) {
    // The PROXY protocol header comes first, before any TLS (proxy_header.cc).
    awaitingProxyHeader_ = true;
    setClientDeadline(uv_now(w_.loop()) + timeouts().clientHeader.count());
  } else if (!startTls()) {
    return;
  }
  startClientReading();
}

bool Http1Connection::startTls() {
  const auto& tlsContexts = w_.view()->snap->listenerTls;
  if (listener_.routeIndex >= 0 && static_cast<size_t>(listener_.routeIndex) < tlsContexts.size())
    if (const auto& ctx = tlsContexts[listener_.routeIndex]) {
      client_.tls = true;
      if (!transport_.accept(ctx, &w_.writes(), &w_.blocks())) {
        LOG_WARN("client %s: cannot start TLS (out of memory)", client_.ip);
        abort();
        return false;
      }
    }
  return true;
}

void Http1Connection::onHandleClosed(uv_handle_t* h) {
  auto* s = static_cast<Http1Connection*>(h->data);
  s->w_.stats().addListener(s->listener_.slot, metrics::kConnClosed);
  s->w_.sessionClosed(s);
  delete s;
}

void Http1Connection::abort() {
  if (phase_ == Phase::kClosed) return;
  if (ex_ && ex_->up.begun()) {
    ex_->up.record(ex_->up.info().http10 ? "HTTP/1.0" : "HTTP/1.1");
    ex_->up.cancel();
  }
  if (h2_) h2_->abandon();
  phase_ = Phase::kClosed;
  w_.timers().cancel(&timer_);
  tcp_.close(onHandleClosed);
}

void Http1Connection::drain() {
  closeAfter_ = true;
  if (phase_ == Phase::kHttp2) {
    h2_->drain();
    return;
  }
  // An idle kept-alive connection may have a request on its way already: closing now would
  // lose it, so it gets a short grace (a request arriving is answered with Connection: close).
  if (phase_ == Phase::kIdle && in_.unparsed() == 0 && clientWrites_ == 0)
    setClientDeadline(uv_now(w_.loop()) + kDrainIdleGraceMs);
}

const config::ClientTimeouts& Http1Connection::timeouts() const {
  if (ex_ && ex_->up.begun()) return ex_->up.clientTimeouts();
  const config::Config& cfg = *w_.view()->snap->config;
  if (listener_.routeIndex >= 0 && static_cast<size_t>(listener_.routeIndex) < cfg.listeners.size())
    return cfg.listeners[listener_.routeIndex].timeouts;
  return cfg.timeouts;
}

uint32_t Http1Connection::maxHeaderBytes() const {
  const config::Config& cfg = ex_ && ex_->up.begun() ? ex_->up.config() : *w_.view()->snap->config;
  return static_cast<uint32_t>(cfg.limits.maxHeaderBytes);
}

// ---------------------------------------------------------------------------------------------
// Client side

void Http1Connection::beginRequest() {
  if (in_.unparsed() > 0) {
    // A pipelined request is waiting: keep the exchange (and the parser's place) for it.
    if (ex_) ex_->up.end();
    startRequestHead();
  } else {
    releaseExchange();  // idle between requests: the connection holds no per-request state
    phase_ = Phase::kIdle;
    setClientDeadline(uv_now(w_.loop()) + timeouts().clientIdle.count());
  }
}

void Http1Connection::startRequestHead() {
  Exchange& x = ensureExchange();
  if (!x.up.begun()) {
    // A new request (also on a kept-alive connection) uses the newest config.
    x.up.begin(w_, listener_, client_, this);
    x.reqParser_.setLimits(requestLimits(x.up.config().limits));
  }
  phase_ = Phase::kHead;
  setClientDeadline(uv_now(w_.loop()) + timeouts().clientHeader.count());
}

void Http1Connection::startClientReading() {
  if (clientReading_ || phase_ == Phase::kClosed) return;
  tcp_.setAdopt(onClientAdopt);
  if (tcp_.readStart(onClientAlloc, onClientRead) == 0)
    clientReading_ = true;
}

void Http1Connection::stopClientReading() {
  if (!clientReading_) return;
  tcp_.readStop();
  clientReading_ = false;
}

void Http1Connection::onClientAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* s = static_cast<Http1Connection*>(h->data);
  if (s->transport_.secure()) {
    *buf = net::StreamTransport::cipherBuffer();  // ciphertext: fed to OpenSSL at once
    return;
  }
  *buf = s->in_.prepare(s->w_.blocks(), s->reqParser(), s->maxHeaderBytes());
}

bool Http1Connection::onClientAdopt(uv_handle_t* h, net::Block* b) {
  auto* s = static_cast<Http1Connection*>(h->data);
  return !s->transport_.secure() && s->in_.adopt(b, s->reqParser());
}

void Http1Connection::onClientRead(uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  auto* s = static_cast<Http1Connection*>(st->data);
  if (s->transport_.secure() && n > 0) {
    s->onClientCipher(buf->base, static_cast<size_t>(n));
    return;
  }
  s->onClientData(n);
}

void Http1Connection::onClientCipher(const char* p, size_t n) {
  if (phase_ == Phase::kLingering || phase_ == Phase::kClosed) return;  // discarded
  using Received = net::StreamTransport::Received;
  const Received got = transport_.receive(p, n);
  if (got == Received::kFailed) {
    clientTlsFailed();
    return;
  }
  // Everything decryptable is read now, even if reading pauses on the way: a pause holds at most
  // one socket read's worth, and no plaintext is left inside OpenSSL waiting for a resume.
  while (got != Received::kPending) {
    uv_buf_t b = in_.prepare(w_.blocks(), reqParser(), maxHeaderBytes());
    ssize_t r = transport_.read(b.base, b.len);
    if (r > 0) {
      onClientData(r);
      if (phase_ == Phase::kClosed) return;
      if (phase_ == Phase::kLingering) break;
      continue;
    }
    if (r == 0) break;
    if (r == UV_EOF) {
      flushClientTls();
      onClientData(UV_EOF);
      return;
    }
    clientTlsFailed();
    return;
  }
  in_.releaseIfEmpty(reqParser());
  flushClientTls();
  if (got == Received::kConnected && phase_ == Phase::kIdle)
    setClientDeadline(uv_now(w_.loop()) + timeouts().clientIdle.count());
}

void Http1Connection::clientTlsFailed() {
  if (!transport_.established()) {
    w_.stats().addListener(listener_.slot, metrics::kTlsHandshakeFailures);
    LOG_DEBUG("client %s: TLS handshake failed: %s", client_.ip, transport_.error().c_str());
  } else {
    LOG_DEBUG("client %s: TLS error: %s", client_.ip, transport_.error().c_str());
  }
  flushClientTls();  // the alert, if OpenSSL made one
  abort();
}

void Http1Connection::flushClientTls() {
  if (phase_ == Phase::kClosed) return;
  if (net::WriteBatch* b = transport_.output()) sendClient(b);
}

void Http1Connection::onClientData(ssize_t n) {
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF && phase_ == Phase::kIdle && clientWrites_ > 0) {
      // The client half-closed after its last request: finish sending the answer first.
      stopClientReading();
      closeAfter_ = true;
      phase_ = Phase::kLingering;
      return;
    }
    if (n == UV_EOF && phase_ == Phase::kWaiting && ex_ && ex_->up.requestComplete()) {
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
      ex_->up.tunnelShutdown();
      return;
    }
    // EOF or error from the client. Between requests this is a normal close; otherwise the
    // request is abandoned and the backend connection with it.
    abort();
    return;
  }
  in_.end += static_cast<uint32_t>(n);
  w_.stats().addListener(listener_.slot, metrics::kBytesIn, static_cast<uint64_t>(n));
  if (awaitingProxyHeader_ && !readProxyHeader()) return;
  if (phase_ == Phase::kLingering) {
    in_.parsed = in_.end;  // discard
    return;
  }
  if (phase_ == Phase::kHttp2) {
    h2Input();
    return;
  }
  if (firstBytes_ && phase_ == Phase::kIdle) {
    if (transport_.secure()) {
      firstBytes_ = false;
      if (transport_.alpn() == "h2") {
        startHttp2();
        return;
      }
    } else if (checkPreface()) {
      return;  // HTTP/2 now, or waiting for the rest of what may be its preface
    }
  }
  if (phase_ == Phase::kIdle) {
    startRequestHead();
  } else if (phase_ == Phase::kBody && ex_->up.requestHasBody() && !ex_->up.requestComplete()) {
    setClientDeadline(uv_now(w_.loop()) + timeouts().clientBody.count());
  }
  pump();
}

void Http1Connection::pump() {
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

void Http1Connection::processClientInput() {
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
    http::Parser& p = ex_->reqParser_;
    int status = p.failStatus() ? p.failStatus() : 400;
    const char* reason = p.failReason()                 ? p.failReason()
                         : r.err == HPE_PAUSED_H2_UPGRADE ? "HTTP/2 with prior knowledge is not "
                                                            "enabled on this listener (protocols: h2c)"
                                                          : llhttp_errno_name(r.err);
    LOG_DEBUG("client %s: refused request (%d): %s", client_.ip, status,
              p.failReason() ? p.failReason() : p.errorReason());
    in_.parsed = in_.end;
    refuse(status, reason);
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
    respondLocal(431, metrics::LocalReason::kHeaderTooLarge, "Request Header Fields Too Large",
                 true);
    return;
  }
  ex_->up.flush();
  if (phase_ == Phase::kClosed) return;
  // Reading stays on while a request waits for its answer (no epoll changes per request);
  // pipelined bytes beyond one block's worth wait in the kernel instead.
  if (ex_->up.backpressured(clientReading_) ||
      (clientPaused_ && in_.unparsed() > kMaxPipelined)) {
    stopClientReading();
  } else if (!closeAfter_ || !ex_->up.requestComplete()) {
    startClientReading();
  }
  in_.releaseIfEmpty(reqParser());
  if (ex_->up.requestComplete()) maybeFinishExchange();
}

int Http1Connection::onHeadersComplete(http::Parser& p) {
  // The header arrays go back to the worker's pool as soon as the head is handled: everything
  // kept from it is a view into the read block.
  int rc = requestHeadersComplete(p);
  p.releaseHeaders();
  return rc;
}

int Http1Connection::requestHeadersComplete(http::Parser& p) {
  const char* reason = nullptr;
  int status = http::checkRequestLine(p, &reason);
  UpstreamRequest& up = ex_->up;
  http::RequestHead head = http::RequestHead::fromParser(p);
  if (status == 0) {
    // Set before start(): a local answer given inside it must already know.
    if (!head.keepAlive || w_.draining()) closeAfter_ = true;
    phase_ = Phase::kBody;
    const bool body = head.chunked || head.contentLength > 0;
    setClientDeadline(body ? uv_now(w_.loop()) + timeouts().clientBody.count() : 0);
    status = up.start(head, in_.block, &reason);
  }
  if (status != 0) {
    p.fail(status, reason);
    return -1;
  }
  return 0;
}

int Http1Connection::onBody(http::Parser& p, const char* data, size_t n) {
  if (!ex_->up.addBody(in_.block, data, n)) {
    p.fail(413, "Content Too Large");
    return -1;
  }
  return 0;
}

int Http1Connection::onMessageComplete(http::Parser&) {
  ex_->up.endBody();
  if (phase_ != Phase::kLingering && phase_ != Phase::kClosed) setClientDeadline(0);
  if (phase_ == Phase::kBody) phase_ = Phase::kWaiting;
  return HPE_PAUSED;  // one request at a time: the next one waits in the buffer
}

// ---------------------------------------------------------------------------------------------
// Timers

void Http1Connection::setClientDeadline(uint64_t ms) {
  clientDeadline_ = ms;
  if (phase_ == Phase::kClosed || ms == 0) return;  // a stale firing finds nothing due
  // Deadlines usually move later; only reschedule when the new one is earlier than the armed
  // one (a too-early firing re-arms for what is due then).
  if (armedAt_ && armedAt_ <= ms && timer_.scheduled()) return;
  armedAt_ = ms;
  w_.timers().schedule(&timer_, ms);
}

void Http1Connection::onTimer(net::TimerWheel::Entry* e) {
  auto* s = static_cast<Http1Connection*>(e->data);
  s->armedAt_ = 0;
  s->onDeadline();
  if (s->phase_ != Phase::kClosed && s->clientDeadline_) s->setClientDeadline(s->clientDeadline_);
}

void Http1Connection::onDeadline() {
  if (phase_ == Phase::kClosed) return;
  uint64_t now = uv_now(w_.loop());
  if (!clientDeadline_ || now < clientDeadline_) return;
  clientDeadline_ = 0;
  switch (phase_) {
    case Phase::kIdle:
    case Phase::kLingering:
      abort();
      return;
    case Phase::kWaiting:
      LOG_DEBUG("client %s stalled reading the response: closing", client_.ip);
      abort();
      return;
    case Phase::kTunnel:
      LOG_DEBUG("client %s: tunnel idle for tunnel_idle: closing", client_.ip);
      abort();
      return;
    case Phase::kHttp2:
      if (uint64_t d = h2_->deadline(); d && d <= now) {
        h2_->onTimeout();
      } else {
        armH2Deadline();
      }
      return;
    case Phase::kHead:
    case Phase::kBody:
      LOG_DEBUG("client %s timed out (%s)", client_.ip,
                phase_ == Phase::kHead ? "request head" : "request body");
      ex_->up.cancel();
      respondLocal(408,
                   phase_ == Phase::kHead ? metrics::LocalReason::kHeaderTimeout
                                          : metrics::LocalReason::kBodyTimeout,
                   "request timeout", true);
      return;
    default:
      break;
  }
}

}  // namespace sy::proxy
