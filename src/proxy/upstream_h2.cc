// UpstreamRequest over an HTTP/2 backend (pools[].protocol h2, h2c): one stream of an
// upstream::H2Session. The request head is the serialized HTTP/1.1 one (kept for retries),
// turned into HTTP/2 fields in place; the body is pulled from upOut_ as the backend's flow
// control allows; the response is acknowledged only as the client takes it.
#include <cstring>

#include "switchyard/common/log.h"
#include "switchyard/health/outlier.h"
#include "switchyard/proxy/grpc.h"
#include "switchyard/proxy/retry_policy.h"
#include "switchyard/proxy/upstream_request.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

// Free retries of streams the backend refused (REFUSED_STREAM, above a GOAWAY's last id).
constexpr uint8_t kMaxRefusals = 3;

nghttp2_nv nv(std::string_view n, std::string_view v) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// Fields HTTP/2 forbids (RFC 9113 §8.2.2) or that become pseudo-header fields.
bool dropped(std::string_view n, std::string_view v) {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" ||
         n == "transfer-encoding" || n == "upgrade" || n == "host" || n == "http2-settings" ||
         (n == "te" && !http::equalsIgnoreCase(v, "trailers"));
}

}  // namespace

bool UpstreamRequest::h2Fields(std::vector<nghttp2_nv>& nva) {
  // "METHOD SP target SP HTTP/1.1 CRLF" then "name: value CRLF"... (writeUpstreamRequestHead).
  char* p = reqHead_->data();
  char* const end = p + reqHeadLen_;
  char* sp1 = static_cast<char*>(std::memchr(p, ' ', static_cast<size_t>(end - p)));
  if (!sp1) return false;
  char* sp2 = static_cast<char*>(std::memchr(sp1 + 1, ' ', static_cast<size_t>(end - sp1 - 1)));
  char* eol = sp2 ? static_cast<char*>(std::memchr(sp2, '\n', static_cast<size_t>(end - sp2))) : nullptr;
  if (!eol) return false;
  nva.clear();
  nva.resize(4);
  std::string_view authority;
  for (char* line = eol + 1; line < end;) {
    char* nl = static_cast<char*>(std::memchr(line, '\n', static_cast<size_t>(end - line)));
    if (!nl) return false;
    char* lineEnd = nl > line && nl[-1] == '\r' ? nl - 1 : nl;
    if (lineEnd == line) break;  // the empty line
    char* colon = static_cast<char*>(std::memchr(line, ':', static_cast<size_t>(lineEnd - line)));
    if (!colon) return false;
    for (char* c = line; c < colon; ++c) *c = common::toLowerAscii(*c);  // HTTP/2 names are lowercase
    char* v = colon + 1;
    while (v < lineEnd && (*v == ' ' || *v == '\t')) ++v;
    std::string_view name(line, static_cast<size_t>(colon - line));
    std::string_view value(v, static_cast<size_t>(lineEnd - v));
    if (name == "host" && authority.empty()) authority = value;
    if (!dropped(name, value)) nva.push_back(nv(name, value));
    line = nl + 1;
  }
  if (req_.teTrailers) nva.push_back(nv("te", "trailers"));  // gRPC backends require it
  nva[0] = nv(":method", {p, static_cast<size_t>(sp1 - p)});
  nva[1] = nv(":scheme", set_->cfg.protocol == config::UpstreamProtocol::kH2 ? "https" : "http");
  nva[2] = nv(":path", {sp1 + 1, static_cast<size_t>(sp2 - sp1 - 1)});
  if (authority.empty()) {
    nva.erase(nva.begin() + 3);
  } else {
    nva[3] = nv(":authority", authority);
  }
  return true;
}

void UpstreamRequest::launchH2(upstream::Backend* b) {
  static thread_local std::vector<nghttp2_nv> nva;
  if (!h2Fields(nva)) {  // before a session is picked: a fresh one would be left unused
    upstreamFailed(Failure::kInvalid, 0);
    return;
  }
  upstream::H2Session::Options o;
  o.maxStreams = set_->cfg.http2MaxConcurrentStreams;
  o.tls = set_->cfg.protocol == config::UpstreamProtocol::kH2;
  o.tlsCtx = set_->tls;
  int err = 0;
  upstream::H2Session* s =
      upstream::H2Session::acquire(w_->loop(), *b, w_->id(), o, &w_->blocks(), &w_->writes(), &err);
  if (!s) {
    upstreamFailed(Failure::kConnect, err);
    return;
  }
  // The head goes as HEADERS: only the body stays in upOut_.
  if (upOut_ && upOut_->pendingCount() > 0 && upOut_->pendingBufs()[0].base == reqHead_->data()) {
    upOut_->advance(reqHeadLen_);
    upOut_->bytes -= reqHeadLen_;
  }
  const int32_t id = s->submit(this, nva.data(), nva.size(), requestHasBody_);
  if (id < 0) {
    LOG_WARN("upstream %s (%s): cannot open an HTTP/2 stream: %s", b->name().c_str(),
             b->address().text.c_str(), nghttp2_strerror(id));
    upstreamFailed(Failure::kConnect, UV_EPROTO);
    return;
  }
  h2_ = s;
  h2Stream_ = id;
  upReused_ = s->connected();
  if (s->connected()) {
    h2Connected();
  } else {
    setDeadline(uv_now(w_->loop()) + set_->cfg.timeouts.upstreamConnect.count());
  }
}

void UpstreamRequest::h2Connected() {
  upConnected_ = true;
  upReading_ = true;
  upSentNs_ = uv_hrtime();
  if (upReused_) backend_->stats().shard(w_->id()).add(metrics::kUpReuses);
  setDeadline(uv_now(w_->loop()) + set_->cfg.timeouts.upstreamResponse.count());
  upSentAny_ = true;  // the HEADERS frame goes now
  flush();
}

void UpstreamRequest::h2ConnectFailed(int status) {
  h2_ = nullptr;
  h2Stream_ = 0;
  upstreamFailed(Failure::kConnect, status);
}

void UpstreamRequest::h2Head(const http::ResponseHead& h) {
  upSawBytes_ = true;
  armResponseDeadline();
  int failStatus = 0;
  const char* failReason = nullptr;
  const int rc = acceptResponseHead(h, &failStatus, &failReason);
  if (!sink_) return;
  if (rc < 0) {
    if (retryStatus_) {
      LOG_WARN("upstream %s (%s) answered %d%s: retrying %.*s on another backend",
               backend_->name().c_str(), backend_->address().text.c_str(), retryStatus_,
               retryCondition_ == config::kRetryUnavailable ? " grpc-status 14" : "",
               static_cast<int>(req_.target.size()), req_.target.data());
      const uint32_t condition = retryCondition_;
      retryStatus_ = 0;
      lastFailure_ = metrics::LocalReason::kBadResponse;
      retryLater(condition, retryAfterMs_);
      return;
    }
    LOG_WARN("upstream %s (%s): %s", backend_->name().c_str(), backend_->address().text.c_str(),
             failReason);
    upstreamFailed(Failure::kInvalid, 0);
    return;
  }
  if (rc == 1) h2NoBody_ = true;  // HEAD, 204, 304: whatever DATA follows is dropped
  sink_->flushResponse();
}

void UpstreamRequest::h2Data(net::Block* block, const char* data, size_t n) {
  if (!sink_ || h2NoBody_ || !respHeadSent_) {
    if (h2_) h2_->consume(h2Stream_, n);
    return;
  }
  armResponseDeadline();
  sink_->sendResponseBody(block, data, n);
  h2Unacked_ += n;
  sink_->flushResponse();
  if (!sink_ || !h2_) return;
  if (!sink_->responseBackpressured()) {
    h2_->consume(h2Stream_, h2Unacked_);
    h2Unacked_ = 0;
  } else if (upReading_) {
    // The client reads slower than the backend sends: its window is not reopened until then.
    upReading_ = false;
    sink_->responseStalled();
  }
}

void UpstreamRequest::h2Trailers(const http::FieldsView& f) {
  if (grpc_.grpc && respHeadSent_) {
    if (const int g = grpcStatusOfFields(f); g >= 0) grpcStatus_ = static_cast<int8_t>(g);
  }
  if (sink_ && respHeadSent_ && !h2NoBody_) sink_->sendResponseTrailers(f);
}

void UpstreamRequest::h2End() {
  if (!respHeadSent_ || !sink_) return;
  respComplete_ = true;
  sink_->sendResponseEnd();
  sink_->flushResponse();
  if (!sink_) return;
  releaseUpstream(true);
  releasePoolSlot();
  sink_->responseDone();
}

void UpstreamRequest::h2Reset(uint32_t errorCode, bool refused) {
  h2_ = nullptr;
  h2Stream_ = 0;
  if (!sink_ || !backend_ || respComplete_) return;
  if (refused && !respHeadSent_ && h2Refusals_ < kMaxRefusals && bodyReplayable()) {
    // Not processed by the backend (RFC 9113 §8.7): sent again, free of the budget.
    ++h2Refusals_;
    LOG_INFO("upstream %s (%s) refused a stream: sending %.*s again", backend_->name().c_str(),
             backend_->address().text.c_str(), static_cast<int>(req_.target.size()),
             req_.target.data());
    countRetry(config::kRetryConnectFailure);
    releaseUpstream(false);
    requeueRequest();
    --triedCount_;  // not the backend's fault: it may be picked again
    --attempts_;
    startAttempt();
    return;
  }
  LOG_DEBUG("upstream stream reset: %s", nghttp2_http2_strerror(errorCode));
  upstreamFailed(Failure::kClosed, UV_ECONNRESET);
}

ssize_t UpstreamRequest::h2ReadBody(uint8_t* buf, size_t len, uint32_t* flags) {
  size_t copied = 0;
  while (upOut_ && copied < len && upOut_->pendingCount() > 0) {
    uv_buf_t& b = upOut_->pendingBufs()[0];
    const size_t k = std::min(len - copied, static_cast<size_t>(b.len));
    std::memcpy(buf + copied, b.base, k);
    copied += k;
    upOut_->advance(k);
    upOut_->bytes -= k;
  }
  if (upOut_ && upOut_->pendingCount() == 0) {
    w_->writes().release(upOut_);
    upOut_ = nullptr;
  }
  if (!upOut_ && requestComplete_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!reqTrailerLens_.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;  // the trailers' HEADERS ends the stream
      static thread_local std::vector<nghttp2_nv> nva;
      nva.clear();
      size_t off = 0;
      for (size_t i = 0; i + 1 < reqTrailerLens_.size(); i += 2) {
        nva.push_back(nv({reqTrailers_.data() + off, reqTrailerLens_[i]},
                         {reqTrailers_.data() + off + reqTrailerLens_[i], reqTrailerLens_[i + 1]}));
        off += reqTrailerLens_[i] + reqTrailerLens_[i + 1];
      }
      h2_->submitTrailers(h2Stream_, nva.data(), nva.size());
    }
  } else if (copied == 0) {
    h2Deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (copied > 0 && sink_ && !backpressured(false)) sink_->requestBodyDrained();
  return static_cast<ssize_t>(copied);
}

void UpstreamRequest::addTrailer(std::string_view name, std::string_view value) {
  constexpr size_t kMaxTrailerBytes = 16 * 1024;
  if (discard_ || !set_ || !set_->cfg.http2() || name.empty() || name[0] == ':') return;
  if (reqTrailers_.size() + name.size() + value.size() > kMaxTrailerBytes) return;
  reqTrailers_.append(name);  // HTTP/2 names arrive lowercase (nghttp2 checks)
  reqTrailers_.append(value);
  reqTrailerLens_.push_back(static_cast<uint32_t>(name.size()));
  reqTrailerLens_.push_back(static_cast<uint32_t>(value.size()));
}

void UpstreamRequest::h2Flush() {
  if (!upConnected_) return;
  if (h2Deferred_) {
    h2Deferred_ = false;
    h2_->resume(h2Stream_);
  } else {
    h2_->send();
  }
}

void UpstreamRequest::h2Resume() {
  upReading_ = true;
  if (h2Unacked_ > 0) {
    const uint64_t n = h2Unacked_;
    h2Unacked_ = 0;
    h2_->consume(h2Stream_, n);
  }
}

void UpstreamRequest::h2Release() {
  upstream::H2Session* s = h2_;
  h2_ = nullptr;
  const int32_t id = h2Stream_;
  h2Stream_ = 0;
  const uint64_t unacked = h2Unacked_;
  h2Unacked_ = 0;
  h2Deferred_ = h2NoBody_ = false;
  if (s) s->detach(id, unacked);
}

}  // namespace sy::proxy
