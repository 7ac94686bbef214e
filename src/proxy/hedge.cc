// Hedged requests (pools[].retries.hedge): the second attempt itself, and how an UpstreamRequest
// starts one, adopts it when it answers first, or cancels it.
#include "switchyard/proxy/hedge.h"

#include "switchyard/common/log.h"
#include "switchyard/health/outlier.h"
#include "switchyard/http/chunked.h"
#include "switchyard/proxy/upstream_request.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

constexpr uint32_t kMaxResponseHead = 64 * 1024;

}  // namespace

Hedge::Hedge() {
  timer_.fire = onTimer;
  timer_.data = this;
}

bool Hedge::start(UpstreamRequest* owner, upstream::Backend* backend, net::WriteBatch* request,
                  uint64_t deadlineMs) {
  server::Worker& w = *owner->w_;
  owner_ = owner;
  backend_ = backend;
  out_ = request;
  deadline_ = deadlineMs;
  writes_ = 0;
  connectNs_ = -1;
  backend->addInFlight(1);
  if (upstream::UpstreamConn* c =
          upstream::UpstreamConn::takeIdle(*backend, w.id(), this, owner->set_->tls.get())) {
    conn_ = c;
    connected_ = reused_ = true;
    ++c->requests;
    backend->stats().shard(w.id()).add(metrics::kUpReuses);
    send();
  } else {
    int err = 0;
    connected_ = reused_ = false;
    conn_ = upstream::UpstreamConn::connect(w.loop(), backend->shared_from_this(), w.id(), this,
                                            &err, owner->set_->tls, &w.blocks(), &w.writes());
    if (!conn_) {
      backend->stats().shard(w.id()).add(metrics::kUpConnectFailures);
      health::reportFailure(*backend, *owner->set_, health::Outcome::kConnectFailure);
      cancel();
      return false;
    }
    conn_->configVersion = owner->set_->version;
  }
  if (!conn_) return false;  // the write failed at once (cancelled)
  w.timers().schedule(&timer_, deadline_);
  return true;
}

void Hedge::send() {
  server::Worker& w = *owner_->w_;
  sentNs_ = uv_hrtime();
  conn_->startReading();
  net::WriteBatch* b = out_;
  out_ = nullptr;
  bool done = false;
  if (conn_->write(b, &w.writes(), &done) != 0) {
    cancel();
    return;
  }
  if (!done) ++writes_;
}

void Hedge::cancel() {
  if (!owner_) return;
  server::Worker& w = *owner_->w_;
  w.timers().cancel(&timer_);
  if (conn_) {
    conn_->close();  // detaches this hedge: no further callbacks
    conn_ = nullptr;
  }
  if (backend_) backend_->addInFlight(-1);
  backend_ = nullptr;
  if (out_) {
    w.writes().release(out_);
    out_ = nullptr;
  }
  in_.release();
  owner_ = nullptr;
}

Hedge::Handover Hedge::handOver(InputBuffer& in) {
  Handover h{conn_, backend_, writes_, reused_, sentNs_, connectNs_, deadline_};
  in.release();
  in.block = in_.block;
  in.parsed = in_.parsed;
  in.end = in_.end;
  in_.block = nullptr;
  in_.parsed = in_.end = 0;
  owner_->w_->timers().cancel(&timer_);
  conn_ = nullptr;
  backend_ = nullptr;
  owner_ = nullptr;
  return h;
}

void Hedge::failed(int err, bool connect) {
  UpstreamRequest* owner = owner_;
  server::Worker& w = *owner->w_;
  if (connect) backend_->stats().shard(w.id()).add(metrics::kUpConnectFailures);
  LOG_WARN("upstream %s (%s) hedged attempt %s%s%s", backend_->name().c_str(),
           backend_->address().text.c_str(), connect ? "connect failed" : "failed",
           err ? ": " : "", err ? uv_strerror(err) : "");
  health::reportFailure(*backend_, *owner->set_,
                        connect                  ? health::Outcome::kConnectFailure
                        : err == UV_ETIMEDOUT    ? health::Outcome::kTimeout
                                                 : health::Outcome::kReset);
  owner->dropHedge();
}

void Hedge::onUpstreamConnect(int status) {
  if (!owner_) return;
  if (status != 0) {
    failed(status, true);
    return;
  }
  connectNs_ = static_cast<int64_t>(uv_hrtime() - conn_->connectStartNs);
  connected_ = true;
  ++conn_->requests;
  send();  // a failed write cancels the hedge
}

void Hedge::onUpstreamAlloc(size_t, uv_buf_t* buf) {
  *buf = in_.prepare(owner_->w_->blocks(), nullptr, kMaxResponseHead);
}

void Hedge::onUpstreamRead(ssize_t n, const uv_buf_t*) {
  if (n == 0 || !owner_) return;
  if (n < 0) {
    failed(static_cast<int>(n), false);
    return;
  }
  in_.end += static_cast<uint32_t>(n);
  owner_->hedgeAnswered();  // the first byte of an answer: the hedge wins
}

void Hedge::onUpstreamWriteDone(int status) {
  --writes_;
  if (status < 0 && status != UV_ECANCELED && owner_) failed(status, false);
}

void Hedge::onTimer(net::TimerWheel::Entry* e) {
  auto* h = static_cast<Hedge*>(e->data);
  if (!h->owner_) return;
  const uint64_t now = uv_now(h->owner_->w_->loop());
  if (now < h->deadline_) {
    h->owner_->w_->timers().schedule(&h->timer_, h->deadline_);
    return;
  }
  h->failed(UV_ETIMEDOUT, !h->connected_);
}

// ---------------------------------------------------------------------------------------------
// The UpstreamRequest's side.

bool UpstreamRequest::canHedge() const {
  // The whole request must be at hand to send it twice, and sending it twice must be harmless.
  return !set_->cfg.http2() && idempotent() && requestComplete_ && bodyReplayable() && req_.upgrade.empty() &&
         !tunnel_ && !respHeadSent_;
}

void UpstreamRequest::startHedge() {
  if (!up_ || upSawBytes_ || hedge_.active() || !canHedge()) return;
  // Pools with limits (pools[].limits, backends[].max_requests) are not hedged: a hedge would
  // hold a second backend slot outside the accounting that queues requests for them.
  if (set_->limited) return;
  const config::Retries& retries = set_->cfg.retries;
  if (attempts_ >= 1 + retries.attempts || triedCount_ >= std::size(tried_)) return;
  balancing::SelectionContext ctx;
  ctx.client = clientAddr_.sa();
  ctx.location = selection_.location.known() ? &selection_.location : nullptr;
  ctx.hashKey = selection_.hashKey;
  ctx.tried = tried_;
  ctx.triedCount = triedCount_;
  upstream::Backend* b = policy_->select(ctx);
  if (!b || !takeRetryBudget()) return;
  ++attempts_;
  tried_[triedCount_++] = b;
  net::WriteBatch* request = w_->writes().acquire();
  request->addRef(reqHead_, reqHead_->data(), reqHeadLen_);
  if (requestHasBody_) {
    kept_.appendTo(request, upstreamChunked_);
    if (upstreamChunked_) request->addStatic(http::kLastChunk.data(), http::kLastChunk.size());
  }
  const uint64_t wait = retries.perTryTimeout.count() > 0
                            ? static_cast<uint64_t>(retries.perTryTimeout.count())
                            : static_cast<uint64_t>(set_->cfg.timeouts.upstreamConnect.count() +
                                                    set_->cfg.timeouts.upstreamResponse.count());
  poolShard().add(metrics::kHedgeFirst);  // sent
  LOG_DEBUG("request %.*s: no answer from %s after %lld ms, hedging on %s",
            static_cast<int>(req_.target.size()), req_.target.data(), backend_->name().c_str(),
            static_cast<long long>(retries.hedgeAfter.count()), b->name().c_str());
  if (!hedge_.start(this, b, request, uv_now(w_->loop()) + wait)) hedgeLost();
}

void UpstreamRequest::hedgeLost() {
  poolShard().add(static_cast<metrics::Counter>(metrics::kHedgeFirst + 2));
}

void UpstreamRequest::dropHedge() {
  if (!hedge_.active()) return;
  hedge_.cancel();
  hedgeLost();
}

void UpstreamRequest::adoptHedge() {
  poolShard().add(static_cast<metrics::Counter>(metrics::kHedgeFirst + 1));  // won
  releaseUpstream(false);  // the first attempt: closed, not reusable
  Hedge::Handover h = hedge_.handOver(upIn_);
  up_ = h.conn;
  up_->user = this;
  backend_ = h.backend;
  holdsInFlight_ = true;  // the hedge's count on its backend is ours now
  upConnected_ = true;
  upReused_ = h.reused;
  upSentAny_ = true;
  upSawBytes_ = upIn_.end > upIn_.parsed;
  upWrites_ = h.writes;
  upReading_ = up_->reading;
  upSentNs_ = h.sentNs;
  upConnectNs_ = h.connectNs;
  if (upOut_) {
    w_->writes().release(upOut_);
    upOut_ = nullptr;
  }
  tryDeadline_ = h.deadlineMs;
  armResponseDeadline();
}

void UpstreamRequest::hedgeAnswered() {
  adoptHedge();
  processUpstreamInput();
}

bool UpstreamRequest::promoteHedge() {
  // The first attempt failed while the hedge, sent in full, waits for its answer.
  if (!hedge_.connectedAndSent()) return false;
  adoptHedge();
  return true;
}

}  // namespace sy::proxy
