// Response heads: the client-side framing of a backend's answer, the head the client gets, and
// the proxy's own short answers.
#include <charconv>
#include <cstring>

#include "switchyard/http/forward.h"
#include "switchyard/http/date.h"
#include "switchyard/http/request_id.h"
#include "head_rules.h"

namespace sy::http {
using namespace detail;
namespace {

// "HTTP/1.1 <status> <reason>\r\n": the backend's reason, or the standard one.
void putStatusLine(const ResponseHead& resp, HeadWriter& w) {
  w.put("HTTP/1.1 ");
  w.putUint(static_cast<uint64_t>(resp.status));
  w.putChar(' ');
  w.put(resp.reason.empty() ? reasonPhrase(resp.status) : resp.reason);
  w.put("\r\n");
}

void putExtra(const ExtraFields& extra, HeadWriter& w) {
  for (size_t i = 0; i < extra.count; ++i) {
    w.put(extra.fields[i].name);
    w.put(": ");
    w.put(extra.fields[i].value);
    w.put("\r\n");
  }
}

}  // namespace

ResponseBody chooseResponseBody(const ResponseHead& resp, bool requestWasHead, bool clientHttp10) {
  int s = resp.status;
  if (requestWasHead || (s >= 100 && s < 200) || s == 204 || s == 304) return ResponseBody::kNone;
  if (resp.hasContentLength && !resp.chunked) return ResponseBody::kContentLength;
  return clientHttp10 ? ResponseBody::kUntilClose : ResponseBody::kChunked;
}

size_t clientResponseHeadBound(const ResponseHead& resp, const config::HeaderRules* edits,
                               const ExtraFields& extra) {
  size_t n = 64 + resp.reason.size();
  n += resp.fields.bytes() + 4 * resp.fields.size();
  return n + 128 + 32 + kMaxRequestIdLength + setBytes(edits) + kDateFieldBytes + extra.bytes();
}

// Whether field i of a backend's response head goes on to the client: not hop-by-hop or named
// by Connection, not replaced by the proxy (X-Request-Id) or the route's rules, and
// Content-Length only when `keepLength`. Sets `sawDate` for a Date field.
static bool passedOn(const FieldsView& f, uint32_t i, const ConnTokens& conn, bool keepLength,
              std::string_view requestId, const config::HeaderRules* ed, bool& sawDate) {
  std::string_view n = f.name(i);
  sawDate |= n.size() == 4 && equalsIgnoreCase(n, "date");
  if (isHopByHop(n)) return false;
  if (n.size() == 14 && equalsIgnoreCase(n, "content-length") && !keepLength) return false;
  if (!requestId.empty() && n.size() == 12 && equalsIgnoreCase(n, "x-request-id")) return false;
  if (conn.any && namedBy(conn, f, n)) return false;
  return !(ed && ed->touches(n));
}

void writeClientResponseHead(const ResponseHead& resp, ResponseBody body, bool closeAfter,
                             bool clientHttp10, HeadWriter& w, std::string_view requestId,
                             const config::HeaderRules* edits, const ExtraFields& extra) {
  const config::HeaderRules* ed = active(edits);
  putStatusLine(resp, w);
  const FieldsView& f = resp.fields;
  const ConnTokens conn = gatherConnectionTokens(f);
  bool sawDate = false;
  // Content-Length is kept for bodiless answers (HEAD, 304) where it describes the
  // representation; otherwise the framing below replaces it.
  const bool keepLength = body == ResponseBody::kNone && !resp.chunked;
  for (uint32_t i = 0; i < f.size(); ++i) {
    if (!passedOn(f, i, conn, keepLength, requestId, ed, sawDate)) continue;
    std::string_view n = f.name(i);
    w.put(n);
    w.put(": ");
    w.put(f.value(i));
    w.put("\r\n");
  }
  if (!requestId.empty() && !edited(ed, "x-request-id")) {
    w.put("X-Request-Id: ");
    w.put(requestId);
    w.put("\r\n");
  }
  putSetHeaders(ed, w);
  putExtra(extra, w);
  // RFC 9110 §6.6.1: the proxy dates an answer that has none (date.h).
  if (!sawDate && !edited(ed, "date")) {
    w.put("Date: ");
    w.put(httpDateNow());
    w.put("\r\n");
  }
  switch (body) {
    case ResponseBody::kContentLength:
      w.put("Content-Length: ");
      w.putUint(resp.contentLength);
      w.put("\r\n");
      break;
    case ResponseBody::kChunked:
      w.put("Transfer-Encoding: chunked\r\n");
      break;
    default:
      break;
  }
  if (!edited(ed, "via")) w.put("Via: 1.1 switchyard\r\n");
  if (resp.upgrade) {
    w.put("Connection: upgrade\r\nUpgrade: ");
    w.put(upgradeHeader(f));
    w.put("\r\n");
  } else if (closeAfter) {
    w.put("Connection: close\r\n");
  } else if (clientHttp10) {
    w.put("Connection: keep-alive\r\n");
  }
  w.put("\r\n");
}

void h2ResponseFields(const ResponseHead& resp, bool keepLength, std::string_view requestId,
                      const config::HeaderRules* edits, std::vector<Field>& out,
                      const ExtraFields& extra) {
  out.clear();
  const config::HeaderRules* ed = active(edits);
  const FieldsView& f = resp.fields;
  const ConnTokens conn = gatherConnectionTokens(f);
  bool sawDate = false;
  for (uint32_t i = 0; i < f.size(); ++i)
    if (passedOn(f, i, conn, keepLength, requestId, ed, sawDate)) out.push_back({f.name(i), f.value(i)});
  if (!requestId.empty() && !edited(ed, "x-request-id")) out.push_back({"x-request-id", requestId});
  if (ed)
    for (const auto& [k, v] : ed->set) out.push_back({k, v});
  for (size_t i = 0; i < extra.count; ++i) out.push_back(extra.fields[i]);
  if (!sawDate && !edited(ed, "date")) out.push_back({"date", httpDateNow()});
  if (!edited(ed, "via")) out.push_back({"via", "1.1 switchyard"});
}

void writeInterimHead(const ResponseHead& resp, HeadWriter& w) {
  putStatusLine(resp, w);
  const FieldsView& f = resp.fields;
  const ConnTokens conn = gatherConnectionTokens(f);
  for (uint32_t i = 0; i < f.size(); ++i) {
    std::string_view n = f.name(i);
    if (isHopByHop(n) || (conn.any && namedBy(conn, f, n))) continue;
    w.put(n);
    w.put(": ");
    w.put(f.value(i));
    w.put("\r\n");
  }
  w.put("\r\n");
}

namespace {

// The end of every answer the proxy makes itself: Server, Date (RFC 9110 §6.6.1), the request
// id, Location, Retry-After, the extra fields, Connection: close and the blank line. The line
// before it is left open.
void putLocalTail(HeadWriter& w, std::string_view requestId, std::string_view location,
                  uint32_t retryAfter, const ExtraFields& extra, bool closeAfter) {
  w.put("\r\nServer: switchyard\r\nDate: ");
  w.put(httpDateNow());
  w.put("\r\n");
  const auto field = [&w](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    w.put(name);
    w.put(value);
    w.put("\r\n");
  };
  field("X-Request-Id: ", requestId);
  field("Location: ", location);
  if (retryAfter) {
    w.put("Retry-After: ");
    w.putUint(retryAfter);
    w.put("\r\n");
  }
  putExtra(extra, w);
  if (closeAfter) w.put("Connection: close\r\n");
  w.put("\r\n");
}

}  // namespace

size_t writeLocalResponse(int status, std::string_view body, bool closeAfter, bool isHead,
                          char* out, size_t capacity, std::string_view requestId,
                          std::string_view location, uint32_t retryAfter,
                          const ExtraFields& extra) {
  HeadWriter w(out, capacity);
  w.put("HTTP/1.1 ");
  w.putUint(static_cast<uint64_t>(status));
  w.putChar(' ');
  w.put(reasonPhrase(status));
  w.put("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  w.putUint(body.size());
  putLocalTail(w, requestId, location, retryAfter, extra, closeAfter);
  if (!isHead) w.put(body);
  return w.overflow() ? 0 : w.size();
}

size_t writeGrpcLocalResponse(uint8_t grpcStatus, std::string_view grpcMessage, bool closeAfter,
                              char* out, size_t capacity, std::string_view requestId,
                              uint32_t retryAfter, const ExtraFields& extra) {
  HeadWriter w(out, capacity);
  w.put("HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nGrpc-Status: ");
  w.putUint(grpcStatus);
  if (!grpcMessage.empty()) {
    w.put("\r\nGrpc-Message: ");
    w.put(grpcMessage);
  }
  w.put("\r\nContent-Length: 0");
  putLocalTail(w, requestId, {}, retryAfter, extra, closeAfter);
  return w.overflow() ? 0 : w.size();
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace sy::http
