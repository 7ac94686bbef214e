#include <doctest/doctest.h>

#include <string>

#include "switchyard/http/transfer_coding.h"
#include "test_handler.h"

using namespace sy::http;
using sy::http::test::ParsedHead;

namespace {
CodingCount count(std::string_view v) {
  CodingCount c;
  countTransferCodings(v, c);
  return c;
}

// The parser's verdict on a head with the transferCodingRefusal() hook: 0 when the head reached
// onHeadersComplete, its refusal status otherwise (-1: llhttp refused it on its own).
int refusal(const std::string& head, llhttp_type_t type) {
  ParsedHead ph(head, type);
  if (ph.handler.headersCompleteCalls == 1) return 0;
  return ph.parser.failStatus() ? ph.parser.failStatus() : -1;
}
}  // namespace

TEST_CASE("countTransferCodings: list elements, case-insensitive, empty ones skipped") {
  CHECK(count("chunked").chunked == 1);
  CHECK(count("chunked").other == 0);
  CHECK(count("CHUNKED").chunked == 1);
  CHECK(count(" , chunked ,").chunked == 1);
  CHECK(count(" , chunked ,").other == 0);
  CHECK(count("gzip, chunked").chunked == 1);
  CHECK(count("gzip, chunked").other == 1);
  CHECK(count("gzip,deflate,\tchunked").other == 2);
  CHECK(count("chunked, chunked").chunked == 2);
  CHECK(count("identity").other == 1);
  CHECK(count("").chunked + count("").other == 0);
}

TEST_CASE("transferCodingRefusal: responses with a coding other than chunked are refused") {
  CHECK(refusal("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_RESPONSE) == 0);
  CHECK(refusal("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", HTTP_RESPONSE) == 0);
  CHECK(refusal("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP_RESPONSE) ==
        502);
  CHECK(refusal("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
                HTTP_RESPONSE) == 502);
  CHECK(refusal("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_RESPONSE) == 502);
  CHECK(refusal("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", HTTP_RESPONSE) ==
        502);
  CHECK(refusal("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                HTTP_RESPONSE) == 502);
  CHECK(refusal("HTTP/1.1 100 Continue\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_RESPONSE) == 0);
}

TEST_CASE("transferCodingRefusal: requests: 501 for gzip before chunked, the rest to llhttp") {
  const std::string start = "POST / HTTP/1.1\r\nHost: a\r\n";
  CHECK(refusal(start + "Transfer-Encoding: chunked\r\n\r\n", HTTP_REQUEST) == 0);
  CHECK(refusal(start + "Transfer-Encoding: gzip, chunked\r\n\r\n", HTTP_REQUEST) == 501);
  CHECK(refusal(start + "Transfer-Encoding: x-custom , chunked\r\n\r\n", HTTP_REQUEST) == 501);
  // Not chunked last: llhttp refuses (400) on its own, in strict mode while reading the value
  // or right after onHeadersComplete.
  CHECK(refusal(start + "Transfer-Encoding: chunked, gzip\r\n\r\n", HTTP_REQUEST) == -1);
  CHECK(refusal(start + "Transfer-Encoding: gzip\r\n\r\n", HTTP_REQUEST) == 0);
}
