#include "switchyard/http/forward.h"

#include <charconv>
#include <cstring>

#include "switchyard/http/date.h"
#include "switchyard/http/request_id.h"
#include "head_rules.h"

namespace sy::http {
using namespace detail;
namespace {

constexpr std::string_view kVia = "1.1 switchyard";

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

int checkRequestLine(const Parser& p, const char** reason) {
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
  return 0;
}

RequestHead RequestHead::fromParser(const Parser& p) {
  RequestHead h;
  h.method = p.method();
  h.methodName = llhttp_method_name(static_cast<llhttp_method_t>(p.method()));
  h.target = p.url();
  h.versionMajor = static_cast<uint8_t>(p.versionMajor());
  h.versionMinor = static_cast<uint8_t>(p.versionMinor());
  h.fields = FieldsView(p);
  h.chunked = p.chunked();
  h.hasContentLength = p.hasContentLength();
  h.contentLength = h.hasContentLength ? p.contentLength() : 0;
  h.keepAlive = p.keepAlive();
  h.upgradeRequested = p.upgrade();
  return h;
}

bool methodFromName(std::string_view name, uint8_t& method) {
  // llhttp's method table is small; a linear scan of the common ones first.
  static constexpr llhttp_method_t kCommon[] = {HTTP_GET,     HTTP_POST,  HTTP_PUT,
                                                HTTP_DELETE,  HTTP_HEAD,  HTTP_OPTIONS,
                                                HTTP_PATCH,   HTTP_TRACE, HTTP_CONNECT};
  for (llhttp_method_t m : kCommon)
    if (name == llhttp_method_name(m)) {
      method = static_cast<uint8_t>(m);
      return true;
    }
  for (int m = 0; m <= 45; ++m) {
    const char* n = llhttp_method_name(static_cast<llhttp_method_t>(m));
    if (n && name == n) {
      method = static_cast<uint8_t>(m);
      return true;
    }
  }
  return false;
}

int analyzeRequest(const Parser& p, RequestInfo& info, const char** reason) {
  if (int status = checkRequestLine(p, reason)) {
    info = RequestInfo{};
    return status;
  }
  return analyzeRequest(RequestHead::fromParser(p), info, reason);
}

int analyzeRequest(const RequestHead& h, RequestInfo& info, const char** reason) {
  info = RequestInfo{};
  info.http2 = h.http2();
  info.http10 = h.versionMajor == 1 && h.versionMinor == 0;
  info.keepAlive = h.keepAlive;
  info.chunked = h.chunked;
  info.hasContentLength = h.hasContentLength;
  info.contentLength = h.contentLength;
  info.isHead = h.method == HTTP_HEAD;

  if (!info.http2 && (h.versionMajor != 1 || h.versionMinor > 1)) {
    *reason = "unsupported HTTP version";
    return h.versionMajor >= 2 ? 505 : 400;
  }
  if (h.method == HTTP_CONNECT) {
    *reason = "CONNECT is not supported";
    return 405;
  }
  int hostCount = 0;
  bool te = false;
  std::string_view hostValue;
  const FieldsView& f = h.fields;
  for (uint32_t i = 0; i < f.size(); ++i) {
    std::string_view n = f.name(i);
    if (n.empty()) {
      *reason = "empty header name";
      return 400;
    }
    if (n.size() == 4 && equalsIgnoreCase(n, "host")) {
      ++hostCount;
      hostValue = f.value(i);
    } else if (n.size() == 6 && equalsIgnoreCase(n, "expect")) {
      if (equalsIgnoreCase(trimOws(f.value(i)), "100-continue")) {
        info.expectContinue = !info.http10;
      } else {
        *reason = "unsupported Expect";
        return 417;
      }
    } else if (n.size() == 17 && equalsIgnoreCase(n, "transfer-encoding")) {
      te = true;
    } else if (n.size() == 2 && equalsIgnoreCase(n, "te")) {
      std::string_view v = f.value(i);
      while (!v.empty() && !info.teTrailers) {  // "trailers, deflate;q=0.5"
        const size_t comma = v.find(',');
        std::string_view item = v.substr(0, comma);
        item = trimOws(item.substr(0, item.find(';')));
        info.teTrailers = equalsIgnoreCase(item, "trailers");
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
      }
    }
  }
  if (hostCount > 1) {
    *reason = "duplicate Host header";
    return 400;
  }
  if (info.http2) {
    // :authority wins; a Host naming another authority makes the request malformed (RFC 9113
    // §8.3.1). Without :authority the Host header is the authority.
    if (!h.authority.empty()) {
      if (hostCount == 1 && !equalsIgnoreCase(hostValue, h.authority)) {
        *reason = "Host differs from :authority";
        return 400;
      }
      info.authority = h.authority;
    } else {
      info.authority = hostValue;
    }
    if (info.authority.empty()) {
      *reason = "missing :authority and Host";
      return 400;
    }
  } else {
    info.authority = hostValue;
    if (hostCount == 0 && !info.http10) {
      *reason = "missing Host header";
      return 400;
    }
    if (te && info.http10) {
      *reason = "Transfer-Encoding in an HTTP/1.0 request";
      return 400;
    }
  }
  if (!validHost(info.authority)) {  // issue 21: RFC 3986 authority syntax (target.h)
    *reason = "invalid Host header";
    return 400;
  }

  std::string_view t = h.target;
  if (!t.empty() && t.front() == '/') {
    info.target = t;
  } else if (t == "*" && h.method == HTTP_OPTIONS) {
    info.target = t;
  } else if (!info.http2 && t.size() > 7 &&
             (equalsIgnoreCase(t.substr(0, 7), "http://") ||
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
  if (h.upgradeRequested && !info.http2 && !info.http10 && h.method == HTTP_GET &&
      !info.chunked && info.contentLength == 0) {
    std::string_view up = upgradeHeader(f);
    std::string_view first = trimOws(up.substr(0, up.find_first_of(",/")));
    if (first.size() == 9 && equalsIgnoreCase(first, "websocket")) info.upgrade = up;
  }
  if (info.http2 && !h.websocketKey.empty()) {
    // RFC 8441: the tunnel's bytes are not a request body.
    if (h.method != HTTP_GET || info.contentLength > 0) {
      *reason = "a WebSocket CONNECT has no body";
      return 400;
    }
    info.upgrade = "websocket";
    info.websocketKey = h.websocketKey;
  }
  return 0;
}

std::string_view upgradeHeader(const FieldsView& f) {
  std::string_view value;
  int count = 0;
  for (uint32_t i = 0; i < f.size(); ++i) {
    if (f.nameSize(i) == 7 && equalsIgnoreCase(f.name(i), "upgrade")) {
      value = trimOws(f.value(i));
      ++count;
    }
  }
  return count == 1 ? value : std::string_view{};
}

std::string_view upgradeHeader(const Parser& p) { return upgradeHeader(FieldsView(p)); }

size_t upstreamRequestHeadBound(const Parser& p, const RequestInfo& info, const ForwardContext& fc) {
  return upstreamRequestHeadBound(RequestHead::fromParser(p), info, fc);
}

void writeUpstreamRequestHead(const Parser& p, const RequestInfo& info, const ForwardContext& fc,
                              HeadWriter& w) {
  writeUpstreamRequestHead(RequestHead::fromParser(p), info, fc, w);
}

size_t upstreamRequestHeadBound(const RequestHead& h, const RequestInfo& info,
                                const ForwardContext& fc) {
  size_t n = 64 + info.target.size() + h.fields.bytes() + 4 * h.fields.size();
  return n + 3 * info.authority.size() + fc.clientIp.size() + fc.requestId.size() +
         info.upgrade.size() + (info.websocketKey.empty() ? 0 : info.websocketKey.size() + 24) +
         fc.newPrefix.size() + fc.stripPrefix.size() + setBytes(fc.edits) +
         256;
}

void writeUpstreamRequestHead(const RequestHead& h, const RequestInfo& info,
                              const ForwardContext& fc, HeadWriter& w) {
  const FieldsView& f = h.fields;
  w.put(h.methodName);
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

  const ConnTokens conn = gatherConnectionTokens(f);
  const config::HeaderRules* ed = active(fc.edits);
  bool sawHost = false;
  for (uint32_t i = 0; i < f.size(); ++i) {
    std::string_view n = f.name(i);
    if (isHopByHop(n)) continue;
    if (ed && ed->touches(n)) continue;  // the route sets or removes it (set ones come last)
    switch (n.size()) {
      case 3:
        if (equalsIgnoreCase(n, "via")) continue;  // merged below
        break;
      case 4:
        if (equalsIgnoreCase(n, "host")) {
          // Never dropped by a Connection token; replaced for absolute-form targets.
          if (info.absoluteForm || info.http2) continue;  // HTTP/2: :authority below
          sawHost = true;
          w.put("Host: ");
          w.put(f.value(i));
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
        if (!info.websocketKey.empty() && equalsIgnoreCase(n, "sec-websocket-key")) continue;
        break;
      case 18:
        if (fc.rewrite && equalsIgnoreCase(n, "x-forwarded-prefix")) continue;  // set below
        break;
      case 24:
        // routes[].fault requests (x-switchyard-fault-delay / -abort): never forwarded.
        if (equalsIgnoreCase(n.substr(0, 19), "x-switchyard-fault-")) continue;
        break;
    }
    if (conn.any && namedBy(conn, f, n)) continue;
    w.put(n);
    w.put(": ");
    w.put(f.value(i));
    w.put("\r\n");
  }
  if (!sawHost && !info.authority.empty() && !edited(ed, "host")) {
    w.put("Host: ");
    w.put(info.authority);
    w.put("\r\n");
  }
  // X-Forwarded-For: earlier hops in order, then this client.
  if (!edited(ed, "x-forwarded-for")) putAppendedList(f, "X-Forwarded-For", fc.clientIp, w);
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
  if (!edited(ed, "via")) putAppendedList(f, "Via", info.http2 ? "2.0 switchyard" : info.http10 ? "1.0 switchyard" : kVia, w);
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
  if (!info.websocketKey.empty()) {
    w.put("Sec-WebSocket-Key: ");
    w.put(info.websocketKey);
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


}  // namespace sy::http
