// Fuzzes the request path of a client session without sockets: the llhttp wrapper (fed in
// pieces, with the head moved between pieces as the session's buffer compaction does), the
// RFC 9112 checks, and the upstream head rewriting. Invariants checked:
//  - nothing crashes, no sanitizer report;
//  - a request accepted by analyzeRequest() is rewritten into a head that parses again, with
//    the same method, target and body framing, a single Host, and no hop-by-hop header;
//  - the target it routes and forwards is in normal form (normalizePath() leaves it unchanged).

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "switchyard/http/forward.h"
#include "switchyard/http/parser.h"

namespace {

using namespace sy::http;

struct Reparse : Parser::Handler {
  int heads = 0;
  int onHeadersComplete(Parser&) override {
    ++heads;
    return HPE_PAUSED;
  }
  int onBody(Parser&, const char*, size_t) override { return 0; }
  int onMessageComplete(Parser&) override { return HPE_PAUSED; }
};

struct Checker : Parser::Handler {
  int onHeadersComplete(Parser& p) override {
    RequestInfo info;
    const char* reason = nullptr;
    if (analyzeRequest(p, info, &reason) != 0) return -1;
    ForwardContext fc{"192.0.2.1", false};
    std::vector<char> out(upstreamRequestHeadBound(p, info, fc));
    HeadWriter w(out.data(), out.size());
    writeUpstreamRequestHead(p, info, fc, w);
    if (w.overflow()) __builtin_trap();  // the bound must hold
    Reparse r;
    Parser again(HTTP_REQUEST, &r, ParserLimits{1 << 20, 1000});
    Parser::Result res = again.execute(out.data(), w.size());
    if (r.heads != 1 || (res.err != HPE_PAUSED && res.err != HPE_OK)) __builtin_trap();
    if (again.method() != p.method()) __builtin_trap();
    if (again.url() != info.target) __builtin_trap();
    // The routed target is in normal form: normalising it again changes nothing (target.h).
    char renormal[kMaxNormalizedTarget];
    if (normalizePath(info.target, renormal, sizeof renormal).status != PathStatus::kUnchanged)
      __builtin_trap();
    if (again.chunked() != info.chunked) __builtin_trap();
    if (!info.chunked && info.hasContentLength && again.contentLength() != info.contentLength)
      __builtin_trap();
    int hosts = 0;
    for (const Header& h : again.headers()) {
      std::string_view n = again.view(h.name);
      if (equalsIgnoreCase(n, "host")) ++hosts;
      if (equalsIgnoreCase(n, "connection") || equalsIgnoreCase(n, "keep-alive") ||
          equalsIgnoreCase(n, "upgrade") || equalsIgnoreCase(n, "te") ||
          equalsIgnoreCase(n, "proxy-connection") || equalsIgnoreCase(n, "trailer"))
        __builtin_trap();
    }
    if (hosts > 1) __builtin_trap();
    return 0;
  }
  int onBody(Parser&, const char*, size_t) override { return 0; }
  int onMessageComplete(Parser&) override { return HPE_PAUSED; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // First byte: where to split the input into two reads.
  size_t split = size > 1 ? data[0] % size : 0;
  ++data;
  --size;
  Checker checker;
  Parser p(HTTP_REQUEST, &checker, ParserLimits{4096, 32});
  std::vector<char> a(data, data + size);
  size_t pos = 0;
  size_t stop = split < size ? split : size;
  while (pos < size) {
    Parser::Result r = p.execute(a.data() + pos, stop - pos);
    pos += r.consumed;
    if (r.err == HPE_PAUSED) {
      p.resume();
      continue;
    }
    if (r.err != HPE_OK) break;
    if (stop == size) break;
    // Move the bytes (as compaction does) before feeding the rest.
    std::vector<char> b(a);
    if (p.inHead()) p.rebase(b.data() + (p.base() - a.data()));
    a.swap(b);
    stop = size;
  }
  return 0;
}
