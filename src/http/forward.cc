#include "switchyard/http/forward.h"

#include <charconv>
#include <cstring>

#include "switchyard/http/date.h"
#include "switchyard/http/request_id.h"

namespace sy::http {
namespace {

constexpr std::string_view kVia = "1.1 switchyard";

bool isHopByHop(std::string_view n) {
  switch (n.size()) {
    case 2: return equalsIgnoreCase(n, "te");
    case 7: return equalsIgnoreCase(n, "trailer") || equalsIgnoreCase(n, "upgrade");
    case 10: return equalsIgnoreCase(n, "connection") || equalsIgnoreCase(n, "keep-alive");
    case 16: return equalsIgnoreCase(n, "proxy-connection");
    case 17: return equalsIgnoreCase(n, "transfer-encoding");
    default: return false;
  }
}

// Calls fn(token) for each comma-separated token of every Connection header.
template <typename Fn>
void forEachConnectionToken(const Parser& p, Fn&& fn) {
  for (const Header& h : p.headers()) {
    if (!equalsIgnoreCase(p.view(h.name), "connection")) continue;
    std::string_view v = p.view(h.value);
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view tok = trimOws(v.substr(0, comma));
      if (!tok.empty() && fn(tok)) return;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
}

bool namedByConnection(const Parser& p, std::string_view name) {
  bool found = false;
  forEachConnectionToken(p, [&](std::string_view tok) {
    if (equalsIgnoreCase(tok, name)) found = true;
    return found;
  });
  return found;
}

// The Connection tokens of a head, gathered once (instead of rescanning every header for each
// header forwarded). Tokens naming hop-by-hop fields (keep-alive, close...) are dropped anyway.
struct ConnTokens {
  std::string_view tok[8];
  int n = 0;
  bool overflow = false;
  bool any = false;
};

ConnTokens gatherConnectionTokens(const Parser& p) {
  ConnTokens t;
  for (const Header& h : p.headers())
    if (h.name.len == 10 && equalsIgnoreCase(p.view(h.name), "connection")) t.any = true;
  if (!t.any) return t;
  forEachConnectionToken(p, [&](std::string_view tok) {
    if (t.n == 8) {
      t.overflow = true;
      return true;
    }
    t.tok[t.n++] = tok;
    return false;
  });
  return t;
}

bool namedBy(const ConnTokens& t, const Parser& p, std::string_view name) {
  if (t.overflow) return namedByConnection(p, name);
  for (int i = 0; i < t.n; ++i)
    if (t.tok[i].size() == name.size() && equalsIgnoreCase(t.tok[i], name)) return true;
  return false;
}

// The rules to apply, or null when there are none (the common case costs one test per header).
const config::HeaderRules* active(const config::HeaderRules* r) {
  return r && !r->empty() ? r : nullptr;
}

bool edited(const config::HeaderRules* r, std::string_view name) {
  return r && r->touches(name);
}

size_t setBytes(const config::HeaderRules* r) {
  size_t n = 0;
  if (r)
    for (const auto& [k, v] : r->set) n += k.size() + v.size() + 4;
  return n;
}

void putSetHeaders(const config::HeaderRules* r, HeadWriter& w) {
  if (!r) return;
  for (const auto& [k, v] : r->set) {
    w.put(k);
    w.put(": ");
    w.put(v);
    w.put("\r\n");
  }
}

// "Name: <the values of every `name` header, in order>, <own>": a list header this hop appends
// to (X-Forwarded-For, Via).
void putAppendedList(const Parser& p, std::string_view name, std::string_view own, HeadWriter& w) {
  w.put(name);
  w.put(": ");
  for (const Header& h : p.headers()) {
    if (h.name.len == name.size() && equalsIgnoreCase(p.view(h.name), name)) {
      std::string_view v = trimOws(p.view(h.value));
      if (v.empty()) continue;
      w.put(v);
      w.put(", ");
    }
  }
  w.put(own);
  w.put("\r\n");
}

std::string_view stripPort(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
  }
  size_t colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

}  // namespace

void HeadWriter::putChar(char c) {
  if (overflow_ || p_ == end_) {
    overflow_ = true;
    return;
  }
  *p_++ = c;
}

void HeadWriter::putUint(uint64_t v) {
  char tmp[20];
  const char* end = std::to_chars(tmp, tmp + sizeof tmp, v).ptr;
  put(std::string_view(tmp, static_cast<size_t>(end - tmp)));
}

int analyzeRequest(const Parser& p, RequestInfo& info, const char** reason) {
  info = RequestInfo{};
  info.http10 = p.versionMajor() == 1 && p.versionMinor() == 0;
  info.keepAlive = p.keepAlive();
  info.chunked = p.chunked();
  info.hasContentLength = p.hasContentLength();
  info.contentLength = info.hasContentLength ? p.contentLength() : 0;
  info.isHead = p.method() == HTTP_HEAD;

  if (p.versionMajor() != 1 || p.versionMinor() > 1) {
    *reason = "unsupported HTTP version";
    return p.versionMajor() >= 2 ? 505 : 400;
  }
  // Request line: exactly one SP around the target (llhttp tolerates more).
  const std::string_view method = llhttp_method_name(static_cast<llhttp_method_t>(p.method()));
  const Span u = p.urlSpan();
  if (u.off != method.size() + 1 || p.view(Span{u.off - 1, 1}) != " " ||
      p.view(Span{u.off + u.len, 6}) != " HTTP/") {
    *reason = "invalid request line";
    return 400;
  }
  if (p.method() == HTTP_CONNECT) {
    *reason = "CONNECT is not supported";
    return 405;
  }
  int hostCount = 0;
  bool te = false;
  for (const Header& h : p.headers()) {
    std::string_view n = p.view(h.name);
    if (n.empty()) {
      *reason = "empty header name";
      return 400;
    }
    if (n.size() == 4 && equalsIgnoreCase(n, "host")) {
      ++hostCount;
      info.authority = p.view(h.value);
    } else if (n.size() == 6 && equalsIgnoreCase(n, "expect")) {
      if (equalsIgnoreCase(trimOws(p.view(h.value)), "100-continue")) {
        info.expectContinue = !info.http10;
      } else {
        *reason = "unsupported Expect";
        return 417;
      }
    } else if (n.size() == 17 && equalsIgnoreCase(n, "transfer-encoding")) {
      te = true;
    }
  }
  if (hostCount > 1) {
    *reason = "duplicate Host header";
    return 400;
  }
  if (hostCount == 0 && !info.http10) {
    *reason = "missing Host header";
    return 400;
  }
  if (te && info.http10) {
    *reason = "Transfer-Encoding in an HTTP/1.0 request";
    return 400;
  }
  if (!validHost(info.authority)) {  // issue 21: RFC 3986 authority syntax (target.h)
    *reason = "invalid Host header";
    return 400;
  }

  std::string_view t = p.url();
  if (!t.empty() && t.front() == '/') {
    info.target = t;
  } else if (t == "*" && p.method() == HTTP_OPTIONS) {
    info.target = t;
  } else if (t.size() > 7 && (equalsIgnoreCase(t.substr(0, 7), "http://") ||
                              (t.size() > 8 && equalsIgnoreCase(t.substr(0, 8), "https://")))) {
    // absolute-form: the authority in the target wins over Host (RFC 9112 §3.2.2).
    t.remove_prefix(t[4] == ':' ? 7 : 8);
    info.absoluteForm = true;
    size_t slash = t.find_first_of("/?");
    info.authority = t.substr(0, slash);
    if (info.authority.empty() || !validHost(info.authority)) {
      *reason = "invalid request target";
      return 400;
    }
    info.target = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
    if (info.target.front() == '?') {
      *reason = "invalid request target";
      return 400;
    }
  } else {
    *reason = "invalid request target";
    return 400;
  }
  // --- issue 21: fragments refused; route and forward the normalised target (target.h).
  if (int s = canonicalizeTarget(info.target, info.targetStorage, reason); s != 0) return s;
  info.host = stripPort(info.authority);
  size_t q = info.target.find('?');
  info.path = q == std::string_view::npos ? info.target : info.target.substr(0, q);
  if (p.upgrade() && !info.http10 && p.method() == HTTP_GET && !info.chunked &&
      info.contentLength == 0) {
    std::string_view up = upgradeHeader(p);
    std::string_view first = trimOws(up.substr(0, up.find_first_of(",/")));
    if (first.size() == 9 && equalsIgnoreCase(first, "websocket")) info.upgrade = up;
  }
  return 0;
}

std::string_view upgradeHeader(const Parser& p) {
  std::string_view value;
  int count = 0;
  for (const Header& h : p.headers()) {
    if (h.name.len == 7 && equalsIgnoreCase(p.view(h.name), "upgrade")) {
      value = trimOws(p.view(h.value));
      ++count;
    }
  }
  return count == 1 ? value : std::string_view{};
}

size_t upstreamRequestHeadBound(const Parser& p, const RequestInfo& info, const ForwardContext& fc) {
  size_t n = 64 + info.target.size();
  for (const Header& h : p.headers()) n += h.name.len + h.value.len + 4;
  return n + 3 * info.authority.size() + fc.clientIp.size() + fc.requestId.size() +
         info.upgrade.size() + fc.newPrefix.size() + fc.stripPrefix.size() + setBytes(fc.edits) +
         256;
}

void writeUpstreamRequestHead(const Parser& p, const RequestInfo& info, const ForwardContext& fc,
                              HeadWriter& w) {
  w.put(llhttp_method_name(static_cast<llhttp_method_t>(p.method())));
  w.putChar(' ');
  if (fc.rewrite) {
    std::string_view rest = info.target.substr(fc.stripPrefix.size());
    if (fc.newPrefix.ends_with('/') && rest.starts_with('/')) rest.remove_prefix(1);
    w.put(fc.newPrefix);
    w.put(rest);
  } else {
    w.put(info.target);
  }
  w.put(" HTTP/1.1\r\n");

  const ConnTokens conn = gatherConnectionTokens(p);
  const config::HeaderRules* ed = active(fc.edits);
  bool sawHost = false;
  for (const Header& h : p.headers()) {
    std::string_view n = p.view(h.name);
    if (isHopByHop(n)) continue;
    if (ed && ed->touches(n)) continue;  // the route sets or removes it (set ones come last)
    switch (n.size()) {
      case 3:
        if (equalsIgnoreCase(n, "via")) continue;  // merged below
        break;
      case 4:
        if (equalsIgnoreCase(n, "host")) {
          // Never dropped by a Connection token; replaced for absolute-form targets.
          if (info.absoluteForm) continue;
          sawHost = true;
          w.put("Host: ");
          w.put(p.view(h.value));
          w.put("\r\n");
          continue;
        }
        break;
      case 6:
        if (equalsIgnoreCase(n, "expect")) continue;
        break;
      case 12:
        if (!fc.requestId.empty() && equalsIgnoreCase(n, "x-request-id")) continue;  // below
        break;
      case 14:
        if (equalsIgnoreCase(n, "content-length")) continue;  // re-derived below
        break;
      case 15:
        if (equalsIgnoreCase(n, "x-forwarded-for")) {
          // Appended in one line below with the client's address.
          continue;
        }
        break;
      case 16:
        if (equalsIgnoreCase(n, "x-forwarded-host")) continue;
        break;
      case 17:
        if (equalsIgnoreCase(n, "x-forwarded-proto")) continue;
        break;
      case 18:
        if (fc.rewrite && equalsIgnoreCase(n, "x-forwarded-prefix")) continue;  // set below
        break;
    }
    if (conn.any && namedBy(conn, p, n)) continue;
    w.put(n);
    w.put(": ");
    w.put(p.view(h.value));
    w.put("\r\n");
  }
  if (!sawHost && !info.authority.empty() && !edited(ed, "host")) {
    w.put("Host: ");
    w.put(info.authority);
    w.put("\r\n");
  }
  // X-Forwarded-For: earlier hops in order, then this client.
  if (!edited(ed, "x-forwarded-for")) putAppendedList(p, "X-Forwarded-For", fc.clientIp, w);
  if (!edited(ed, "x-forwarded-proto")) {
    w.put("X-Forwarded-Proto: ");
    w.put(fc.tls ? "https" : "http");
    w.put("\r\n");
  }
  if (!info.authority.empty() && !edited(ed, "x-forwarded-host")) {
    w.put("X-Forwarded-Host: ");
    w.put(info.authority);
    w.put("\r\n");
  }
  if (fc.rewrite && !edited(ed, "x-forwarded-prefix")) {
    w.put("X-Forwarded-Prefix: ");
    w.put(fc.stripPrefix);
    w.put("\r\n");
  }
  if (!edited(ed, "via")) putAppendedList(p, "Via", info.http10 ? "1.0 switchyard" : kVia, w);
  if (!fc.requestId.empty() && !edited(ed, "x-request-id")) {
    w.put("X-Request-Id: ");
    w.put(fc.requestId);
    w.put("\r\n");
  }
  putSetHeaders(ed, w);
  if (!info.upgrade.empty()) {
    w.put("Connection: upgrade\r\nUpgrade: ");
    w.put(info.upgrade);
    w.put("\r\n");
  }
  if (info.chunked) {
    w.put("Transfer-Encoding: chunked\r\n");
  } else if (info.hasContentLength) {
    w.put("Content-Length: ");
    w.putUint(info.contentLength);
    w.put("\r\n");
  }
  w.put("\r\n");
}

ResponseBody chooseResponseBody(const Parser& resp, bool requestWasHead, bool clientHttp10) {
  int s = resp.statusCode();
  if (requestWasHead || (s >= 100 && s < 200) || s == 204 || s == 304) return ResponseBody::kNone;
  if (resp.hasContentLength() && !resp.chunked()) return ResponseBody::kContentLength;
  return clientHttp10 ? ResponseBody::kUntilClose : ResponseBody::kChunked;
}

size_t clientResponseHeadBound(const Parser& resp, const config::HeaderRules* edits) {
  size_t n = 64 + resp.reason().size();
  for (const Header& h : resp.headers()) n += h.name.len + h.value.len + 4;
  return n + 128 + 32 + kMaxRequestIdLength + setBytes(edits) + kDateFieldBytes;
}

void writeClientResponseHead(const Parser& resp, ResponseBody body, bool closeAfter,
                             bool clientHttp10, HeadWriter& w, std::string_view requestId,
                             const config::HeaderRules* edits) {
  const config::HeaderRules* ed = active(edits);
  w.put("HTTP/1.1 ");
  w.putUint(static_cast<uint64_t>(resp.statusCode()));
  w.putChar(' ');
  w.put(resp.reason().empty() ? reasonPhrase(resp.statusCode()) : resp.reason());
  w.put("\r\n");
  const ConnTokens conn = gatherConnectionTokens(resp);
  bool sawDate = false;  // issue 21
  for (const Header& h : resp.headers()) {
    std::string_view n = resp.view(h.name);
    sawDate |= n.size() == 4 && equalsIgnoreCase(n, "date");  // issue 21
    if (isHopByHop(n)) continue;
    if (n.size() == 14 && equalsIgnoreCase(n, "content-length")) {
      // Kept for bodiless answers (HEAD, 304) where it describes the representation.
      if (body != ResponseBody::kNone || resp.chunked()) continue;
    }
    if (!requestId.empty() && n.size() == 12 && equalsIgnoreCase(n, "x-request-id")) continue;
    if (conn.any && namedBy(conn, resp, n)) continue;
    if (ed && ed->touches(n)) continue;
    w.put(n);
    w.put(": ");
    w.put(resp.view(h.value));
    w.put("\r\n");
  }
  if (!requestId.empty() && !edited(ed, "x-request-id")) {
    w.put("X-Request-Id: ");
    w.put(requestId);
    w.put("\r\n");
  }
  putSetHeaders(ed, w);
  // --- issue 21: RFC 9110 §6.6.1, the proxy dates an answer that has no Date (date.h).
  if (!sawDate && !edited(ed, "date")) {
    w.put("Date: ");
    w.put(httpDateNow());
    w.put("\r\n");
  }
  switch (body) {
    case ResponseBody::kContentLength:
      w.put("Content-Length: ");
      w.putUint(resp.contentLength());
      w.put("\r\n");
      break;
    case ResponseBody::kChunked:
      w.put("Transfer-Encoding: chunked\r\n");
      break;
    default:
      break;
  }
  if (!edited(ed, "via")) w.put("Via: 1.1 switchyard\r\n");
  if (resp.upgrade()) {
    w.put("Connection: upgrade\r\nUpgrade: ");
    w.put(upgradeHeader(resp));
    w.put("\r\n");
  } else if (closeAfter) {
    w.put("Connection: close\r\n");
  } else if (clientHttp10) {
    w.put("Connection: keep-alive\r\n");
  }
  w.put("\r\n");
}

size_t writeLocalResponse(int status, std::string_view body, bool closeAfter, bool isHead,
                          char* out, size_t capacity, std::string_view requestId,
                          std::string_view location) {
  HeadWriter w(out, capacity);
  w.put("HTTP/1.1 ");
  w.putUint(static_cast<uint64_t>(status));
  w.putChar(' ');
  w.put(reasonPhrase(status));
  w.put("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  w.putUint(body.size());
  w.put("\r\nServer: switchyard\r\nDate: ");
  w.put(httpDateNow());  // issue 21: RFC 9110 §6.6.1 (date.h)
  w.put("\r\n");
  if (!requestId.empty()) {
    w.put("X-Request-Id: ");
    w.put(requestId);
    w.put("\r\n");
  }
  if (!location.empty()) {
    w.put("Location: ");
    w.put(location);
    w.put("\r\n");
  }
  if (closeAfter) w.put("Connection: close\r\n");
  w.put("\r\n");
  if (!isHead) w.put(body);
  return w.overflow() ? 0 : w.size();
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
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
