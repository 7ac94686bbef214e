#pragma once
// A thin wrapper around llhttp (strict mode) that records the message head as spans relative
// to the first byte of the message, so the head can be read in place (no copies) and the
// bytes may be moved (buffer compaction) while the head is incomplete.
//
// Contract for the owner: the bytes of one message head must stay contiguous in memory,
// starting at base(); if the owner moves them it calls rebase() with the new address.
// Worker-thread only.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <llhttp.h>

#include "switchyard/common/ascii.h"

namespace sy::http {

struct Span {
  uint32_t off = 0;
  uint32_t len = 0;
};

struct Header {
  Span name;
  Span value;
};

struct ParserLimits {
  uint32_t maxHeadBytes = 32 * 1024;
  uint32_t maxHeaders = 100;
};

// Header arrays lent to parsers while they parse a head, so that connections between requests
// hold none (a worker has one pool; arrays keep their capacity, so steady state allocates
// nothing). Single-threaded.
class HeaderPool {
 public:
  HeaderPool() = default;
  HeaderPool(const HeaderPool&) = delete;
  HeaderPool& operator=(const HeaderPool&) = delete;
  ~HeaderPool();
  std::vector<Header>* acquire();
  void release(std::vector<Header>* v);

 private:
  std::vector<std::vector<Header>*> free_;
};

class Parser {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // Return 0 to go on; 1 (responses only) when no body follows (answer to HEAD);
    // -1 to stop with the status set by Parser::fail().
    virtual int onHeadersComplete(Parser& p) = 0;
    // Body bytes (chunked framing already removed). Return 0, or -1 after Parser::fail().
    virtual int onBody(Parser& p, const char* data, size_t n) = 0;
    // Return 0 to go on parsing, or HPE_PAUSED to stop right after this message.
    virtual int onMessageComplete(Parser& p) = 0;
  };

  struct Result {
    llhttp_errno_t err = HPE_OK;
    size_t consumed = 0;
  };

  // With a `pool`, the header array is borrowed from it for each message and given back by
  // releaseHeaders() (or reset/destruction); without one the parser keeps its own.
  Parser(llhttp_type_t type, Handler* handler, ParserLimits limits, HeaderPool* pool = nullptr);
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  ~Parser();
  // The owner is done with headers() of the current message (their spans are still valid
  // through view() while the bytes are).
  void releaseHeaders();

  // Parses bytes. On HPE_PAUSED, `consumed` is where parsing stopped (the next message starts
  // there); call resume() before feeding more. A request parser treats the bytes after an
  // upgrade request as HTTP (the owner stops feeding it once a tunnel is open); a response
  // parser returns HPE_PAUSED_UPGRADE after a 101 that switches protocols, with `consumed` at
  // the first byte of the new protocol.
  Result execute(const char* data, size_t n);
  // The peer closed: completes a read-until-close body, or reports a truncated message.
  llhttp_errno_t finish();
  void resume() { llhttp_resume(&p_); }
  // Starts over for a fresh connection (drops state and head).
  void reset();
  void setLimits(ParserLimits l) { limits_ = l; }
  void setHandler(Handler* h) { handler_ = h; }

  // Owner hooks for the head bytes.
  const char* base() const { return base_; }
  void rebase(const char* newBase) { base_ = newBase; }
  bool inHead() const { return inMessage_ && !headDone_; }
  bool inMessage() const { return inMessage_; }
  // Bytes of the current head seen so far (from the message's first byte).
  uint32_t headBytesSoFar(const char* end) const {
    return inHead() ? static_cast<uint32_t>(end - base_) : 0;
  }

  // Head access (valid from onHeadersComplete until the bytes are released).
  std::string_view view(Span s) const { return {base_ + s.off, s.len}; }
  std::string_view url() const { return view(url_); }
  Span urlSpan() const { return url_; }
  std::string_view reason() const { return view(status_); }
  const std::vector<Header>& headers() const { return *headers_; }
  uint8_t method() const { return llhttp_get_method(const_cast<llhttp_t*>(&p_)); }
  int statusCode() const { return p_.status_code; }
  int versionMajor() const { return p_.http_major; }
  int versionMinor() const { return p_.http_minor; }
  bool keepAlive() const { return llhttp_should_keep_alive(&p_) != 0; }
  bool chunked() const { return (p_.flags & F_CHUNKED) != 0; }
  bool hasContentLength() const { return (p_.flags & F_CONTENT_LENGTH) != 0; }
  uint64_t contentLength() const { return p_.content_length; }  // valid before body starts
  bool needsEof() const { return llhttp_message_needs_eof(&p_) != 0; }
  // The head has "Connection: upgrade" and an Upgrade header (llhttp's view; for a response,
  // only a 101 counts).
  bool upgrade() const { return p_.upgrade != 0; }
  const llhttp_t* raw() const { return &p_; }

  // Rejects the message from a handler callback: `status` is the HTTP status to answer with
  // (400, 413, 431, 502...), `reason` a short static text.
  void fail(int status, const char* reason) {
    failStatus_ = status;
    failReason_ = reason;
  }
  int failStatus() const { return failStatus_; }
  const char* failReason() const { return failReason_; }
  const char* errorReason() const { return llhttp_get_error_reason(&p_); }

 private:
  static int cbMessageBegin(llhttp_t* p);
  static int cbMark(llhttp_t* p, const char* at, size_t n);
  static int cbUrl(llhttp_t* p, const char* at, size_t n);
  static int cbStatus(llhttp_t* p, const char* at, size_t n);
  static int cbHeaderField(llhttp_t* p, const char* at, size_t n);
  static int cbHeaderFieldComplete(llhttp_t* p);
  static int cbHeaderValue(llhttp_t* p, const char* at, size_t n);
  static int cbHeaderValueComplete(llhttp_t* p);
  static int cbHeadersComplete(llhttp_t* p);
  static int cbBody(llhttp_t* p, const char* at, size_t n);
  static int cbMessageComplete(llhttp_t* p);
  static const llhttp_settings_t* settings();
  static Parser* self(llhttp_t* p) { return static_cast<Parser*>(p->data); }
  int extend(Span& s, bool& open, const char* at, size_t n);

  llhttp_t p_;
  Handler* handler_;
  ParserLimits limits_;
  const char* base_ = nullptr;
  bool inMessage_ = false;
  bool needBase_ = false;  // message begun; its first byte not yet seen by a data callback
  bool headDone_ = false;
  bool fieldOpen_ = false;
  bool valueOpen_ = false;
  bool urlOpen_ = false;
  bool statusOpen_ = false;
  Span url_;
  Span status_;
  HeaderPool* pool_ = nullptr;
  std::vector<Header> own_;
  std::vector<Header>* headers_ = &own_;  // own_, or an array borrowed from pool_
  int failStatus_ = 0;
  const char* failReason_ = nullptr;
};

using common::equalsIgnoreCase;
// Strips leading and trailing SP / HTAB.
std::string_view trimOws(std::string_view s);

}  // namespace sy::http
