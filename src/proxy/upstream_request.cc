// UpstreamRequest: routing, attempts, retries and failures (the response side is in
// upstream_response.cc, telemetry in request_telemetry.cc).
#include "switchyard/proxy/upstream_request.h"

#include <charconv>
#include <string>

#include "switchyard/common/log.h"
#include "switchyard/http/chunked.h"
#include "switchyard/health/outlier.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

constexpr uint32_t kMaxResponseHead = 64 * 1024;
// At most the low-water mark, so that bytes held back never keep the client paused.
constexpr size_t kFlushBytes = kLowWater;

}  // namespace

UpstreamRequest::UpstreamRequest(http::HeaderPool* headers)
    : respParser_(HTTP_RESPONSE, this, {kMaxResponseHead, 1000}, headers) {
  timer_.fire = onTimer;
  timer_.data = this;
}

UpstreamRequest::~UpstreamRequest() { end(); }

void UpstreamRequest::begin(server::Worker& w, server::WorkerListener& l, const ClientInfo& client,
                            RequestSink* sink) {
  w_ = &w;
  listener_ = &l;
  client_ = &client;
  sink_ = sink;
  clientAddr_.set(&client.peer.sa, client.ip);
  view_ = w.view();
  listenerIndex_ = l.routeIndex;  // read with view_: both change together when a reload lands
  respParser_.reset();
  set_ = nullptr;
  respEdits_ = nullptr;
  policy_ = nullptr;
  req_ = http::RequestInfo{};
  method_ = 0;
  bodyBytes_ = 0;
  requestHasBody_ = upstreamChunked_ = requestComplete_ = discard_ = false;
  respHeadSent_ = respComplete_ = tunnel_ = false;
  triedCount_ = attempts_ = upWrites_ = 0;
  freshOnly_ = false;
  retryStatus_ = 0;
  backend_ = nullptr;
  deadline_ = 0;
  reqStartNs_ = uv_hrtime();
  headSeen_ = false;
  status_ = 0;
  respBytes_ = 0;
  upConnectNs_ = upResponseNs_ = -1;
}

void UpstreamRequest::end() {
  if (!w_) return;
  releaseUpstream(false);
  w_->timers().cancel(&timer_);
  if (headRef_) {
    net::BlockPool::unref(headRef_);
    headRef_ = nullptr;
  }
  if (reqHead_) {
    net::BlockPool::unref(reqHead_);
    reqHead_ = nullptr;
  }
  upIn_.release();
  if (upOut_) {
    w_->writes().release(upOut_);
    upOut_ = nullptr;
  }
  view_.reset();
  respParser_.releaseHeaders();
  reqStartNs_ = 0;
  sink_ = nullptr;
  w_ = nullptr;
}

const config::ClientTimeouts& UpstreamRequest::clientTimeouts() const {
  const config::Config& cfg = config();
  if (listenerIndex_ >= 0 && static_cast<size_t>(listenerIndex_) < cfg.listeners.size())
    return cfg.listeners[listenerIndex_].timeouts;
  return cfg.timeouts;
}

int UpstreamRequest::start(const http::RequestHead& head, net::Block* headBlock,
                           const char** reason) {
  noteRequestHead(head, headBlock);
  method_ = head.method;
  const config::Config& cfg = config();
  const bool haveListener =
      listenerIndex_ >= 0 && static_cast<size_t>(listenerIndex_) < cfg.listeners.size();
  if (haveListener)
    if (const auto& realIp = view_->snap->realIp[listenerIndex_]) {
      geo::IpAddress ip;
      if (realIp->resolve(&client_->peer.sa, head.fields, ip)) clientAddr_.set(ip);
    }
  if (int status = http::analyzeRequest(head, req_, reason)) return status;
  if (cfg.limits.maxBodyBytes > 0 && req_.hasContentLength &&
      req_.contentLength > cfg.limits.maxBodyBytes) {
    *reason = "Content Too Large";
    return 413;
  }
  // An HTTP/2 body of unknown length goes to the HTTP/1.1 backend chunked.
  if (req_.http2 && head.bodyFollows && !req_.hasContentLength) req_.chunked = true;
  requestHasBody_ = req_.chunked || (req_.hasContentLength && req_.contentLength > 0);
  upstreamChunked_ = req_.chunked;

  if (haveListener)
    if (uint16_t port = cfg.listeners[listenerIndex_].redirectHttps) {
      redirectHttps(port);
      return 0;
    }
  const routing::RouteTable::Entry* route = haveListener ? findRoute(head) : nullptr;
  if (!route) {
    sink_->respondLocal(404, "no route for this request\n", false);
    return 0;
  }
  const uint32_t pool = choosePool(*route, head);
  set_ = view_->snap->pools[pool].get();
  policy_ = view_->policies[pool].get();
  selection_ = computeSelectionInputs(policy_->needs(), view_->snap->geo.get(), clientAddr_.sa(),
                                      &client_->peer.sa, head.fields, req_);

  http::ForwardContext fc{client_->ip, client_->tls, reqId_};
  fc.edits = &route->requestHeaders;
  respEdits_ = &route->responseHeaders;
  if (route->rewrite) {
    fc.rewrite = true;
    fc.stripPrefix = route->pathPrefix;
    fc.newPrefix = route->rewritePrefix;
  }
  size_t bound = http::upstreamRequestHeadBound(head, req_, fc);
  reqHead_ = w_->blocks().acquire(static_cast<uint32_t>(bound));
  http::HeadWriter hw(reqHead_->data(), reqHead_->capacity);
  http::writeUpstreamRequestHead(head, req_, fc, hw);
  if (hw.overflow()) {
    *reason = "Internal Server Error";
    return 500;
  }
  reqHeadLen_ = static_cast<uint32_t>(hw.size());
  upOut_ = w_->writes().acquire();
  upOut_->addRef(reqHead_, reqHead_->data(), reqHeadLen_);
  if (req_.expectContinue && requestHasBody_) sink_->sendContinue();
  startAttempt();
  return 0;
}

void UpstreamRequest::redirectHttps(uint16_t port) {
  if (req_.host.empty()) {
    sink_->respondLocal(400, "a Host header is needed to redirect to https", false);
    return;
  }
  std::string location = "https://";
  const bool v6 = req_.host.find(':') != std::string_view::npos && req_.host.front() != '[';
  if (v6) location += '[';
  location += req_.host;
  if (v6) location += ']';
  if (port != 443) location += ':' + std::to_string(port);
  location += req_.target.empty() ? std::string_view("/") : req_.target;
  sink_->respondLocal(308, "use https\n", false, location);
}

void UpstreamRequest::noteLocalAnswer(int status) {
  status_ = status;
  discard_ = true;
  respHeadSent_ = respComplete_ = true;
  if (upOut_) {
    w_->writes().release(upOut_);
    upOut_ = nullptr;
  }
}

bool UpstreamRequest::addBody(net::Block* block, const char* data, size_t n) {
  if (discard_) return true;
  bodyBytes_ += n;
  uint64_t max = config().limits.maxBodyBytes;
  if (max > 0 && bodyBytes_ > max) return false;
  if (!upOut_) upOut_ = w_->writes().acquire();
  if (upstreamChunked_) http::addChunkHeader(upOut_, n);
  upOut_->addRef(block, data, n);
  if (upstreamChunked_) upOut_->addStatic("\r\n", 2);
  return true;
}

void UpstreamRequest::endBody() {
  requestComplete_ = true;
  if (!discard_ && upstreamChunked_) {
    if (!upOut_) upOut_ = w_->writes().acquire();
    upOut_->addStatic(http::kLastChunk.data(), http::kLastChunk.size());
  }
}

void UpstreamRequest::flush() {
  if (!up_ || !upConnected_ || !upOut_ || upOut_->empty()) return;
  // A request body is coalesced: the backend gets it once the request is complete or a
  // sizeable batch is pending, so a body that arrives in several reads goes out, with the
  // head, in one writev (as nginx's request buffering does for small bodies, but streaming).
  if (requestHasBody_ && !requestComplete_ && upOut_->bytes < kFlushBytes && !tunnel_) return;
  net::WriteBatch* b = upOut_;
  upOut_ = nullptr;
  bool done = false;
  upSentAny_ = true;
  if (up_->write(b, &w_->writes(), &done) != 0) {
    upstreamFailed(Failure::kClosed, UV_EPIPE);
    return;
  }
  if (done) {
    armResponseDeadline();
  } else {
    ++upWrites_;
  }
}

bool UpstreamRequest::backpressured(bool clientReading) const {
  size_t pending = upOut_ ? upOut_->bytes : 0;
  if (up_ && upConnected_) pending += uv_stream_get_write_queue_size(up_->stream());
  return pending > (clientReading ? kHighWater : kLowWater);
}

void UpstreamRequest::startAttempt() {
  const uint32_t maxAttempts = 1 + set_->cfg.retries.attempts;
  upstream::Backend* b = nullptr;
  if (attempts_ < maxAttempts && triedCount_ < std::size(tried_)) {
    balancing::SelectionContext ctx;
    ctx.client = clientAddr_.sa();
    ctx.location = selection_.location.known() ? &selection_.location : nullptr;
    ctx.hashKey = selection_.hashKey;
    ctx.tried = tried_;
    ctx.triedCount = triedCount_;
    b = policy_->select(ctx);
  }
  if (!b) {
    // 503 when nothing in the pool was believed up: none chosen, or (in panic mode) every
    // backend tried is down or ejected. 502 when backends thought healthy all failed.
    bool allDown = true;
    for (uint32_t i = 0; i < triedCount_; ++i) allDown = allDown && !tried_[i]->available();
    if (triedCount_ == 0) {
      sink_->respondLocal(503, "no backend available in pool", false);
    } else if (allDown) {
      sink_->respondLocal(503, "service unavailable: every backend of the pool is down",
                          !requestComplete_);
    } else {
      sink_->respondLocal(502, "bad gateway: no backend could be reached", !requestComplete_);
    }
    return;
  }
  if (attempts_ > 0 && backend_ && !freshOnly_)
    backend_->stats().shard(w_->id()).add(metrics::kRetries);  // backend_ failed: moving on
  ++attempts_;
  tried_[triedCount_++] = b;
  backend_ = b;
  b->addInFlight(1);
  holdsInFlight_ = true;
  upSawBytes_ = upSentAny_ = false;
  if (!freshOnly_) {
    if (upstream::UpstreamConn* c =
            upstream::UpstreamConn::takeIdle(*b, w_->id(), this, set_->tls.get())) {
      useConnection(c, true);
      return;
    }
  }
  freshOnly_ = false;
  int err = 0;
  up_ = upstream::UpstreamConn::connect(w_->loop(), b->shared_from_this(), w_->id(), this, &err,
                                        set_->tls, &w_->blocks(), &w_->writes());
  upConnected_ = false;
  upReused_ = false;
  if (!up_) {
    upstreamFailed(Failure::kConnect, err);
    return;
  }
  setDeadline(uv_now(w_->loop()) + set_->cfg.timeouts.upstreamConnect.count());
}

void UpstreamRequest::useConnection(upstream::UpstreamConn* c, bool reused) {
  up_ = c;
  upConnected_ = true;
  upReused_ = reused;
  ++c->requests;
  upSentNs_ = uv_hrtime();
  if (reused) backend_->stats().shard(w_->id()).add(metrics::kUpReuses);
  if (up_->startReading() == 0) upReading_ = true;
  setDeadline(uv_now(w_->loop()) + set_->cfg.timeouts.upstreamResponse.count());
  flush();
}

void UpstreamRequest::onUpstreamConnect(int status) {
  if (status != 0) {
    upstreamFailed(Failure::kConnect, status);
    return;
  }
  upConnectNs_ = static_cast<int64_t>(uv_hrtime() - up_->connectStartNs);
  useConnection(up_, false);
  if (sink_ && !backpressured(false)) sink_->requestBodyDrained();
}

void UpstreamRequest::onUpstreamWriteDone(int status) {
  --upWrites_;
  if (status < 0) {
    if (status != UV_ECANCELED) upstreamFailed(Failure::kClosed, status);
    return;
  }
  armResponseDeadline();
  if (sink_ && !backpressured(false)) sink_->requestBodyDrained();
}

void UpstreamRequest::releaseUpstream(bool reusable) {
  if (holdsInFlight_) {
    backend_->addInFlight(-1);
    holdsInFlight_ = false;
  }
  upstream::UpstreamConn* c = up_;
  up_ = nullptr;
  upConnected_ = false;
  upReading_ = false;
  // Writes still pending on a connection given up here never report back (park() and close()
  // detach this request), so they no longer count: a kept count would mark every later
  // connection of this request as not reusable.
  upWrites_ = 0;
  if (c) {
    if (reusable && !c->closing() && !w_->draining() &&
        backend_->adminState() != upstream::AdminState::kDisabled) {
      c->park(uv_now(w_->loop()));
    } else {
      c->close();
    }
  }
  if (w_) {
    deadline_ = 0;
    w_->timers().cancel(&timer_);
  }
  respParser_.reset();
  upIn_.release();
  if (upOut_ && !discard_ && w_) {
    w_->writes().release(upOut_);
    upOut_ = nullptr;
  }
}

bool UpstreamRequest::idempotent() const {
  // RFC 9110 §9.2.2.
  switch (method_) {
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

bool UpstreamRequest::replayable(uint32_t condition) const {
  // Idempotent methods without a body: the whole request is the kept head, so it can be sent
  // again; a body has already been streamed away and cannot.
  if (!(set_->cfg.retries.on & condition) || requestHasBody_ || respHeadSent_) return false;
  if (attempts_ >= 1 + set_->cfg.retries.attempts) return false;
  return idempotent();
}

void UpstreamRequest::requeueHead() {
  if (upOut_) w_->writes().release(upOut_);
  upOut_ = w_->writes().acquire();
  upOut_->addRef(reqHead_, reqHead_->data(), reqHeadLen_);
}

void UpstreamRequest::retryElsewhere() {
  releaseUpstream(false);
  requeueHead();
  startAttempt();  // the failed backend is in tried_: another one is chosen
}

void UpstreamRequest::upstreamFailed(Failure kind, int err) {
  if (!sink_ || !backend_) return;
  if (tunnel_) {
    releaseUpstream(false);
    sink_->tunnelClosed();
    return;
  }
  const char* what = kind == Failure::kConnect   ? "connect failed"
                     : kind == Failure::kTimeout ? "timed out"
                     : kind == Failure::kInvalid ? "sent an invalid response"
                                                 : "closed the connection";
  // A kept-alive connection the backend closed just as we reused it, without a byte of answer:
  // most likely nothing was processed. Replayed only when the whole request is the kept head
  // and sending it twice is harmless: an idempotent method, or nothing of it written at all.
  const bool staleReuse = upReused_ && !upSawBytes_ && kind == Failure::kClosed &&
                          !requestHasBody_ && (idempotent() || !upSentAny_);
  if (kind == Failure::kConnect) backend_->stats().shard(w_->id()).add(metrics::kUpConnectFailures);
  LOG_WARN("upstream %s (%s) %s%s%s", backend_->name().c_str(), backend_->address().text.c_str(),
           what, err ? ": " : "", err ? uv_strerror(err) : "");
  if (!staleReuse) {
    health::reportFailure(*backend_, *set_,
                          kind == Failure::kConnect   ? health::Outcome::kConnectFailure
                          : kind == Failure::kTimeout ? health::Outcome::kTimeout
                          : kind == Failure::kInvalid ? health::Outcome::kInvalidResponse
                                                      : health::Outcome::kReset);
  }

  if (!respHeadSent_ && (kind == Failure::kConnect || staleReuse)) {
    // Nothing reached the backend's application: safe to try again. After a connect failure
    // the request bytes are all still queued in upOut_.
    if (staleReuse) {
      releaseUpstream(false);
      requeueHead();
      --triedCount_;  // not the backend's fault: it may be picked again, on a new connection
      --attempts_;
      freshOnly_ = true;
    } else {
      net::WriteBatch* pending = upOut_;
      upOut_ = nullptr;
      releaseUpstream(false);
      upOut_ = pending;
    }
    startAttempt();
    return;
  }
  if (!upSawBytes_ &&
      replayable(kind == Failure::kTimeout ? config::kRetry504 : config::kRetryReset)) {
    retryElsewhere();  // retries.on: reset / 504, idempotent request not yet answered
    return;
  }
  releaseUpstream(false);
  if (!respHeadSent_) {
    int status = kind == Failure::kTimeout ? 504 : 502;
    sink_->respondLocal(status,
                        status == 504 ? "gateway timeout: the backend did not answer in time"
                                      : "bad gateway: the backend failed",
                        !requestComplete_);
  } else {
    sink_->abortResponse();  // part of the response was sent: cutting it is the only signal
  }
}

void UpstreamRequest::armResponseDeadline() {
  if (tunnel_ || !set_) return;
  setDeadline(uv_now(w_->loop()) + set_->cfg.timeouts.upstreamResponse.count());
}

void UpstreamRequest::setDeadline(uint64_t ms) {
  // Deadlines usually move later: the armed entry stays, and a too-early firing re-arms.
  deadline_ = ms;
  if (ms == 0) return;  // a stale firing finds nothing due
  if (!timer_.scheduled() || ms < armedAt_) {
    armedAt_ = ms;
    w_->timers().schedule(&timer_, ms);
  }
}

void UpstreamRequest::onTimer(net::TimerWheel::Entry* e) {
  auto* r = static_cast<UpstreamRequest*>(e->data);
  if (!r->w_ || r->deadline_ == 0) return;
  uint64_t now = uv_now(r->w_->loop());
  if (now < r->deadline_) {
    r->armedAt_ = r->deadline_;
    r->w_->timers().schedule(&r->timer_, r->deadline_);
    return;
  }
  r->deadline_ = 0;
  if (r->up_)
    r->upstreamFailed(!r->upConnected_ ? Failure::kConnect : Failure::kTimeout, UV_ETIMEDOUT);
}

}  // namespace sy::proxy
