#pragma once
// Test helpers for the HTTP tests: a recording Parser::Handler and a parsed head that owns
// its bytes (so header views stay valid for the life of the object).

#include <string>
#include <string_view>
#include <vector>

#include "switchyard/http/parser.h"

namespace sy::http::test {

struct RecordingHandler : Parser::Handler {
  int headersCompleteCalls = 0;
  int messageCompleteCalls = 0;
  std::string body;
  std::vector<std::string> bodies;  // one entry per completed message
  std::vector<std::string> urls;    // captured in onHeadersComplete
  int headersReturn = 0;            // 1 = no body follows (responses to HEAD)
  int completeReturn = 0;           // HPE_PAUSED = stop after each message

  int onHeadersComplete(Parser& p) override {
    ++headersCompleteCalls;
    urls.emplace_back(p.url());
    return headersReturn;
  }
  int onBody(Parser&, const char* data, size_t n) override {
    body.append(data, n);
    return 0;
  }
  int onMessageComplete(Parser&) override {
    ++messageCompleteCalls;
    bodies.push_back(body);
    body.clear();
    return completeReturn;
  }
};

// Where ParsedHead stops: right after the head (as a proxy reads it in onHeadersComplete,
// with Content-Length and the flags still intact), or only at the end of the input.
enum class Stop { kAfterHead, kNever };

// Parses `text` in one execute(). With Stop::kAfterHead the handler pauses llhttp in
// onHeadersComplete, so the framing facts (keepAlive(), chunked(), contentLength()) are those
// of this message: llhttp resets them once a message completes without a pause.
struct ParsedHead {
  explicit ParsedHead(std::string t, llhttp_type_t type = HTTP_REQUEST,
                      Stop stop = Stop::kAfterHead, ParserLimits limits = ParserLimits{})
      : text(std::move(t)), parser(type, &handler, limits) {
    if (stop == Stop::kAfterHead) handler.headersReturn = HPE_PAUSED;
    result = parser.execute(text.data(), text.size());
  }
  ParsedHead(const ParsedHead&) = delete;
  ParsedHead& operator=(const ParsedHead&) = delete;

  bool ok() const { return result.err == HPE_OK || result.err == HPE_PAUSED; }
  // Value of the first header named `name` (case-insensitive), or "<absent>".
  std::string_view header(std::string_view name) const {
    for (const Header& h : parser.headers())
      if (equalsIgnoreCase(parser.view(h.name), name)) return parser.view(h.value);
    return "<absent>";
  }

  std::string text;
  RecordingHandler handler;
  Parser parser;
  Parser::Result result;
};

// An execute() or finish() result that is an error (not OK and not a pause).
inline bool isError(llhttp_errno_t e) { return e != HPE_OK && e != HPE_PAUSED; }

}  // namespace sy::http::test
