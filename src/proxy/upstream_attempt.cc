// UpstreamRequest: attempts (which backend, which connection), the upstream connection's
// events, and what a failed attempt leads to (a retry or the client's error answer). The
// request's lifecycle and body are in upstream_request.cc, the response side in
// upstream_response.cc.
#include "switchyard/proxy/upstream_request.h"

#include "switchyard/common/log.h"
#include "switchyard/health/outlier.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {

void UpstreamRequest::startAttempt() {
  const uint32_t maxAttempts = 1 + set_->cfg.retries.attempts;
  upstream::Backend* b = nullptr;
  if (attempts_ < maxAttempts && triedCount_ < std::size(tried_)) {
    if (admit(false, &b) == Admission::kWait) {
      waitForSlot();  // pools[].limits: queued, or refused with 503 at once
      return;
    }
  }
  launchAttempt(b);
}

void UpstreamRequest::launchAttempt(upstream::Backend* b) {
  if (!b) {
    // 503 when nothing in the pool was believed up: none chosen, or (in panic mode) every
    // backend tried is down or ejected. 502 when backends thought healthy all failed.
    bool allDown = true;
    for (uint32_t i = 0; i < triedCount_; ++i) allDown = allDown && !tried_[i]->available();
    if (triedCount_ == 0) {
      sink_->respondLocal(503, metrics::LocalReason::kNoBackend, "no backend available in pool",
                          false);
    } else if (allDown) {
      sink_->respondLocal(503, metrics::LocalReason::kNoBackend,
                          "service unavailable: every backend of the pool is down",
                          !requestComplete_);
    } else {
      sink_->respondLocal(502, lastFailure_, "bad gateway: no backend could be reached",
                          !requestComplete_);
    }
    return;
  }
  if (attempts_ > 0 && backend_ && !freshOnly_)
    backend_->stats().shard(w_->id()).add(metrics::kRetries);  // backend_ failed: moving on
  const config::Retries& retries = set_->cfg.retries;
  const uint64_t now = uv_now(w_->loop());
  if (attempts_ == 0 && retries.hedgeAfter.count() > 0 && idempotent())
    hedgeAt_ = now + static_cast<uint64_t>(retries.hedgeAfter.count());
  tryDeadline_ =
      retries.perTryTimeout.count() > 0 ? now + static_cast<uint64_t>(retries.perTryTimeout.count()) : 0;
  ++attempts_;
  tried_[triedCount_++] = b;
  backend_ = b;
  holdsInFlight_ = true;  // admit() counted it
  upSawBytes_ = upSentAny_ = false;
  if (set_->cfg.http2()) {
    launchH2(b);
    return;
  }
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
  up_->configVersion = set_->version;
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
    holdsInFlight_ = false;
    backendSlotFreed();
  }
  h2Release();
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
      c->park(uv_now(w_->loop()), set_->cfg.maxIdlePerBackend);
    } else {
      c->close();
    }
  }
  deadline_ = tryDeadline_ = 0;
  if (w_ && !requestDeadline_ && !retryAt_ && !hedgeAt_) w_->timers().cancel(&timer_);
  respParser_.reset();
  upIn_.release();
  if (upOut_ && !discard_ && w_) {
    w_->writes().release(upOut_);
    upOut_ = nullptr;
  }
}

void UpstreamRequest::upstreamFailed(Failure kind, int err) {
  if (!sink_ || !backend_) return;
  if (tunnel_) {
    releaseUpstream(false);
    sink_->tunnelClosed();
    return;
  }
  lastFailure_ = kind == Failure::kConnect   ? metrics::LocalReason::kConnectFailed
                 : kind == Failure::kTimeout ? metrics::LocalReason::kUpstreamTimeout
                 : kind == Failure::kInvalid ? metrics::LocalReason::kBadResponse
                                             : metrics::LocalReason::kUpstreamClosed;
  const char* what = kind == Failure::kConnect   ? "connect failed"
                     : kind == Failure::kTimeout ? "timed out"
                     : kind == Failure::kInvalid ? "sent an invalid response"
                                                 : "closed the connection";
  // A kept-alive connection the backend closed just as we reused it, without a byte of answer:
  // most likely nothing was processed. Replayed only when the whole request is kept (head and
  // body) and sending it twice is harmless: a retryable method, or nothing of it written.
  const bool staleReuse = upReused_ && !upSawBytes_ && kind == Failure::kClosed &&
                          bodyReplayable() && (methodRetryable() || !upSentAny_);
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

  // A hedge still waiting takes over from the failed attempt (it was sent to another
  // backend already); one still connecting is given up.
  if (hedge_.active() && !respHeadSent_ && promoteHedge()) return;
  dropHedge();
  if (!respHeadSent_ && (kind == Failure::kConnect || staleReuse)) {
    // Nothing reached the backend's application: safe to try again, free of the budget and
    // the backoff. After a connect failure the request bytes are all still queued in upOut_.
    if (staleReuse) {
      countRetry(0);  // keepalive_race
      releaseUpstream(false);
      requeueRequest();
      --triedCount_;  // not the backend's fault: it may be picked again, on a new connection
      --attempts_;
      freshOnly_ = true;
    } else {
      if (attempts_ < 1 + set_->cfg.retries.attempts) countRetry(config::kRetryConnectFailure);
      net::WriteBatch* pending = upOut_;
      upOut_ = nullptr;
      releaseUpstream(false);
      upOut_ = pending;
    }
    startAttempt();
    return;
  }
  // retries.on: timeout (or 504) / reset, a request that may be sent again, not yet answered.
  const uint32_t condition =
      kind != Failure::kTimeout                               ? config::kRetryReset
      : (set_->cfg.retries.on & config::kRetryTimeout) ? config::kRetryTimeout
                                                              : config::kRetry504;
  if (!upSawBytes_ && replayable(condition) && takeRetryBudget()) {
    retryLater(condition);
    return;
  }
  releaseUpstream(false);
  if (!respHeadSent_) {
    int status = kind == Failure::kTimeout ? 504 : 502;
    sink_->respondLocal(status, lastFailure_,
                        status == 504 ? "gateway timeout: the backend did not answer in time"
                                      : "bad gateway: the backend failed",
                        !requestComplete_);
  } else {
    sink_->abortResponse();  // part of the response was sent: cutting it is the only signal
  }
}

}  // namespace sy::proxy
