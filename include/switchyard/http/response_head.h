#pragma once
// A protocol-neutral view of a backend's response head: what the client side (an HTTP/1.1
// connection, an HTTP/2 stream) needs to frame the answer, whichever codec read it (llhttp for
// an HTTP/1.1 backend, nghttp2 for an HTTP/2 one). A view: the bytes belong to the codec and
// must outlive it. Cheap to copy, no allocation. Any thread.

#include <cstdint>
#include <string_view>

#include "switchyard/http/parser.h"
#include "switchyard/http/request_head.h"

namespace sy::http {

struct ResponseHead {
  int status = 0;
  std::string_view reason;  // HTTP/1.1 reason phrase as sent; empty for HTTP/2
  FieldsView fields;        // without pseudo-header fields
  bool hasContentLength = false;
  bool chunked = false;   // HTTP/1.1 chunked body
  bool upgrade = false;   // a 101 that switches protocols (HTTP/1.1 only)
  bool endStream = false; // HTTP/2: the head ended the stream (no body, no trailers follow)
  uint64_t contentLength = 0;

  ResponseHead() = default;
  // The llhttp parser's current response head (valid while its header array and bytes are).
  ResponseHead(const Parser& p)  // NOLINT: implicit, a parsed head is a response head
      : status(p.statusCode()),
        reason(p.reason()),
        fields(p),
        hasContentLength(p.hasContentLength()),
        chunked(p.chunked()),
        upgrade(p.upgrade()),
        contentLength(p.contentLength()) {}
};

}  // namespace sy::http
