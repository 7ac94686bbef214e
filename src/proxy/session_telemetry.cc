// The session's observability: the request id, per-request metrics and the access log line.
// Worker thread only, like the rest of Session.

#include "switchyard/proxy/session.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

// Logged and counted (as 4xx) when the client went away before any answer (nginx's 499).
constexpr int kClientClosedRequest = 499;

}  // namespace

void Session::noteRequestHead() {
  // Holding a reference to the block keeps the head bytes, and every view into them (ex_->req_,
  // ex_->method_, ex_->target_, ex_->reqId_...), valid until the exchange is recorded.
  if (ex_->headRef_) net::BlockPool::unref(ex_->headRef_);
  ex_->headRef_ = in_.block;
  net::BlockPool::ref(ex_->headRef_);
  ex_->method_ = llhttp_method_name(static_cast<llhttp_method_t>(ex_->reqParser_.method()));
  ex_->target_ = ex_->reqParser_.url();
  ex_->reqId_ = http::findRequestId(ex_->reqParser_);
  if (ex_->reqId_.empty()) {
    http::generateRequestId(ex_->genId_);
    ex_->reqId_ = std::string_view(ex_->genId_, sizeof ex_->genId_);
  }
  ex_->userAgent_ = ex_->referer_ = {};
  metrics::WorkerLog* log = w_.accessLog();
  if (!log || !log->enabled()) return;
  for (const http::Header& h : ex_->reqParser_.headers()) {
    std::string_view n = ex_->reqParser_.view(h.name);
    if (n.size() == 10 && http::equalsIgnoreCase(n, "user-agent")) {
      ex_->userAgent_ = ex_->reqParser_.view(h.value);
    } else if (n.size() == 7 && http::equalsIgnoreCase(n, "referer")) {
      ex_->referer_ = ex_->reqParser_.view(h.value);
    }
  }
}

void Session::recordExchange() {
  if (!ex_ || !ex_->reqStartNs_) return;
  const uint64_t startNs = ex_->reqStartNs_;
  ex_->reqStartNs_ = 0;
  // Bytes that never became a request (the client left in the middle of a head) are not one.
  if (ex_->headRef_ || ex_->status_) {
    const int status = ex_->status_ ? ex_->status_ : kClientClosedRequest;
    const uint64_t durationNs = uv_hrtime() - startNs;
    const unsigned wid = w_.id();
    metrics::ShardRef shard = ex_->backend_                 ? ex_->backend_->stats().shard(wid)
                              : ex_->set_ && ex_->set_->stats    ? ex_->set_->stats->shard(wid)
                                                       : w_.stats();
    shard.countRequest(listener_.slot, status);
    shard.observe(metrics::kRequestDuration, durationNs);

    metrics::WorkerLog* log = w_.accessLog();
    if (log && log->enabled()) {
      metrics::AccessRecord r;
      r.startNs = startNs;
      r.durationNs = durationNs;
      r.client = clientIp_;
      r.listener = listener_.name;
      if (ex_->headRef_) {
        r.method = ex_->method_;
        r.target = ex_->target_;
        r.protocol = ex_->req_.http10 ? "HTTP/1.0" : "HTTP/1.1";
        r.host = ex_->req_.authority;
        r.userAgent = ex_->userAgent_;
        r.referer = ex_->referer_;
      }
      r.requestId = ex_->reqId_;
      if (ex_->set_) r.pool = ex_->set_->name;
      if (ex_->backend_) {
        r.backend = ex_->backend_->name();
        r.upstreamAddress = ex_->backend_->address().text;
      }
      r.status = status;
      r.bytesSent = ex_->respBytes_;
      r.requestBodyBytes = ex_->bodyBytes_;
      r.upstreamConnectNs = ex_->upConnectNs_;
      r.upstreamResponseNs = ex_->upResponseNs_;
      r.attempts = ex_->attempts_;
      log->append(r);
    }
  }
  if (ex_->headRef_) {
    net::BlockPool::unref(ex_->headRef_);
    ex_->headRef_ = nullptr;
  }
  ex_->method_ = ex_->target_ = ex_->userAgent_ = ex_->referer_ = ex_->reqId_ = {};
}

}  // namespace sy::proxy
