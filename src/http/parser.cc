#include "switchyard/http/parser.h"

#include <cstring>

#include "switchyard/http/transfer_coding.h"

namespace sy::http {

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const llhttp_settings_t* Parser::settings() {
  static const llhttp_settings_t kSettings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = cbMessageBegin;
    s.on_method = cbMark;
    s.on_version = cbMark;
    s.on_url = cbUrl;
    s.on_status = cbStatus;
    s.on_header_field = cbHeaderField;
    s.on_header_field_complete = cbHeaderFieldComplete;
    s.on_header_value = cbHeaderValue;
    s.on_header_value_complete = cbHeaderValueComplete;
    s.on_headers_complete = cbHeadersComplete;
    s.on_body = cbBody;
    s.on_message_complete = cbMessageComplete;
    return s;
  }();
  return &kSettings;
}

HeaderPool::~HeaderPool() {
  for (auto* v : free_) delete v;
}

std::vector<Header>* HeaderPool::acquire() {
  if (free_.empty()) {
    auto* v = new std::vector<Header>();
    v->reserve(32);
    return v;
  }
  auto* v = free_.back();
  free_.pop_back();
  return v;
}

void HeaderPool::release(std::vector<Header>* v) {
  v->clear();
  free_.push_back(v);
}

Parser::~Parser() { releaseHeaders(); }

void Parser::releaseHeaders() {
  if (pool_ && headers_ != &own_) {
    pool_->release(headers_);
    headers_ = &own_;
  }
}

Parser::Parser(llhttp_type_t type, Handler* handler, ParserLimits limits, HeaderPool* pool)
    : handler_(handler), limits_(limits), pool_(pool) {
  llhttp_init(&p_, type, settings());
  p_.data = this;
}

void Parser::reset() {
  llhttp_reset(&p_);
  releaseHeaders();
  p_.data = this;
  inMessage_ = headDone_ = false;
  failStatus_ = 0;
  failReason_ = nullptr;
}

Parser::Result Parser::execute(const char* data, size_t n) {
  if (!inMessage_) base_ = data;  // the next message (or leading CRLFs) starts here
  llhttp_errno_t err = llhttp_execute(&p_, data, n);
  size_t skipped = 0;
  while (err == HPE_PAUSED_UPGRADE && p_.type == HTTP_REQUEST) {
    // A request that asked for an upgrade ends like any other: whether the connection switches
    // protocols is the owner's call (it stops feeding bytes); if it goes on, they are HTTP.
    const size_t at = static_cast<size_t>(llhttp_get_error_pos(&p_) - data);
    llhttp_resume_after_upgrade(&p_);
    data += at;
    n -= at;
    skipped += at;
    if (!inMessage_) base_ = data;
    err = llhttp_execute(&p_, data, n);
  }
  Result r;
  r.err = err;
  if (err == HPE_OK) {
    r.consumed = skipped + n;
  } else {
    const char* pos = llhttp_get_error_pos(&p_);
    r.consumed = skipped + (pos ? static_cast<size_t>(pos - data) : 0);
  }
  return r;
}

llhttp_errno_t Parser::finish() { return llhttp_finish(&p_); }

int Parser::cbMessageBegin(llhttp_t* p) {
  Parser* s = self(p);
  s->inMessage_ = true;
  s->needBase_ = true;
  s->headDone_ = false;
  s->fieldOpen_ = s->valueOpen_ = s->urlOpen_ = s->statusOpen_ = false;
  s->url_ = {};
  s->status_ = {};
  if (s->pool_ && s->headers_ == &s->own_) s->headers_ = s->pool_->acquire();
  s->headers_->clear();
  s->failStatus_ = 0;
  s->failReason_ = nullptr;
  return 0;
}

int Parser::cbMark(llhttp_t* p, const char* at, size_t) {
  // The first bytes of a message that began inside this execute() (after an earlier message
  // in the same buffer) locate its head; spans are relative to them.
  Parser* s = self(p);
  if (s->needBase_) {
    s->base_ = at;
    s->needBase_ = false;
  }
  return 0;
}

int Parser::extend(Span& s, bool& open, const char* at, size_t n) {
  size_t end = static_cast<size_t>(at + n - base_);
  if (end > limits_.maxHeadBytes) {
    fail(431, "Request Header Fields Too Large");
    return -1;
  }
  if (!open) {
    s.off = static_cast<uint32_t>(at - base_);
    open = true;
  }
  s.len = static_cast<uint32_t>(end - s.off);
  return 0;
}

int Parser::cbUrl(llhttp_t* p, const char* at, size_t n) {
  Parser* s = self(p);
  return s->extend(s->url_, s->urlOpen_, at, n);
}

int Parser::cbStatus(llhttp_t* p, const char* at, size_t n) {
  Parser* s = self(p);
  return s->extend(s->status_, s->statusOpen_, at, n);
}

int Parser::cbHeaderField(llhttp_t* p, const char* at, size_t n) {
  Parser* s = self(p);
  if (s->headDone_) return 0;  // trailer fields after a chunked body: dropped
  if (!s->fieldOpen_) {
    if (s->headers_->size() >= s->limits_.maxHeaders) {
      s->fail(431, "Request Header Fields Too Large");
      return -1;
    }
    s->headers_->push_back(Header{});
    s->valueOpen_ = false;
  }
  return s->extend(s->headers_->back().name, s->fieldOpen_, at, n);
}

int Parser::cbHeaderFieldComplete(llhttp_t* p) {
  Parser* s = self(p);
  if (s->headDone_) return 0;
  s->fieldOpen_ = false;
  return 0;
}

int Parser::cbHeaderValue(llhttp_t* p, const char* at, size_t n) {
  Parser* s = self(p);
  if (s->headDone_) return 0;
  if (s->headers_->empty()) return -1;
  return s->extend(s->headers_->back().value, s->valueOpen_, at, n);
}

int Parser::cbHeaderValueComplete(llhttp_t* p) {
  Parser* s = self(p);
  if (s->headDone_) return 0;
  // --- issue 21: a fold right after the colon ("Name:\r\n value") starts llhttp's value after
  // the fold, out of reach of the check below; the bytes from the name to a non-empty value
  // must not hold a line break (an empty value is reported at the start of the next line).
  if (s->valueOpen_ && !s->headers_->empty() && s->headers_->back().value.len > 0) {
    const Header& h = s->headers_->back();
    const uint32_t from = h.name.off + h.name.len;
    if (s->view(Span{from, h.value.off - from}).find_first_of("\r\n") != std::string_view::npos) {
      s->fail(400, "obsolete line folding in a header value");
      return -1;
    }
  }
  // --- end issue 21
  s->valueOpen_ = false;
  if (!s->headers_->empty()) {
    // llhttp may leave trailing whitespace in the value.
    Header& h = s->headers_->back();
    while (h.value.len > 0) {
      char c = s->base_[h.value.off + h.value.len - 1];
      if (c != ' ' && c != '\t') break;
      --h.value.len;
    }
    // llhttp accepts obs-fold (a line starting with whitespace continues the value) even in
    // strict mode; RFC 9112 §5.2 lets a server refuse it, and a proxy must not pass it on.
    const char* v = s->base_ + h.value.off;
    if (std::memchr(v, '\n', h.value.len) || std::memchr(v, '\r', h.value.len)) {
      s->fail(400, "obsolete line folding in a header value");
      return -1;
    }
  }
  return 0;
}

int Parser::cbHeadersComplete(llhttp_t* p) {
  Parser* s = self(p);
  s->headDone_ = true;
  // --- issue 21: never relabel a body coded with more than chunked (transfer_coding.h).
  const char* why = nullptr;
  if (int status = transferCodingRefusal(*s, &why); status != 0) {
    s->fail(status, why);
    return -1;
  }
  // --- end issue 21
  return s->handler_->onHeadersComplete(*s);
}

int Parser::cbBody(llhttp_t* p, const char* at, size_t n) {
  Parser* s = self(p);
  return s->handler_->onBody(*s, at, n);
}

int Parser::cbMessageComplete(llhttp_t* p) {
  Parser* s = self(p);
  s->inMessage_ = false;
  return s->handler_->onMessageComplete(*s);
}

}  // namespace sy::http
