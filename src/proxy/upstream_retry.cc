// UpstreamRequest: whether and when a failed attempt is tried again (pools[].retries): the
// retry conditions, methods and kept body, the pool's retry budget, backoff and Retry-After,
// and the request's deadlines on the worker's timer wheel (per attempt, per try, whole
// request, backoff, hedge).
#include <algorithm>

#include "switchyard/common/log.h"
#include "switchyard/health/outlier.h"
#include "switchyard/http/chunked.h"
#include "switchyard/proxy/retry_policy.h"
#include "switchyard/proxy/upstream_request.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {

bool UpstreamRequest::idempotent() const {
  // RFC 9110 §9.2.2; a request with an Idempotency-Key (draft-ietf-httpapi-idempotency-key)
  // says that sending it twice is safe too.
  switch (method_) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
    case HTTP_PUT:
    case HTTP_DELETE:
      return true;
    default:
      return idempotencyKey_;
  }
}

bool UpstreamRequest::methodRetryable() const {
  return set_->cfg.retries.allMethods || idempotent();
}

bool UpstreamRequest::replayable(uint32_t condition) const {
  // The whole request must still be at hand (the kept head and, if any, the kept body), no
  // byte of an answer may have reached the client, and the method must allow it.
  if (!(set_->cfg.retries.on & condition) || respHeadSent_ || !bodyReplayable()) return false;
  if (attempts_ >= 1 + set_->cfg.retries.attempts) return false;
  if (triedCount_ >= set_->backends.size()) return false;  // no other backend to try
  // gRPC calls are all POSTs: an UNAVAILABLE trailers-only answer is retried whatever the
  // method (as gRPC's own retry policy does), the kept request permitting.
  return condition == config::kRetryUnavailable || methodRetryable();
}

metrics::ShardRef UpstreamRequest::poolShard() {
  return set_->stats ? set_->stats->shard(w_->id()) : w_->stats();
}

void UpstreamRequest::countRetry(uint32_t condition) {
  poolShard().add(retryReasonCell(condition));
}

bool UpstreamRequest::takeRetryBudget() {
  const std::optional<config::RetryBudget>& b = set_->cfg.retries.budget;
  if (!b || !set_->retryBudget) return true;
  if (set_->retryBudget->tryRetry(uv_now(w_->loop()), b->percent, b->minPerSecond)) return true;
  poolShard().add(metrics::kRetryBudgetExhausted);
  return false;
}

void UpstreamRequest::requeueRequest() {
  if (upOut_) w_->writes().release(upOut_);
  upOut_ = w_->writes().acquire();
  upOut_->addRef(reqHead_, reqHead_->data(), reqHeadLen_);
  if (requestHasBody_) kept_.appendTo(upOut_, upstreamChunked_);
  if (requestHasBody_ && requestComplete_ && upstreamChunked_)
    upOut_->addStatic(http::kLastChunk.data(), http::kLastChunk.size());
}

void UpstreamRequest::retryLater(uint32_t condition, int64_t retryAfterMs) {
  countRetry(condition);
  releaseUpstream(false);
  requeueRequest();
  const config::Retries& r = set_->cfg.retries;
  const uint64_t max = static_cast<uint64_t>(r.backoffMax.count());
  uint64_t delay = 0;
  ++backoffs_;
  if (retryAfterMs >= 0) {
    delay = std::min(static_cast<uint64_t>(retryAfterMs), max);
  } else {
    delay = backoffMs(backoffs_, static_cast<uint64_t>(r.backoffBase.count()), max, retryRandom());
  }
  if (delay == 0) {
    startAttempt();  // the failed backend is in tried_: another one is chosen
    return;
  }
  retryAt_ = uv_now(w_->loop()) + delay;
  rearm();
}

void UpstreamRequest::startPerRequestClocks() {
  const config::Config& cfg = config();
  // Counted from the request's first byte: the whole exchange up to the response head. The
  // client's grpc-timeout bounds it too (the smaller wins).
  uint64_t limit = static_cast<uint64_t>(std::max<int64_t>(cfg.timeouts.request.count(), 0));
  if (grpc_.hasTimeout && (limit == 0 || grpc_.timeoutMs < limit)) {
    limit = grpc_.timeoutMs;
    grpc_.clientDeadline = true;
  }
  if (limit > 0 || grpc_.clientDeadline) {
    const uint64_t elapsedMs = (uv_hrtime() - reqStartNs_) / 1'000'000;
    const uint64_t now = uv_now(w_->loop());
    // A deadline of `now` (0 left) is still armed: 0 would mean "none".
    requestDeadline_ = std::max<uint64_t>(now + (elapsedMs < limit ? limit - elapsedMs : 0), 1);
    rearm();
  }
  if (set_->retryBudget) set_->retryBudget->noteRequest(uv_now(w_->loop()));
}

void UpstreamRequest::requestTimedOut() {
  if (grpc_.clientDeadline) {
    LOG_DEBUG("gRPC call %.*s to pool %s: the client's grpc-timeout (%llu ms) ran out after %u "
              "attempt(s)",
              static_cast<int>(req_.target.size()), req_.target.data(), set_->name.c_str(),
              static_cast<unsigned long long>(grpc_.timeoutMs), attempts_);
  } else {
    LOG_WARN("request %.*s to pool %s: timeouts.request (%lld ms) ran out after %u attempt(s)",
             static_cast<int>(req_.target.size()), req_.target.data(), set_->name.c_str(),
             static_cast<long long>(config().timeouts.request.count()), attempts_);
  }
  dropHedge();
  leaveQueue(false);
  retryAt_ = hedgeAt_ = 0;
  // A deadline the client chose says nothing about the backend: no outlier report for it.
  if ((up_ || h2_) && backend_ && !grpc_.clientDeadline)
    health::reportFailure(*backend_, *set_, health::Outcome::kTimeout);
  releaseUpstream(false);
  sink_->respondLocal(504, metrics::LocalReason::kUpstreamTimeout,
                      grpc_.clientDeadline
                          ? "deadline exceeded: the call's grpc-timeout ran out"
                          : "gateway timeout: the request took longer than timeouts.request",
                      !requestComplete_);
}

void UpstreamRequest::armResponseDeadline() {
  if (tunnel_ || !set_) return;
  // Until the head, upstream_response; afterwards each read or write re-arms it, so it acts as
  // an idle limit. A gRPC stream whose response has started may rightly stay quiet for long
  // (server or bidirectional streaming): it ends only after tunnel_idle without a byte.
  const config::Duration d = grpc_.grpc && respHeadSent_ ? set_->cfg.timeouts.tunnelIdle
                                                        : set_->cfg.timeouts.upstreamResponse;
  setDeadline(uv_now(w_->loop()) + static_cast<uint64_t>(d.count()));
}

void UpstreamRequest::setDeadline(uint64_t ms) {
  deadline_ = ms;
  rearm();
}

void UpstreamRequest::rearm() {
  // Deadlines usually move later: the armed entry stays, and a too-early firing re-arms.
  if (!w_) return;
  uint64_t next = 0;
  for (uint64_t d : {deadline_, tryDeadline_, requestDeadline_, retryAt_, hedgeAt_})
    if (d && (!next || d < next)) next = d;
  if (!next) return;  // a stale firing finds nothing due
  if (!timer_.scheduled() || next < armedAt_) {
    armedAt_ = next;
    w_->timers().schedule(&timer_, next);
  }
}

void UpstreamRequest::onTimer(net::TimerWheel::Entry* e) {
  auto* r = static_cast<UpstreamRequest*>(e->data);
  if (!r->w_ || !r->sink_ || !r->set_) return;
  const uint64_t now = uv_now(r->w_->loop());
  if (r->requestDeadline_ && now >= r->requestDeadline_) {
    r->requestDeadline_ = 0;
    if (!r->respHeadSent_) {
      r->requestTimedOut();
      return;
    }
  }
  if (r->retryAt_ && now >= r->retryAt_) {
    r->retryAt_ = 0;
    r->startAttempt();
    return;
  }
  if (r->hedgeAt_ && now >= r->hedgeAt_) {
    r->hedgeAt_ = 0;
    r->startHedge();
  }
  if (r->rl_.waiting && r->deadline_ && now >= r->deadline_) {  // rate limits: redis.timeout
    r->deadline_ = 0;
    r->admissionTimedOut();
    return;
  }
  if (r->waiter_.queued && r->deadline_ && now >= r->deadline_) {  // pools[].limits
    r->leaveQueue(true);
    r->overflow("service unavailable: no slot freed in the pool within its pending_timeout");
    return;
  }
  if (r->faultDelaying_ && r->deadline_ && now >= r->deadline_) {  // routes[].fault.delay
    r->deadline_ = 0;
    r->faultDelaying_ = false;
    r->startAttempt();
    return;
  }
  const bool tryOver = r->tryDeadline_ && now >= r->tryDeadline_;
  if ((r->up_ || r->h2_) && ((r->deadline_ && now >= r->deadline_) || tryOver)) {
    r->deadline_ = r->tryDeadline_ = 0;
    if (tryOver && r->upConnected_)
      LOG_WARN("upstream %s (%s): no answer within retries.per_try_timeout",
               r->backend_->name().c_str(), r->backend_->address().text.c_str());
    r->upstreamFailed(!r->upConnected_ ? Failure::kConnect : Failure::kTimeout, UV_ETIMEDOUT);
    return;
  }
  r->rearm();
}

}  // namespace sy::proxy
