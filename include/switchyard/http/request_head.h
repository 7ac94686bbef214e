#pragma once
// A protocol-neutral view of a message head's header fields and of a request head: what
// routing, header rules, rewrite, the balancing keys, the access log and the forwarding code
// read, whichever codec parsed the request (HTTP/1.1 through llhttp, HTTP/2 through nghttp2).
//
// Views only: the bytes belong to the codec (an HTTP/1.1 read block, an HTTP/2 stream's header
// storage) and must outlive the view. Cheap to copy. Any thread.

#include <cstdint>
#include <string_view>

#include "switchyard/http/parser.h"

namespace sy::http {

// One header field as name and value.
struct Field {
  std::string_view name;
  std::string_view value;
};

// The header fields of one head: either spans into an llhttp-parsed head (HTTP/1.1) or an array
// of Fields (HTTP/2, tests).
class FieldsView {
 public:
  FieldsView() = default;
  // The parser's current head (valid while its header array and bytes are).
  FieldsView(const Parser& p)  // NOLINT: implicit, a parsed head is a field list
      : base_(p.base()),
        spans_(p.headers().data()),
        n_(static_cast<uint32_t>(p.headers().size())) {}
  FieldsView(const Field* fields, uint32_t n) : fields_(fields), n_(n) {}

  uint32_t size() const { return n_; }
  std::string_view name(uint32_t i) const {
    return fields_ ? fields_[i].name : std::string_view(base_ + spans_[i].name.off, spans_[i].name.len);
  }
  std::string_view value(uint32_t i) const {
    return fields_ ? fields_[i].value
                   : std::string_view(base_ + spans_[i].value.off, spans_[i].value.len);
  }
  size_t nameSize(uint32_t i) const { return fields_ ? fields_[i].name.size() : spans_[i].name.len; }
  // Bytes of names and values together (bounds for head writers).
  size_t bytes() const {
    size_t b = 0;
    for (uint32_t i = 0; i < n_; ++i) b += name(i).size() + value(i).size();
    return b;
  }

 private:
  const char* base_ = nullptr;
  const Header* spans_ = nullptr;
  const Field* fields_ = nullptr;
  uint32_t n_ = 0;
};

// A request head as the codecs hand it to the request path. For HTTP/1.1 `authority` is the
// Host header (or the absolute-form target's authority, resolved by analyzeRequest) and
// `target` the request-target as sent; for HTTP/2 they are :authority and :path.
struct RequestHead {
  uint8_t method = 0;  // llhttp_method_t (HTTP/2 method names are mapped onto it)
  std::string_view methodName;
  std::string_view scheme;     // HTTP/2 :scheme; empty for HTTP/1.1
  std::string_view authority;  // HTTP/2 :authority (HTTP/1.1: empty, see analyzeRequest)
  std::string_view target;
  uint8_t versionMajor = 1;
  uint8_t versionMinor = 1;
  FieldsView fields;
  // Framing as the codec established it.
  bool chunked = false;           // HTTP/1.1 chunked body
  bool hasContentLength = false;  // a Content-Length was sent
  uint64_t contentLength = 0;
  bool bodyFollows = false;       // HTTP/2: the HEADERS frame did not end the stream
  bool keepAlive = true;          // HTTP/1.x persistence (always true for HTTP/2)
  bool upgradeRequested = false;  // HTTP/1.1: "Connection: upgrade" with an Upgrade header
  // HTTP/2 WebSocket (RFC 8441): the codec hands an extended CONNECT with ":protocol websocket"
  // over as a GET (method, methodName) with the Sec-WebSocket-Key it made for the HTTP/1.1
  // backend here; empty otherwise.
  std::string_view websocketKey;

  bool http2() const { return versionMajor == 2; }
  // The HTTP/1.1 parser's view of its current request head.
  static RequestHead fromParser(const Parser& p);
};

// Maps an HTTP method name to llhttp's enum; false if llhttp knows no such method.
bool methodFromName(std::string_view name, uint8_t& method);

}  // namespace sy::http
