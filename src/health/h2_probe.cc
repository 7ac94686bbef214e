// HTTP/2 health checks: the request bytes and the answer's :status (h2_probe.h).
#include "switchyard/health/h2_probe.h"

#include <charconv>
#include <cstdint>
#include <memory>

#include <nghttp2/nghttp2.h>

namespace sy::health {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kHeaders = 1, kRstStream = 3, kGoaway = 7, kContinuation = 9;
constexpr uint8_t kEndStream = 0x1, kEndHeaders = 0x4, kPadded = 0x8, kPriority = 0x20;

void frameHeader(std::string& out, size_t len, uint8_t type, uint8_t flags, uint32_t stream) {
  out.push_back(static_cast<char>(len >> 16));
  out.push_back(static_cast<char>(len >> 8));
  out.push_back(static_cast<char>(len));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(stream >> shift));
}

nghttp2_nv nv(std::string_view n, std::string_view v) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
          NGHTTP2_NV_FLAG_NONE};
}

struct Inflater {
  nghttp2_hd_inflater* p = nullptr;
  Inflater() { nghttp2_hd_inflate_new(&p); }
  ~Inflater() { if (p) nghttp2_hd_inflate_del(p); }
};

// Decodes one header block fragment; sets *status from :status. False on a decoding error.
bool inflate(nghttp2_hd_inflater* inf, const uint8_t* in, size_t len, bool final, int* status) {
  for (;;) {
    nghttp2_nv out;
    int flags = 0;
    ssize_t n = nghttp2_hd_inflate_hd2(inf, &out, &flags, in, len, final ? 1 : 0);
    if (n < 0) return false;
    in += n;
    len -= static_cast<size_t>(n);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      std::string_view name(reinterpret_cast<const char*>(out.name), out.namelen);
      std::string_view value(reinterpret_cast<const char*>(out.value), out.valuelen);
      if (name == ":status") {
        int st = 0;
        auto r = std::from_chars(value.data(), value.data() + value.size(), st);
        if (r.ec != std::errc() || r.ptr != value.data() + value.size()) return false;
        *status = st;
      }
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inf);
      return true;
    }
    if (n == 0 && len == 0) return true;
  }
}

}  // namespace

std::string http2ProbeRequest(std::string_view path, std::string_view authority, bool tls) {
  std::string out(kPreface);
  frameHeader(out, 0, 4, 0, 0);  // SETTINGS, defaults
  const nghttp2_nv nva[] = {nv(":method", "GET"), nv(":scheme", tls ? "https" : "http"),
                            nv(":path", path), nv(":authority", authority),
                            nv("user-agent", "switchyard-health-check")};
  nghttp2_hd_deflater* def = nullptr;
  if (nghttp2_hd_deflate_new(&def, 4096) != 0) return {};
  std::string block(nghttp2_hd_deflate_bound(def, nva, std::size(nva)), '\0');
  ssize_t n = nghttp2_hd_deflate_hd(def, reinterpret_cast<uint8_t*>(block.data()), block.size(),
                                    nva, std::size(nva));
  nghttp2_hd_deflate_del(def);
  if (n < 0) return {};
  frameHeader(out, static_cast<size_t>(n), kHeaders, kEndStream | kEndHeaders, 1);
  out.append(block.data(), static_cast<size_t>(n));
  return out;
}

int http2ProbeStatus(std::string_view data) {
  Inflater inf;  // the whole connection's header blocks, in order (HPACK state is shared)
  if (!inf.p) return 0;
  size_t pos = 0;
  int status = 0;
  bool inBlock = false;  // a header block continues in CONTINUATION frames
  while (data.size() - pos >= 9) {
    const auto* h = reinterpret_cast<const uint8_t*>(data.data() + pos);
    const size_t len = (size_t{h[0]} << 16) | (size_t{h[1]} << 8) | h[2];
    const uint8_t type = h[3], flags = h[4];
    const uint32_t stream = ((uint32_t{h[5]} & 0x7f) << 24) | (uint32_t{h[6]} << 16) |
                            (uint32_t{h[7]} << 8) | h[8];
    if (len > 16384) return 0;  // above SETTINGS_MAX_FRAME_SIZE, which the probe leaves at its default
    if (data.size() - pos - 9 < len) return -1;
    const uint8_t* p = h + 9;
    size_t n = len;
    pos += 9 + len;
    if (inBlock && type != kContinuation) return 0;
    if (type == kGoaway || (type == kRstStream && stream == 1)) return 0;
    if (type != kHeaders && type != kContinuation) continue;
    if (type == kHeaders) {
      if (flags & kPadded) {
        if (n < 1 || p[0] >= n) return 0;
        n -= 1 + p[0];
        ++p;
      }
      if (flags & kPriority) {
        if (n < 5) return 0;
        p += 5;
        n -= 5;
      }
    }
    const bool end = (flags & kEndHeaders) != 0;
    if (!inflate(inf.p, p, n, end, &status)) return 0;
    inBlock = !end;
    if (end && stream == 1) {
      if (status >= 200) return status;
      if (status < 100) return 0;  // no :status (or a trailer block before any head)
      status = 0;                  // interim: the final head follows
    }
  }
  return -1;
}

}  // namespace sy::health
