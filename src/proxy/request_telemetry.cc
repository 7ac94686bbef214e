// UpstreamRequest's observability: the request id, per-request metrics and the access log line.
#include "switchyard/proxy/grpc.h"
#include "switchyard/proxy/upstream_request.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

// Logged and counted (as 4xx) when the client went away before any answer (nginx's 499).
constexpr int kClientClosedRequest = 499;

}  // namespace

void UpstreamRequest::noteRequestHead(const http::RequestHead& head, net::Block* headBlock) {
  // Holding a reference to the block keeps the head bytes, and every view into them (req_,
  // methodName_, target_, reqId_...), valid until the request is recorded.
  if (headRef_) net::BlockPool::unref(headRef_);
  headRef_ = headBlock;
  if (headRef_) net::BlockPool::ref(headRef_);
  headSeen_ = true;
  methodName_ = head.methodName;
  target_ = head.target;
  reqId_ = http::findRequestId(head.fields);
  if (reqId_.empty()) {
    http::generateRequestId(genId_);
    reqId_ = std::string_view(genId_, sizeof genId_);
  }
  userAgent_ = referer_ = {};
  metrics::WorkerLog* log = w_->accessLog();
  if (!log || !log->enabled()) return;
  const http::FieldsView& f = head.fields;
  for (uint32_t i = 0; i < f.size(); ++i) {
    std::string_view n = f.name(i);
    if (n.size() == 10 && http::equalsIgnoreCase(n, "user-agent")) {
      userAgent_ = f.value(i);
    } else if (n.size() == 7 && http::equalsIgnoreCase(n, "referer")) {
      referer_ = f.value(i);
    }
  }
}

void UpstreamRequest::record(std::string_view protocol) {
  if (!w_ || !reqStartNs_) return;
  const uint64_t startNs = reqStartNs_;
  reqStartNs_ = 0;
  // Bytes that never became a request (the client left in the middle of a head) are not one.
  if (headSeen_ || status_) {
    const int status = status_ ? status_ : kClientClosedRequest;
    const uint64_t durationNs = uv_hrtime() - startNs;
    const unsigned wid = w_->id();
    metrics::ShardRef shard = backend_                 ? backend_->stats().shard(wid)
                              : set_ && set_->stats    ? set_->stats->shard(wid)
                                                       : w_->stats();
    shard.countRequest(listener_->slot, status);
    shard.observe(metrics::kRequestDuration, durationNs);
    // gRPC: the status the client ended the call with (null in the log when it got none).
    int grpcStatus = -1;
    if (grpc_.grpc && grpcFromBackend_ && backend_) {
      grpcStatus = grpcResponseStatus(grpcStatus_, status_);
      shard.add(static_cast<metrics::Counter>(metrics::kGrpcStatusFirst + grpcStatus));
    } else if (grpc_.grpc) {
      grpcStatus = grpcStatus_;  // the proxy's own answer (-1: the client left first)
    }

    metrics::WorkerLog* log = w_->accessLog();
    if (log && log->enabled()) {
      metrics::AccessRecord r;
      r.startNs = startNs;
      r.durationNs = durationNs;
      r.client = clientAddr_.text;
      r.listener = listener_->name;
      if (headSeen_) {
        r.method = methodName_;
        r.target = target_;
        r.protocol = protocol;
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
      r.fault = faultName();
      r.grpcStatus = grpcStatus;
      log->append(r);
    }
  }
  if (headRef_) {
    net::BlockPool::unref(headRef_);
    headRef_ = nullptr;
  }
  headSeen_ = false;
  methodName_ = target_ = userAgent_ = referer_ = reqId_ = {};
}

}  // namespace sy::proxy
