// UpstreamRequest: the request's lifecycle, routing and body (attempts and failures are in
// upstream_attempt.cc, the response side in upstream_response.cc, telemetry in
// request_telemetry.cc).
#include "switchyard/proxy/upstream_request.h"

#include "switchyard/http/chunked.h"
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
  waiter_.turn = onQueueTurn;
  waiter_.owner = this;
}

UpstreamRequest::~UpstreamRequest() { end(); }

void UpstreamRequest::begin(server::Worker& w, server::WorkerListener& l, const ClientInfo& client,
                            RequestSink* sink) {
  w_ = &w;
  listener_ = &l;
  client_ = &client;
  sink_ = sink;
  reqTrailers_.clear();
  reqTrailerLens_.clear();
  clientAddr_.set(&client.peer.sa, client.ip);
  view_ = w.view();
  listenerIndex_ = l.routeIndex;  // read with view_: both change together when a reload lands
  respParser_.reset();
  set_ = nullptr;
  respEdits_ = nullptr;
  policy_ = nullptr;
  req_ = http::RequestInfo{};
  grpc_.reset();
  rl_.reset();
  method_ = 0;
  bodyBytes_ = 0;
  requestHasBody_ = upstreamChunked_ = requestComplete_ = discard_ = false;
  respHeadSent_ = respComplete_ = tunnel_ = false;
  triedCount_ = attempts_ = upWrites_ = 0;
  h2Refusals_ = 0;
  freshOnly_ = false;
  retryStatus_ = 0;
  retryAfterMs_ = -1;
  backoffs_ = 0;
  idempotencyKey_ = false;
  lastFailure_ = metrics::LocalReason::kConnectFailed;
  retryAfter_ = 0;
  fault_ = Fault::kNone;
  faultDelaying_ = false;
  faultStatus_ = 0;
  faultDelayMs_ = 0;
  backend_ = nullptr;
  deadline_ = tryDeadline_ = requestDeadline_ = retryAt_ = hedgeAt_ = 0;
  reqStartNs_ = uv_hrtime();
  headSeen_ = false;
  status_ = 0;
  grpcStatus_ = -1;
  grpcFromBackend_ = false;
  respBytes_ = 0;
  upConnectNs_ = upResponseNs_ = -1;
}

void UpstreamRequest::end() {
  if (!w_) return;
  dropHedge();
  leaveQueue(false);
  cancelAdmission();
  releaseUpstream(false);
  releasePoolSlot();
  retryAt_ = hedgeAt_ = requestDeadline_ = 0;
  w_->timers().cancel(&timer_);
  kept_.release();
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
  grpc_.note(head.fields);
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
    sink_->respondLocal(404, metrics::LocalReason::kNoRoute, "no route for this request\n",
                        false);
    return 0;
  }
  const uint32_t pool = choosePool(*route, head);
  set_ = view_->snap->pools[pool].get();
  if (set_->cfg.http2()) {
    upstreamChunked_ = false;  // HTTP/2 frames the body itself
    // A WebSocket is relayed to HTTP/1.1 backends only: an HTTP/2 backend would answer the
    // GET with a 200 that an RFC 8441 client takes for an open tunnel.
    if (!req_.upgrade.empty() || !req_.websocketKey.empty()) {
      sink_->respondLocal(501, metrics::LocalReason::kBadRequest,
                          "WebSocket is relayed to HTTP/1.1 pools only (this pool's protocol is "
                          "HTTP/2)\n",
                          false);
      return 0;
    }
  }
  policy_ = view_->policies[pool].get();
  const config::Retries& retries = set_->cfg.retries;
  if (!idempotent() && retries.attempts > 0) {
    for (uint32_t i = 0; i < head.fields.size() && !idempotencyKey_; ++i)
      idempotencyKey_ = http::equalsIgnoreCase(head.fields.name(i), "idempotency-key");
  }
  // HTTP/2 backends may refuse a stream unprocessed (REFUSED_STREAM, GOAWAY): the body is kept
  // to send it again even without retries.
  if (requestHasBody_ && (retries.attempts > 0 || set_->cfg.http2()) &&
      !(req_.hasContentLength && req_.contentLength > retries.maxBodyBytes))
    kept_.start(&w_->blocks(), retries.maxBodyBytes);
  startPerRequestClocks();
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
  if (route->fault) decideFault(head, *route);
  if (!route->rateLimits.empty() && !admit(*route, head)) return 0;
  proceed();
  return 0;
}

void UpstreamRequest::proceed() {
  if (req_.expectContinue && requestHasBody_) sink_->sendContinue();
  if (applyFault()) return;
  startAttempt();
}

void UpstreamRequest::noteLocalAnswer(int status, int grpcStatus) {
  releasePoolSlot();
  dropHedge();
  retryAt_ = hedgeAt_ = requestDeadline_ = 0;
  cancelAdmission();
  status_ = status;
  grpcStatus_ = static_cast<int8_t>(grpcStatus);
  grpcFromBackend_ = false;
  discard_ = true;
  respHeadSent_ = respComplete_ = true;
  if (upOut_) {
    w_->writes().release(upOut_);
    upOut_ = nullptr;
  }
}

void UpstreamRequest::discardRestOfBody() {
  discard_ = true;
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
  kept_.add(block, data, n);
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
  if (h2_) {
    h2Flush();
    return;
  }
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
  if (up_ && upConnected_) pending += up_->sock.writeQueueSize();
  return pending > (clientReading ? kHighWater : kLowWater);
}

}  // namespace sy::proxy
