// UpstreamRequest: reading the backend's answer and handing it to the sink; the upstream half
// of a tunnel.
#include "switchyard/common/log.h"
#include "switchyard/health/outlier.h"
#include "switchyard/proxy/grpc.h"
#include "switchyard/proxy/retry_policy.h"
#include "switchyard/proxy/upstream_request.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

constexpr uint32_t kMaxResponseHead = 64 * 1024;

}  // namespace

void UpstreamRequest::onUpstreamAlloc(size_t, uv_buf_t* buf) {
  *buf = upIn_.prepare(w_->blocks(), &respParser_, kMaxResponseHead);
}

bool UpstreamRequest::onUpstreamAdopt(net::Block* b) { return upIn_.adopt(b, &respParser_); }

void UpstreamRequest::onUpstreamRead(ssize_t n, const uv_buf_t*) {
  if (n == 0) return;
  if (n > 0) {
    upIn_.end += static_cast<uint32_t>(n);
    if (!upSawBytes_ && hedge_.active()) dropHedge();  // this attempt answered first
    upSawBytes_ = true;
    armResponseDeadline();
    processUpstreamInput();
    return;
  }
  if (tunnel_) {
    releaseUpstream(false);
    sink_->tunnelClosed();
    return;
  }
  if (n == UV_EOF && respParser_.inMessage() && respParser_.needsEof()) {
    // Read-until-close body: EOF completes it.
    if (respParser_.finish() == HPE_OK || respComplete_) {
      sink_->flushResponse();
      if (!sink_ || !up_) return;
      onResponseComplete();
      return;
    }
  }
  upstreamFailed(Failure::kClosed, static_cast<int>(n));  // EOF or a read error
}

void UpstreamRequest::processUpstreamInput() {
  if (tunnel_) {
    sink_->tunnelData();
    return;
  }
  while (upIn_.block && upIn_.unparsed() > 0 && !respComplete_) {
    http::Parser::Result r = respParser_.execute(upIn_.at(upIn_.parsed), upIn_.unparsed());
    upIn_.parsed += static_cast<uint32_t>(r.consumed);
    if (!sink_) return;  // the client side went away during a callback
    if (r.err == HPE_OK || r.err == HPE_PAUSED) break;
    if (r.err == HPE_PAUSED_UPGRADE && tunnel_) {
      setDeadline(0);
      sink_->tunnelOpened();  // what follows the 101 head is the new protocol's
      return;
    }
    if (retryStatus_) {
      LOG_WARN("upstream %s (%s) answered %d: retrying %.*s on another backend",
               backend_->name().c_str(), backend_->address().text.c_str(), retryStatus_,
               static_cast<int>(req_.target.size()), req_.target.data());
      const uint32_t condition = retryCondition_;
      retryStatus_ = 0;
      lastFailure_ = metrics::LocalReason::kBadResponse;  // its 5xx was dropped for the retry
      retryLater(condition, retryAfterMs_);
      return;
    }
    LOG_WARN("upstream %s (%s): invalid response: %s", backend_->name().c_str(),
             backend_->address().text.c_str(),
             respParser_.failReason() ? respParser_.failReason() : respParser_.errorReason());
    upstreamFailed(Failure::kInvalid, 0);
    return;
  }
  sink_->flushResponse();
  if (!sink_ || !up_) return;
  if (respComplete_) {
    onResponseComplete();
    return;
  }
  if (upReading_ && sink_->responseBackpressured()) {
    // The client reads slower than the backend sends: hold the backend.
    up_->stopReading();
    upReading_ = false;
    sink_->responseStalled();
  }
  upIn_.releaseIfEmpty(&respParser_);
}

void UpstreamRequest::resumeResponse() {
  if (h2_) {
    h2Resume();
    return;
  }
  if (up_ && upConnected_ && !upReading_ && !respComplete_) {
    if (up_->startReading() == 0) upReading_ = true;
  }
}

void UpstreamRequest::pauseUpstreamReading() {
  if (up_ && upReading_) {
    up_->stopReading();
    upReading_ = false;
  }
}

int UpstreamRequest::onHeadersComplete(http::Parser& p) {
  // The header arrays go back to the worker's pool as soon as the head is handled.
  struct Release {
    http::Parser& p;
    ~Release() { p.releaseHeaders(); }
  } release{p};
  if (p.statusCode() == 101) {
    // Only an upgrade the client asked for (and we passed on) may be accepted.
    if (req_.upgrade.empty() || !p.upgrade() || http::upgradeHeader(p).empty()) {
      p.fail(502, "unexpected 101 Switching Protocols");
      return -1;
    }
  }
  int failStatus = 0;
  const char* failReason = nullptr;
  const int rc = acceptResponseHead(http::ResponseHead(p), &failStatus, &failReason);
  if (rc < 0) p.fail(failStatus, failReason);
  return rc;
}

int UpstreamRequest::acceptResponseHead(const http::ResponseHead& h, int* failStatus,
                                        const char** failReason) {
  const int status = h.status;
  if (status >= 100 && status < 200 && status != 101) {
    sink_->sendInterim(h);  // 103 Early Hints, 102...: relayed where the client can take them
    return 0;
  }
  if (status >= 500) {
    health::reportFailure(*backend_, *set_, health::Outcome::kServerError);
  } else {
    health::reportSuccess(*backend_);
  }
  // gRPC: grpc-status 14 in a trailers-only answer (HTTP/2 only: the head ends the stream).
  const int grpcStatus = grpc_.grpc && status == 200 ? grpcStatusOfFields(h.fields) : -1;
  const uint32_t cond = grpcStatus == kGrpcUnavailable && h.endStream
                            ? config::kRetryUnavailable
                            : retryConditionOfStatus(status);
  if (cond && replayable(cond)) {
    retryAfterMs_ = -1;
    if (status == 429 || status == 503) {
      const http::FieldsView& f = h.fields;
      for (uint32_t i = 0; i < f.size(); ++i) {
        if (!http::equalsIgnoreCase(f.name(i), "retry-after")) continue;
        if (auto ms = parseRetryAfterMs(f.value(i), static_cast<int64_t>(time(nullptr))))
          retryAfterMs_ = static_cast<int64_t>(*ms);
      }
    }
    if (takeRetryBudget()) {
      retryStatus_ = status;  // the caller retries once its codec has returned
      retryCondition_ = cond;
      *failStatus = status;
      *failReason = "retrying on another backend";
      return -1;
    }
  }
  status_ = status;
  tryDeadline_ = requestDeadline_ = hedgeAt_ = 0;  // answered: only upstream_response is left
  upResponseNs_ = static_cast<int64_t>(uv_hrtime() - upSentNs_);
  backend_->stats().shard(w_->id()).observe(metrics::kUpstreamResponse,
                                            static_cast<uint64_t>(upResponseNs_));
  int rc = sink_->sendResponseHead(h);
  if (rc < 0) {
    *failStatus = 502;
    *failReason = sink_->headRefusal();
    return -1;
  }
  respHeadSent_ = true;
  if (grpc_.grpc) {
    grpcStatus_ = static_cast<int8_t>(grpcStatus);  // trailers-only; the trailers may follow
    grpcFromBackend_ = true;
    armResponseDeadline();
  }  // from now on tunnel_idle (upstream_retry.cc)
  tunnel_ = status == 101;  // llhttp stops right after this head (HPE_PAUSED_UPGRADE)
  return rc;
}

int UpstreamRequest::onBody(http::Parser&, const char* data, size_t n) {
  sink_->sendResponseBody(upIn_.block, data, n);
  return 0;
}

int UpstreamRequest::onMessageComplete(http::Parser& p) {
  int status = p.statusCode();
  if (status >= 100 && status < 200) return 0;  // interim answer: the real one follows
  respComplete_ = true;
  sink_->sendResponseEnd();
  return HPE_PAUSED;
}

void UpstreamRequest::onResponseComplete() {
  const bool reusable = respParser_.keepAlive() && requestComplete_ && upWrites_ == 0 &&
                        (!upOut_ || upOut_->empty()) && upIn_.unparsed() == 0 &&
                        !respParser_.needsEof();
  releaseUpstream(reusable);
  releasePoolSlot();
  sink_->responseDone();
}

// ---------------------------------------------------------------------------------------------
// Tunnel: raw bytes both ways after a 101.

void UpstreamRequest::tunnelSend(net::Block* block, const char* data, size_t n) {
  if (!up_) return;
  if (!upOut_) upOut_ = w_->writes().acquire();
  upOut_->addRef(block, data, n);
  bodyBytes_ += n;
  flush();
}

void UpstreamRequest::tunnelShutdown() {
  if (up_) up_->shutdownWrite();
}

}  // namespace sy::proxy
