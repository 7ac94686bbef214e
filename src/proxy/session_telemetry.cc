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
  // Holding a reference to the block keeps the head bytes, and every view into them (req_,
  // method_, target_, reqId_...), valid until the exchange is recorded.
  if (headRef_) net::BlockPool::unref(headRef_);
  headRef_ = in_.block;
  net::BlockPool::ref(headRef_);
  method_ = llhttp_method_name(static_cast<llhttp_method_t>(reqParser_.method()));
  target_ = reqParser_.url();
  reqId_ = http::findRequestId(reqParser_);
  if (reqId_.empty()) {
    http::generateRequestId(genId_);
    reqId_ = std::string_view(genId_, sizeof genId_);
  }
  userAgent_ = referer_ = {};
  metrics::WorkerLog* log = w_.accessLog();
  if (!log || !log->enabled()) return;
  for (const http::Header& h : reqParser_.headers()) {
    std::string_view n = reqParser_.view(h.name);
    if (n.size() == 10 && http::equalsIgnoreCase(n, "user-agent")) {
      userAgent_ = reqParser_.view(h.value);
    } else if (n.size() == 7 && http::equalsIgnoreCase(n, "referer")) {
      referer_ = reqParser_.view(h.value);
    }
  }
}

void Session::recordExchange() {
  if (!reqStartNs_) return;
  const uint64_t startNs = reqStartNs_;
  reqStartNs_ = 0;
  // Bytes that never became a request (the client left in the middle of a head) are not one.
  if (headRef_ || status_) {
    const int status = status_ ? status_ : kClientClosedRequest;
    const uint64_t durationNs = uv_hrtime() - startNs;
    const unsigned wid = w_.id();
    metrics::ShardRef shard = backend_                 ? backend_->stats().shard(wid)
                              : set_ && set_->stats    ? set_->stats->shard(wid)
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
      if (headRef_) {
        r.method = method_;
        r.target = target_;
        r.protocol = req_.http10 ? "HTTP/1.0" : "HTTP/1.1";
        r.host = req_.authority;
        r.userAgent = userAgent_;
        r.referer = referer_;
      }
      r.requestId = reqId_;
      if (set_) r.pool = set_->name;
      if (backend_) {
        r.backend = backend_->name();
        r.upstreamAddress = backend_->address().text;
      }
      r.status = status;
      r.bytesSent = respBytes_;
      r.requestBodyBytes = bodyBytes_;
      r.upstreamConnectNs = upConnectNs_;
      r.upstreamResponseNs = upResponseNs_;
      r.attempts = attempts_;
      log->append(r);
    }
  }
  if (headRef_) {
    net::BlockPool::unref(headRef_);
    headRef_ = nullptr;
  }
  method_ = target_ = userAgent_ = referer_ = reqId_ = {};
}

}  // namespace sy::proxy
