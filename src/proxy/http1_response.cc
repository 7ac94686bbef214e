// Http1Connection: the response side (RequestSink), writes to the client, the end of an
// exchange, linger close; the tunnel after a 101.
#include <algorithm>
#include <charconv>
#include <cstring>

#include "switchyard/common/log.h"
#include "switchyard/http/chunked.h"
#include "switchyard/proxy/http1_connection.h"
#include "switchyard/proxy/http2_connection.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

constexpr uint64_t kLingerMs = 2000;
// A request answered locally keeps its connection only if its body is small enough to skip.
constexpr uint64_t kMaxDiscardBody = 64 * 1024;
constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

// ---------------------------------------------------------------------------------------------
// RequestSink

void Http1Connection::sendContinue() {
  net::WriteBatch* b = w_.writes().acquire();
  b->addStatic(k100Continue.data(), k100Continue.size());
  writeClient(b);
}

void Http1Connection::sendInterim(const http::ResponseHead& resp) {
  // RFC 9110 §15.2: relayed to HTTP/1.1 clients, never to HTTP/1.0 ones. A 100 is the proxy's
  // own business (it answers Expect itself), so only the others pass.
  if (ex_->up.info().http10 || resp.status == 100) return;
  size_t bound = http::clientResponseHeadBound(resp);
  net::Block* b = w_.blocks().acquire(static_cast<uint32_t>(bound));
  http::HeadWriter hw(b->data(), b->capacity);
  http::writeInterimHead(resp, hw);
  if (!hw.overflow()) {
    if (!ex_->clientOut_) ex_->clientOut_ = w_.writes().acquire();
    ex_->clientOut_->addRef(b, b->data(), hw.size());
  }
  net::BlockPool::unref(b);
}

int Http1Connection::sendResponseHead(const http::ResponseHead& resp) {
  const http::RequestInfo& req = ex_->up.info();
  ex_->respBody_ = http::chooseResponseBody(resp, req.isHead, req.http10);
  if (ex_->respBody_ == http::ResponseBody::kUntilClose || w_.draining()) closeAfter_ = true;
  const config::HeaderRules* edits = ex_->up.responseEdits();
  const http::ExtraFields extra = ex_->up.responseFields();
  size_t bound = http::clientResponseHeadBound(resp, edits, extra);
  net::Block* b = w_.blocks().acquire(static_cast<uint32_t>(bound));
  http::HeadWriter hw(b->data(), b->capacity);
  http::writeClientResponseHead(resp, ex_->respBody_, closeAfter_, req.http10, hw,
                                ex_->up.requestId(), edits, extra);
  if (hw.overflow()) {
    net::BlockPool::unref(b);
    return -1;
  }
  if (!ex_->clientOut_) ex_->clientOut_ = w_.writes().acquire();
  ex_->clientOut_->addRef(b, b->data(), hw.size());
  net::BlockPool::unref(b);
  // No body follows for HEAD, 204 and 304 whatever Content-Length says (llhttp would wait).
  return ex_->respBody_ == http::ResponseBody::kNone ? 1 : 0;
}

void Http1Connection::sendResponseBody(net::Block* block, const char* data, size_t n) {
  if (ex_->respBody_ == http::ResponseBody::kNone) return;
  if (!ex_->clientOut_) ex_->clientOut_ = w_.writes().acquire();
  const bool chunked = ex_->respBody_ == http::ResponseBody::kChunked;
  if (chunked) http::addChunkHeader(ex_->clientOut_, n);
  ex_->clientOut_->addRef(block, data, n);
  if (chunked) ex_->clientOut_->addStatic("\r\n", 2);
}

void Http1Connection::sendResponseTrailers(const http::FieldsView& f) {
  if (ex_->respBody_ != http::ResponseBody::kChunked || !ex_->up.info().teTrailers) return;
  if (!ex_->clientOut_) ex_->clientOut_ = w_.writes().acquire();
  net::WriteBatch* out = ex_->clientOut_;
  out->addStatic("0\r\n", 3);  // the last chunk, then the trailer section (RFC 9112 §7.1.2)
  for (uint32_t i = 0; i < f.size(); ++i) {
    out->addCopy(f.name(i).data(), f.name(i).size());
    out->addStatic(": ", 2);
    out->addCopy(f.value(i).data(), f.value(i).size());
    out->addStatic("\r\n", 2);
  }
  out->addStatic("\r\n", 2);
  ex_->respBody_ = http::ResponseBody::kNone;  // framing done: sendResponseEnd adds nothing
}

void Http1Connection::sendResponseEnd() {
  if (ex_->respBody_ != http::ResponseBody::kChunked) return;
  if (!ex_->clientOut_) ex_->clientOut_ = w_.writes().acquire();
  ex_->clientOut_->addStatic(http::kLastChunk.data(), http::kLastChunk.size());
}

void Http1Connection::flushResponse() { flushClientOut(); }

bool Http1Connection::responseBackpressured() const { return clientBackpressured(); }

void Http1Connection::responseStalled() {
  // The client gets client_send to make progress.
  if (phase_ == Phase::kWaiting)
    setClientDeadline(uv_now(w_.loop()) + timeouts().clientSend.count());
}

void Http1Connection::responseDone() {
  UpstreamRequest& up = ex_->up;
  if (!up.requestComplete()) {
    // The backend answered before the request body was all here (nginx's `return`, an early
    // 413): its connection is given up. The rest of a short body is read and dropped so that
    // the client's connection stays open, as after a local answer (the answer went out
    // without `Connection: close`, and a client that sends its next request on it must not
    // find it closed); a long or chunked rest closes it.
    const http::RequestInfo& req = up.info();
    if (req.chunked || req.contentLength - up.bodyBytes() > kMaxDiscardBody) {
      closeAfter_ = true;
    } else {
      up.discardRestOfBody();
      if (phase_ == Phase::kBody && !clientReading_ && !clientPaused_) startClientReading();
    }
  }
  maybeFinishExchange();
}

void Http1Connection::requestBodyDrained() {
  if (phase_ == Phase::kTunnel) {
    if (!clientReading_ && !ex_->clientEof_ && !ex_->up.backpressured(false)) startClientReading();
    return;
  }
  if (!clientPaused_ && !clientReading_ && phase_ == Phase::kBody) startClientReading();
}

void Http1Connection::refuse(int status, const char* reason) {
  ex_->up.cancel();
  if (ex_->up.responseStarted()) {
    abort();
  } else {
    respondLocal(status, metrics::refusedReason(status), reason, true);
  }
}

void Http1Connection::respondLocal(int status, metrics::LocalReason reason, const char* body,
                                   bool close, std::string_view location) {
  if (phase_ == Phase::kClosed) return;
  UpstreamRequest& up = ex_->up;
  if (up.responseStarted()) {
    abort();
    return;
  }
  const http::RequestInfo& req = up.info();
  if (!up.requestComplete() && up.requestHasBody() &&
      (req.chunked || req.contentLength - up.bodyBytes() > kMaxDiscardBody))
    close = true;
  if (close) closeAfter_ = true;
  if (status >= 500)
    LOG_WARN("%s %.*s -> %d: %s", client_.ip, static_cast<int>(req.target.size()),
             req.target.data(), status, body);
  const bool grpcAnswer = up.begun() && up.grpc().grpc;
  up.noteLocalAnswer(grpcAnswer ? 200 : status,  // the status on the wire
                     grpcAnswer ? grpcStatusOf(status, reason) : -1);
  w_.stats().countLocal(listener_.slot, reason, status);
  std::string_view text(body);
  char buf[512];
  std::string_view bodyText = text;
  if (bodyText.empty() || bodyText.back() != '\n') {
    size_t n = std::min(text.size(), sizeof buf - 2);
    std::memcpy(buf, text.data(), n);
    buf[n] = '\n';
    bodyText = std::string_view(buf, n + 1);
  }
  net::Block* b = w_.blocks().acquire();
  size_t len = 0;
  if (grpcAnswer) {  // a gRPC client reads a status, not a text body
    char msg[256];
    const size_t m = encodeGrpcMessage(text, msg, sizeof msg);
    len = http::writeGrpcLocalResponse(grpcStatusOf(status, reason), std::string_view(msg, m),
                                       closeAfter_, b->data(), b->capacity, up.requestId(),
                                       up.retryAfter(), up.responseFields());
  } else {
    len = http::writeLocalResponse(status, bodyText, closeAfter_, req.isHead, b->data(),
                                   b->capacity, up.requestId(), location,
                                   up.begun() ? up.retryAfter() : 0,
                                   up.begun() ? up.responseFields() : http::ExtraFields{});
  }
  net::WriteBatch* wb = w_.writes().acquire();
  wb->addRef(b, b->data(), len);
  net::BlockPool::unref(b);
  writeClient(wb);
  maybeFinishExchange();
}

// ---------------------------------------------------------------------------------------------
// Writes to the client

void Http1Connection::writeClient(net::WriteBatch* batch) {
  if (phase_ == Phase::kClosed || batch->empty()) {
    w_.writes().release(batch);
    return;
  }
  if (ex_ && ex_->up.begun()) ex_->up.addResponseBytes(batch->bytes);
  w_.stats().addListener(listener_.slot, metrics::kBytesOut, batch->bytes);
  batch = transport_.seal(batch);  // plain: the same batch
  if (!batch) {
    LOG_DEBUG("client %s: TLS write failed: %s", client_.ip, transport_.error().c_str());
    abort();
    return;
  }
  sendClient(batch);
}

bool Http1Connection::flushClientOut() {
  net::WriteBatch* b = ex_ ? ex_->clientOut_ : nullptr;
  if (!b) return false;
  ex_->clientOut_ = nullptr;
  writeClient(b);
  return true;
}

void Http1Connection::sendClient(net::WriteBatch* batch) {
  if (phase_ == Phase::kClosed || batch->empty()) {
    w_.writes().release(batch);
    return;
  }
  batch->owner = this;
  bool done = false;
  int rc = tcp_.write(batch,
                           [](uv_write_t* req, int status) {
                             auto* b = static_cast<net::WriteBatch*>(req->data);
                             auto* s = static_cast<Http1Connection*>(b->owner);
                             s->w_.writes().release(b);
                             s->onClientWriteDone(status);
                           },
                           &done);
  if (rc <= 0) w_.writes().release(batch);
  if (rc < 0) {
    abort();
    return;
  }
  if (!done) ++clientWrites_;
}

size_t Http1Connection::clientWriteQueue() const {
  return tcp_.writeQueueSize();
}

void Http1Connection::onClientWriteDone(int status) {
  --clientWrites_;
  if (phase_ == Phase::kClosed) return;
  if (status < 0) {
    abort();
    return;
  }
  if (phase_ == Phase::kLingering) {
    if (clientWrites_ == 0) lingerClose();
    return;
  }
  if (phase_ == Phase::kHttp2) {
    if (!clientBackpressured()) h2_->onWritable();
    return;
  }
  if (ex_ && ex_->up.hasUpstream() && !ex_->up.upstreamReading() && !ex_->up.responseComplete()) {
    if (!clientBackpressured()) {
      ex_->up.resumeResponse();
      if (phase_ == Phase::kWaiting) setClientDeadline(0);
    } else if (phase_ == Phase::kWaiting) {
      setClientDeadline(uv_now(w_.loop()) + timeouts().clientSend.count());  // progress
    }
  }
}

bool Http1Connection::clientBackpressured() const {
  return clientWriteQueue() > (ex_ && ex_->up.upstreamReading() ? kHighWater : kLowWater);
}

// ---------------------------------------------------------------------------------------------
// End of an exchange

void Http1Connection::maybeFinishExchange() {
  if (phase_ == Phase::kClosed || phase_ == Phase::kLingering) return;
  if (!ex_->up.responseComplete()) return;
  if (!ex_->up.requestComplete() && !closeAfter_) return;  // still skipping a local answer's body
  finishExchange();
}

void Http1Connection::finishExchange() {
  UpstreamRequest& up = ex_->up;
  up.record(up.info().http10 ? "HTTP/1.0" : "HTTP/1.1");
  up.cancel();
  if (closeAfter_ || !up.requestComplete() || w_.draining() || listener_.closed) {
    closeAfterWrites();
    return;
  }
  if (clientPaused_) {
    ex_->reqParser_.resume();
    clientPaused_ = false;
  }
  beginRequest();
  pumpAgain_ = true;
  pump();
  if (phase_ == Phase::kIdle || phase_ == Phase::kHead) startClientReading();
}

void Http1Connection::closeAfterWrites() {
  phase_ = Phase::kLingering;
  if (ex_) ex_->up.cancel();
  setClientDeadline(uv_now(w_.loop()) + kLingerMs);
  if (clientWrites_ == 0) lingerClose();
}

void Http1Connection::lingerClose() {
  // Half-close, then discard what the client still sends until it closes too (or a short
  // timeout), so an unread request body does not turn our answer into a reset.
  if (transport_.closeNotify()) {
    // close_notify first; onClientWriteDone comes back here once it is sent.
    flushClientTls();
    if (clientWrites_ > 0 || phase_ == Phase::kClosed) return;
  }
  // The request lives in an Exchange (borrowed now if the connection was idle), which is given
  // back only when the connection is freed, after the socket has closed.
  uv_shutdown_t* req = &ensureExchange().shutdownReq_;
  req->data = this;
  if (tcp_.shutdown(req,
                  [](uv_shutdown_t* req, int status) {
                    auto* s = static_cast<Http1Connection*>(req->data);
                    if (status < 0) s->abort();
                  }) != 0) {
    abort();
    return;
  }
  in_.parsed = in_.end;
  startClientReading();
  setClientDeadline(uv_now(w_.loop()) + kLingerMs);
}

// ---------------------------------------------------------------------------------------------
// Tunnel (an upgraded connection: WebSocket)

void Http1Connection::tunnelOpened() {
  phase_ = Phase::kTunnel;
  clientPaused_ = false;  // the request parser is done with this connection
  w_.stats().addListener(listener_.slot, metrics::kUpgrades);
  tunnelData();  // the 101 head and any bytes the backend sent right after it
  if (phase_ != Phase::kTunnel) return;
  tunnelToUpstream();  // bytes the client sent after its request
  if (phase_ == Phase::kTunnel && ex_->clientEof_) ex_->up.tunnelShutdown();
}

void Http1Connection::armTunnelDeadline() {
  setClientDeadline(uv_now(w_.loop()) + ex_->up.poolTimeouts().tunnelIdle.count());
}

void Http1Connection::tunnelToUpstream() {
  if (uint32_t n = in_.unparsed(); n > 0 && ex_->up.hasUpstream()) {
    ex_->up.tunnelSend(in_.block, in_.at(in_.parsed), n);
    in_.parsed = in_.end;
    armTunnelDeadline();
    if (phase_ != Phase::kTunnel) return;
  }
  in_.releaseIfEmpty(nullptr);
  if (ex_->up.backpressured(clientReading_)) {
    stopClientReading();
  } else if (!ex_->clientEof_) {
    startClientReading();
  }
}

void Http1Connection::tunnelData() {
  Exchange& x = *ex_;
  InputBuffer& upIn = x.up.upstreamInput();
  if (uint32_t n = upIn.unparsed(); n > 0) {
    if (!x.clientOut_) x.clientOut_ = w_.writes().acquire();
    x.clientOut_->addRef(upIn.block, upIn.at(upIn.parsed), n);
    upIn.parsed = upIn.end;
  }
  if (flushClientOut()) {
    if (phase_ != Phase::kTunnel) return;
    armTunnelDeadline();
  }
  upIn.releaseIfEmpty(nullptr);
  if (x.up.upstreamReading() && clientBackpressured()) x.up.pauseUpstreamReading();
}

void Http1Connection::tunnelClosed() {
  // The backend closed (or failed): the client gets what was already relayed, then a close.
  closeAfter_ = true;
  closeAfterWrites();
}

}  // namespace sy::proxy
