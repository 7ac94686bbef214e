// H2Session: what the backend sends (heads, trailers, data, stream closes, GOAWAY).
#include <algorithm>
#include <charconv>
#include <cstring>

#include "switchyard/common/ascii.h"
#include "switchyard/common/log.h"
#include "switchyard/upstream/h2_session.h"

namespace sy::upstream {
namespace {

constexpr size_t kKeepStreams = 16;
constexpr size_t kMaxFields = 100;

std::string_view view(nghttp2_rcbuf* b) {
  nghttp2_vec v = nghttp2_rcbuf_get_buf(b);
  return {reinterpret_cast<const char*>(v.base), v.len};
}

}  // namespace

int H2Session::onBeginHeaders(const nghttp2_frame* f) {
  if (Stream* s = streamOf(f->hd.stream_id)) s->clearFields();
  return 0;
}

int H2Session::onHeader(const nghttp2_frame* f, nghttp2_rcbuf* name, nghttp2_rcbuf* value) {
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* s = streamOf(f->hd.stream_id);
  if (!s || !s->user) return 0;
  std::string_view n = view(name);
  if (!n.empty() && n.front() == ':') {
    if (n == ":status") {
      std::string_view v = view(value);
      int st = 0;
      auto r = std::from_chars(v.data(), v.data() + v.size(), st);
      if (r.ec != std::errc() || r.ptr != v.data() + v.size() || st < 100 || st > 999) s->bad = true;
      s->status = st;
    }
    return 0;
  }
  if (s->fields.size() >= kMaxFields) {
    s->bad = true;
    return 0;
  }
  nghttp2_rcbuf_incref(name);
  nghttp2_rcbuf_incref(value);
  s->bufs.push_back(name);
  s->bufs.push_back(value);
  s->fields.push_back({n, view(value)});
  return 0;
}

void H2Session::deliverHead(Stream& s, bool endStream) {
  http::ResponseHead h;
  h.status = s.status;
  h.endStream = endStream;
  h.fields = http::FieldsView(s.fields.data(), static_cast<uint32_t>(s.fields.size()));
  for (const http::Field& f : s.fields) {
    if (f.name.size() != 14 || !http::equalsIgnoreCase(f.name, "content-length")) continue;
    uint64_t len = 0;
    auto r = std::from_chars(f.value.data(), f.value.data() + f.value.size(), len);
    if (r.ec == std::errc() && r.ptr == f.value.data() + f.value.size()) {
      h.hasContentLength = true;
      h.contentLength = len;
    }
  }
  if (s.status >= 200) s.headDone = true;
  s.user->h2Head(h);
}

int H2Session::onFrameRecv(const nghttp2_frame* f) {
  switch (f->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = streamOf(f->hd.stream_id);
      if (!s || !s->user) break;
      if (s->bad || (!s->headDone && s->status == 0)) {
        LOG_WARN("upstream %s (%s): malformed HTTP/2 response head", backend_->name().c_str(),
                 backend_->address().text.c_str());
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
        break;  // the stream's close reports it
      }
      if (!s->headDone) {
        deliverHead(*s, (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
      } else {
        s->user->h2Trailers(http::FieldsView(s->fields.data(), static_cast<uint32_t>(s->fields.size())));
      }
      s->clearFields();
      if (s->user && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        s->ended = true;
        s->user->h2End();
      }
      break;
    }
    case NGHTTP2_DATA: {
      Stream* s = streamOf(f->hd.stream_id);
      if (s && s->user && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        s->ended = true;
        s->user->h2End();
      }
      break;
    }
    case NGHTTP2_GOAWAY:
      goaway_ = true;  // streams above its last id are closed (REFUSED_STREAM) by nghttp2
      LOG_INFO("upstream %s (%s): GOAWAY (last stream %d, error %u)", backend_->name().c_str(),
               backend_->address().text.c_str(), f->goaway.last_stream_id, f->goaway.error_code);
      break;
    default:
      break;
  }
  return 0;
}

int H2Session::onDataChunk(int32_t id, const uint8_t* data, size_t n) {
  Stream* s = streamOf(id);
  if (!s || !s->user || !s->headDone) {
    nghttp2_session_consume(session_, id, n);  // nobody takes them: keep the window open
    return 0;
  }
  const char* p = reinterpret_cast<const char*>(data);
  if (in_ && p >= in_->data() && p + n <= in_->data() + in_->capacity) {
    s->user->h2Data(in_, p, n);  // by reference: the bytes stay in the read block
    return 0;
  }
  net::Block* b = blocks_->acquire(static_cast<uint32_t>(n));
  std::memcpy(b->data(), p, n);
  s->user->h2Data(b, b->data(), n);
  net::BlockPool::unref(b);
  return 0;
}

int H2Session::onStreamClose(int32_t id, uint32_t err) {
  Stream* s = streamOf(id);
  if (!s) return 0;
  nghttp2_session_set_stream_user_data(session_, id, nullptr);
  if (H2StreamUser* u = s->user) {
    s->user = nullptr;
    --streams_;
    if (streams_ == 0) streamsDone();  // inside nghttp2: the caller's send() sends a GOAWAY
    const bool refused = err == NGHTTP2_REFUSED_STREAM && !s->headDone;
    u->h2Reset(err ? err : static_cast<uint32_t>(NGHTTP2_INTERNAL_ERROR), refused);
  }
  s->clearFields();
  live_.erase(std::remove(live_.begin(), live_.end(), s), live_.end());
  if (free_.size() < kKeepStreams) {
    free_.push_back(s);
  } else {
    delete s;
  }
  return 0;
}

}  // namespace sy::upstream
