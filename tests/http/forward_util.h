#pragma once
// Helpers the forward_*_test.cc files share (request_head_h2_test.cc too, writtenUpstreamHead):
// analyzeRequest over a parsed head, the upstream request head and the client response head it
// leads to (Date masked), and a re-parse check.

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "head_lines.h"
#include "switchyard/http/forward.h"
#include "test_handler.h"

namespace sy::http::test {

struct Analyzed {
  int status = 0;
  const char* reason = nullptr;
  RequestInfo info;
};

inline Analyzed analyze(const ParsedHead& ph) {
  Analyzed a;
  // CONNECT stops llhttp with HPE_PAUSED_UPGRADE after the head: the head is still complete.
  REQUIRE(ph.handler.headersCompleteCalls == 1);
  a.status = analyzeRequest(ph.parser, a.info, &a.reason);
  return a;
}

// writeUpstreamRequestHead for `head` (a Parser or a RequestHead) into a buffer of its bound.
template <class Head>
std::string writtenUpstreamHead(const Head& head, const RequestInfo& info,
                                const ForwardContext& fc) {
  const size_t bound = upstreamRequestHeadBound(head, info, fc);
  std::string out(bound, '\0');
  HeadWriter w(out.data(), out.size());
  writeUpstreamRequestHead(head, info, fc, w);
  REQUIRE_FALSE(w.overflow());
  out.resize(w.size());
  return out;
}

// The upstream head for a request head (which must pass analyzeRequest).
inline std::string upstreamHeadWith(const ParsedHead& ph, const ForwardContext& fc) {
  Analyzed a = analyze(ph);
  REQUIRE(a.status == 0);
  return writtenUpstreamHead(ph.parser, a.info, fc);
}

inline std::string upstreamHead(const ParsedHead& ph, std::string_view clientIp = "10.0.0.7",
                         bool tls = false) {
  return upstreamHeadWith(ph, ForwardContext{clientIp, tls});
}

// The head with the value of its "Date: " line (an IMF-fixdate of now) replaced by "<date>".
inline std::string maskDate(std::string head) {
  const size_t at = head.find("\r\nDate: ");
  if (at == std::string::npos) return head;
  const size_t v = at + 8, e = head.find("\r\n", v);
  REQUIRE(e - v == 29);
  CHECK(head.compare(e - 4, 4, " GMT") == 0);
  return head.replace(v, e - v, "<date>");
}

inline std::string clientHead(const ParsedHead& resp, ResponseBody body, bool closeAfter,
                       bool clientHttp10, std::string_view requestId = {},
                       const sy::config::HeaderRules* edits = nullptr) {
  const size_t bound = clientResponseHeadBound(resp.parser, edits);
  std::string out(bound, '\0');
  HeadWriter w(out.data(), out.size());
  writeClientResponseHead(resp.parser, body, closeAfter, clientHttp10, w, requestId, edits);
  REQUIRE_FALSE(w.overflow());
  out.resize(w.size());
  return maskDate(out);
}

// Checks that the produced head parses as a valid message of `type`.
inline void checkParses(const std::string& head, llhttp_type_t type) {
  ParsedHead again(head, type);
  CHECK(again.ok());
  CHECK(again.handler.headersCompleteCalls == 1);
}

}  // namespace sy::http::test
