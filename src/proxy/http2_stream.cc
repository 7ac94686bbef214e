// Http2Stream: one request over HTTP/2 and its response (the RequestSink of its
// UpstreamRequest).
#include "http2_stream.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "switchyard/common/log.h"
#include "switchyard/http/date.h"
#include "switchyard/proxy/http1_connection.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

// Fields whose values differ from one response to the next (a request id) or are secrets
// (cookies) are sent as "never indexed" literals: in HPACK's dynamic table they would only evict
// the entries worth keeping (server, content-type, date), and every new one lengthens the
// encoder's search (measured: x-request-id entries made nghttp2 compare ~100 strings per
// response).
bool neverIndexed(std::string_view lowerName) {
  return lowerName == "x-request-id" || lowerName == "set-cookie";
}

nghttp2_nv nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          static_cast<uint8_t>(neverIndexed(name) ? NGHTTP2_NV_FLAG_NO_INDEX
                                                  : NGHTTP2_NV_FLAG_NONE)};
}

// Copies n bytes from src to dst with ASCII uppercase letters lowered, eight at a time (a
// response head's names come mostly capitalised from HTTP/1.1 backends).
void copyLower(char* dst, const char* src, size_t n) {
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    // Per byte below 0x80 (no carry crosses bytes): +0x3f sets bit 7 from 'A' up, +0x25 from
    // past 'Z' up; the difference marks 'A'..'Z', whose 0x20 bit is then set.
    const uint64_t low7 = w & ~kHigh;
    const uint64_t upper = (low7 + 0x3f3f3f3f3f3f3f3full) & ~(low7 + 0x2525252525252525ull) & ~w & kHigh;
    w |= upper >> 2;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) dst[i] = common::toLowerAscii(src[i]);
}

ssize_t readCallback(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                     nghttp2_data_source* source, void*) {
  return static_cast<Http2Stream*>(source->ptr)->readBody(buf, length, flags);
}

}  // namespace

HeadScratch& headScratch() {
  thread_local HeadScratch s;
  return s;
}

void buildNva(HeadScratch& s, const char* status) {
  size_t bytes = 0;
  for (const http::Field& f : s.fields) bytes += f.name.size();
  s.lower.resize(bytes);  // no reallocation while the views below are taken
  s.nva.clear();
  s.nva.push_back(nv(":status", std::string_view(status, 3)));
  size_t off = 0;
  for (const http::Field& f : s.fields) {
    char* p = s.lower.data() + off;
    copyLower(p, f.name.data(), f.name.size());
    s.nva.push_back(nv(std::string_view(p, f.name.size()), f.value));
    off += f.name.size();
  }
}

Http2Stream::Http2Stream(http::HeaderPool* headers) : up_(headers) {
  wsIdle_.fire = wsIdleFired;
  wsIdle_.data = this;
}

void Http2Stream::open(int32_t id) {
  id_ = id;
  store_.clear();
  offsets_.clear();
  fields_.clear();
  std::fill(std::begin(pseudo_), std::end(pseudo_), 0u);
  started_ = trailers_ = localBody_ = false;
  localText_.clear();
  trailerStore_.clear();
  trailerLens_.clear();
  localSent_ = 0;
  clearChunks();
  bodyEnded_ = bodyEnded_in_ = deferred_ = responded_ = false;
  unconsumed_ = 0;
  headBytes_ = 0;
  ws_ = Ws::kNone;
  wsClientEnded_ = false;
  headRefusal_ = "response head too large";  // a tunnel's refusal may have replaced it
  prev = next = nullptr;
}

Http2Stream::~Http2Stream() { clearChunks(); }

bool Http2Stream::addField(std::string_view name, std::string_view value, uint64_t limit) {
  // RFC 9113 §6.5.2's measure: name + value + 32 per field.
  headBytes_ += name.size() + value.size() + 32;
  if (headBytes_ > limit) return false;
  const uint32_t off = static_cast<uint32_t>(store_.size());
  store_.append(name);
  store_.append(value);
  if (!name.empty() && name[0] == ':') {
    int slot = name == ":method" ? 0 : name == ":scheme" ? 1 : name == ":authority" ? 2 : name == ":path" ? 3 : name == ":protocol" ? 4 : -1;
    if (slot >= 0) {
      pseudo_[2 * slot] = off + static_cast<uint32_t>(name.size());
      pseudo_[2 * slot + 1] = static_cast<uint32_t>(value.size());
    }
    return true;
  }
  offsets_.insert(offsets_.end(), {off, static_cast<uint32_t>(name.size()),
                                   off + static_cast<uint32_t>(name.size()),
                                   static_cast<uint32_t>(value.size())});
  return true;
}

void Http2Stream::headComplete(bool endStream) {
  started_ = true;
  Http1Connection& t = c_->transport();
  // Cookies split into several fields (RFC 9113 §8.2.3) are joined for the HTTP/1.1 backend.
  size_t cookies = 0, cookieBytes = 0;
  for (size_t i = 0; i < offsets_.size(); i += 4)
    if (std::string_view(store_.data() + offsets_[i], offsets_[i + 1]) == "cookie") {
      ++cookies;
      cookieBytes += offsets_[i + 3] + 2;
    }
  uint32_t joinedOff = 0, joinedLen = 0;
  if (cookies > 1) {
    joinedOff = static_cast<uint32_t>(store_.size());
    store_.reserve(store_.size() + cookieBytes);
    for (size_t i = 0; i < offsets_.size(); i += 4) {
      if (std::string_view(store_.data() + offsets_[i], offsets_[i + 1]) != "cookie") continue;
      if (store_.size() > joinedOff) store_.append("; ");
      store_.append(store_.data() + offsets_[i + 2], offsets_[i + 3]);
    }
    joinedLen = static_cast<uint32_t>(store_.size()) - joinedOff;
  }
  // store_ no longer changes: views into it stay valid for the stream's life.
  auto view = [&](uint32_t off, uint32_t len) { return std::string_view(store_.data() + off, len); };
  bool cookieDone = false;
  fields_.clear();
  http::RequestHead head;
  for (size_t i = 0; i < offsets_.size(); i += 4) {
    std::string_view n = view(offsets_[i], offsets_[i + 1]);
    std::string_view v = view(offsets_[i + 2], offsets_[i + 3]);
    if (cookies > 1 && n == "cookie") {
      if (cookieDone) continue;
      cookieDone = true;
      v = view(joinedOff, joinedLen);
    }
    if (n == "content-length") {
      uint64_t len = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), len);
      if (ec == std::errc() && p == v.data() + v.size()) {
        head.hasContentLength = true;
        head.contentLength = len;
      }
    }
    fields_.push_back({n, v});
  }
  head.methodName = view(pseudo_[0], pseudo_[1]);
  head.scheme = view(pseudo_[2], pseudo_[3]);
  head.authority = view(pseudo_[4], pseudo_[5]);
  head.target = view(pseudo_[6], pseudo_[7]);
  head.versionMajor = 2;
  head.versionMinor = 0;
  head.fields = http::FieldsView(fields_.data(), static_cast<uint32_t>(fields_.size()));
  head.bodyFollows = !endStream;
  bodyEnded_in_ = endStream;
  const bool ws = pseudo_[9] && wsPrepare(head);
  up_.begin(t.worker(), t.listener(), t.client(), this);
  const char* reason = nullptr;
  int status = 0;
  if (!http::methodFromName(head.methodName, head.method)) {
    reason = "unknown method";
    status = 501;
  } else {
    status = up_.start(head, nullptr, &reason);
  }
  if (status != 0) {
    LOG_DEBUG("client %s: refused HTTP/2 request (%d): %s", t.client().ip, status, reason);
    respondLocal(status, metrics::refusedReason(status), reason, true);
  }
  if (endStream || ws) up_.endBody();
  up_.flush();
}

void Http2Stream::body(net::Block* block, const char* data, size_t n) {
  if (ws_ != Ws::kNone) {
    wsClientData(block, data, n);
    return;
  }
  if (!up_.begun()) {
    c_->consume(id_, n);
    return;
  }
  if (!up_.addBody(block, data, n)) {
    c_->consume(id_, n);
    respondLocal(413, metrics::LocalReason::kPayloadTooLarge, "Content Too Large", true);
    return;
  }
  if (up_.responseComplete()) {  // answered locally: the body is dropped
    c_->consume(id_, n);
    return;
  }
  up_.flush();
  // The client's window comes back only as fast as the backend takes the body.
  if (up_.backpressured(true)) {
    unconsumed_ += n;
  } else {
    c_->consume(id_, n);
  }
}

void Http2Stream::bodyEnd() {
  if (bodyEnded_in_) return;
  bodyEnded_in_ = true;
  if (ws_ != Ws::kNone) {
    wsClientEnd();
    return;
  }
  c_->bodyDone();
  if (!up_.begun()) return;
  up_.endBody();
  up_.flush();
}

void Http2Stream::requestBodyDrained() {
  if (unconsumed_) {
    c_->consume(id_, unconsumed_);
    unconsumed_ = 0;
    c_->scheduleFlush();
  }
}

void Http2Stream::closed(uint32_t) {
  const bool ws = ws_ != Ws::kNone;  // its body was never counted as pending (wsPrepare)
  if (ws) wsClosed();
  if (up_.begun()) {
    up_.record("HTTP/2.0");
    up_.end();
  }
  clearChunks();
  c_->streamClosed(this, !started_, started_ && !bodyEnded_in_ && !ws);  // may recycle or free this
}

// ---------------------------------------------------------------------------------------------
// Response

void Http2Stream::submit(const std::vector<nghttp2_nv>& nva, bool withBody) {
  responded_ = true;
  nghttp2_data_provider prd;
  prd.source.ptr = this;
  prd.read_callback = readCallback;
  int rc = nghttp2_submit_response(c_->session(), id_, nva.data(), nva.size(),
                                   withBody ? &prd : nullptr);
  if (rc != 0) {
    LOG_DEBUG("HTTP/2 stream %d: cannot submit response: %s", id_, nghttp2_strerror(rc));
    nghttp2_submit_rst_stream(c_->session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
  }
  c_->scheduleFlush();
}

void Http2Stream::sendInterim(const http::ResponseHead& resp) {
  if (resp.status == 100) return;  // the proxy handles Expect itself
  HeadScratch& s = headScratch();
  http::h2ResponseFields(resp, false, {}, nullptr, s.fields);
  if (!s.fields.empty()) s.fields.pop_back();  // no Via on an interim answer
  char st[4];
  std::to_chars(st, st + 3, resp.status);
  buildNva(s, st);
  nghttp2_submit_headers(c_->session(), NGHTTP2_FLAG_NONE, id_, nullptr, s.nva.data(), s.nva.size(),
                         nullptr);
  c_->scheduleFlush();
}

int Http2Stream::sendResponseHead(const http::ResponseHead& resp) {
  if (resp.status == 101) return wsAccept(resp);
  const http::RequestInfo& req = up_.info();
  http::ResponseBody rb = http::chooseResponseBody(resp, req.isHead, false);
  const bool keepLength = resp.hasContentLength && !resp.chunked;
  HeadScratch& s = headScratch();
  http::h2ResponseFields(resp, keepLength, up_.requestId(), up_.responseEdits(), s.fields,
                         up_.responseFields());
  std::to_chars(status_, status_ + 3, resp.status);
  buildNva(s, status_);
  // A head that ended the backend's stream (gRPC's trailers-only answer) ends this one too.
  const bool body = rb != http::ResponseBody::kNone && !resp.endStream;
  submit(s.nva, body);
  return body ? 0 : 1;
}

void Http2Stream::sendResponseBody(net::Block* block, const char* data, size_t n) {
  if (n == 0) return;
  net::BlockPool::ref(block);
  chunks_.push_back({block, data, static_cast<uint32_t>(n)});
  pending_ += n;
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(c_->session(), id_);
  }
}

void Http2Stream::sendResponseTrailers(const http::FieldsView& f) {
  for (uint32_t i = 0; i < f.size(); ++i) {
    std::string_view n = f.name(i);
    if (n.empty() || n[0] == ':') continue;  // nghttp2 let no connection-specific field in
    for (char c : n) trailerStore_.push_back(common::toLowerAscii(c));
    trailerStore_.append(f.value(i));
    trailerLens_.push_back(static_cast<uint32_t>(n.size()));
    trailerLens_.push_back(static_cast<uint32_t>(f.value(i).size()));
  }
}

void Http2Stream::submitTrailers() {
  std::vector<nghttp2_nv>& nva = headScratch().nva;
  nva.clear();
  size_t off = 0;
  for (size_t i = 0; i + 1 < trailerLens_.size(); i += 2) {
    std::string_view n(trailerStore_.data() + off, trailerLens_[i]);
    std::string_view v(trailerStore_.data() + off + trailerLens_[i], trailerLens_[i + 1]);
    nva.push_back(nv(n, v));
    off += trailerLens_[i] + trailerLens_[i + 1];
  }
  nghttp2_submit_trailer(c_->session(), id_, nva.data(), nva.size());  // copies the fields
}

void Http2Stream::sendResponseEnd() {
  bodyEnded_ = true;
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(c_->session(), id_);
  }
}

void Http2Stream::flushResponse() { c_->scheduleFlush(); }

bool Http2Stream::responseBackpressured() const { return pending_ > kHighWater; }

void Http2Stream::responseDone() { c_->scheduleFlush(); }

ssize_t Http2Stream::readBody(uint8_t* buf, size_t length, uint32_t* flags) {
  if (localBody_) {
    size_t n = std::min(length, localText_.size() - localSent_);
    std::memcpy(buf, localText_.data() + localSent_, n);
    localSent_ += n;
    if (localSent_ == localText_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  size_t copied = 0;
  while (copied < length && chunkHead_ < chunks_.size()) {
    Chunk& c = chunks_[chunkHead_];
    size_t k = std::min(length - copied, c.len - chunkOff_);
    std::memcpy(buf + copied, c.data + chunkOff_, k);
    copied += k;
    chunkOff_ += k;
    if (chunkOff_ == c.len) {
      net::BlockPool::unref(c.block);
      ++chunkHead_;
      chunkOff_ = 0;
    }
  }
  pending_ -= copied;
  up_.addResponseBytes(copied);
  if (copied && ws_ == Ws::kOpen) wsArmIdle();  // the client is reading the tunnel
  if (chunkHead_ == chunks_.size()) {
    chunks_.clear();
    chunkHead_ = 0;
  }
  if (pending_ < kLowWater) up_.resumeResponse();
  if (chunks_.empty() && bodyEnded_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!trailerLens_.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;  // the trailers' HEADERS ends the stream
      submitTrailers();
    }
    return static_cast<ssize_t>(copied);
  }
  if (copied == 0) {
    deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(copied);
}

void Http2Stream::clearChunks() {
  for (size_t i = chunkHead_; i < chunks_.size(); ++i) net::BlockPool::unref(chunks_[i].block);
  chunks_.clear();
  chunkHead_ = chunkOff_ = 0;
  pending_ = 0;
}

void Http2Stream::respondLocal(int status, metrics::LocalReason reason, const char* body, bool,
                               std::string_view location) {
  if (responded_) {
    abortResponse();
    return;
  }
  if (status >= 500)
    LOG_WARN("%s %.*s -> %d: %s", c_->transport().client().ip,
             static_cast<int>(up_.info().target.size()), up_.info().target.data(), status, body);
  if (up_.begun() && up_.grpc().grpc) {
    respondGrpc(status, reason, body);
    return;
  }
  if (up_.begun()) up_.noteLocalAnswer(status);
  c_->transport().worker().stats().countLocal(c_->transport().listener().slot, reason, status);
  localText_ = body;
  if (localText_.empty() || localText_.back() != '\n') localText_ += '\n';
  localBody_ = !up_.info().isHead;
  std::to_chars(status_, status_ + 3, status);
  char len[24];
  auto* end = std::to_chars(len, len + sizeof len, localText_.size()).ptr;
  std::vector<nghttp2_nv>& nva = headScratch().nva;
  nva.clear();
  nva.push_back(nv(":status", std::string_view(status_, 3)));
  nva.push_back(nv("content-type", "text/plain; charset=utf-8"));
  nva.push_back(nv("content-length", std::string_view(len, static_cast<size_t>(end - len))));
  nva.push_back(nv("server", "switchyard"));
  nva.push_back(nv("date", http::httpDateNow()));
  if (up_.begun() && !up_.requestId().empty()) nva.push_back(nv("x-request-id", up_.requestId()));
  if (!location.empty()) nva.push_back(nv("location", location));
  if (up_.begun() && up_.retryAfter()) {
    char* end2 = std::to_chars(retryAfter_, retryAfter_ + sizeof retryAfter_, up_.retryAfter()).ptr;
    nva.push_back(nv("retry-after", std::string_view(retryAfter_, end2 - retryAfter_)));
  }
  const http::ExtraFields extra = up_.begun() ? up_.responseFields() : http::ExtraFields{};
  char lower[256];  // nghttp2 copies names and values when the head is submitted
  size_t off = 0;
  for (size_t i = 0; i < extra.count; ++i) {
    std::string_view n = extra.fields[i].name;
    if (off + n.size() > sizeof lower) break;
    for (size_t k = 0; k < n.size(); ++k) lower[off + k] = common::toLowerAscii(n[k]);
    nva.push_back(nv(std::string_view(lower + off, n.size()), extra.fields[i].value));
    off += n.size();
  }
  submit(nva, localBody_);
}

void Http2Stream::abortResponse() {
  nghttp2_submit_rst_stream(c_->session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
  c_->scheduleFlush();
}

}  // namespace sy::proxy
