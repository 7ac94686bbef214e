#pragma once
// The request target and Host as routing sees them (RFC 3986, RFC 9112 §3.2): one canonical
// path per resource, so that a route's path_prefix cannot be climbed out of with dot segments
// or percent-encoded dots, and authorities that are not valid URI syntax are refused.
// Pure functions over string views; no allocation; any thread.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sy::http {

// Room for a request target that normalisation rewrites (normalised path plus the query). A
// target that needs rewriting and does not fit is refused with 414; targets already in normal
// form are used in place whatever their length.
inline constexpr size_t kMaxNormalizedTarget = 4096;

// Storage for a rewritten target inside a per-request struct (RequestInfo). It is neither
// cleared nor copied: resetting its owner (`info = RequestInfo{}`) costs nothing, and views into
// it stay those of the object they were made for (so a copy of the owner is valid only while
// the original lives).
struct TargetStorage {
  TargetStorage() noexcept {}
  TargetStorage(const TargetStorage&) noexcept {}
  TargetStorage& operator=(const TargetStorage&) noexcept { return *this; }
  char data[kMaxNormalizedTarget];
};

enum class PathStatus : uint8_t {
  kUnchanged,  // already normal: use the target as it is
  kRewritten,  // the normal form was written to `out` (`len` bytes)
  kBadEscape,  // '%' not followed by two hex digits (400)
  kTooLong,    // needs rewriting but does not fit in `cap` bytes (414)
};

struct NormalizedPath {
  PathStatus status = PathStatus::kUnchanged;
  size_t len = 0;  // bytes written to `out` when kRewritten
};

// Normalises the path of an origin-form target (starts with '/'; anything after the first '?'
// is the query, copied unchanged):
//  - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded; other escapes
//    (%2F, %3F, %25, %00, non-ASCII...) stay encoded, with upper-case hex digits;
//  - dot segments are removed as RFC 3986 §5.2.4 says, after decoding ("/a/%2e%2E/b" is "/b"),
//    and never above the root ("/.." is "/"); a trailing "." or ".." segment leaves a '/'.
// Writes to out[0, cap) only when the result differs from `target`; the result is never longer
// than `target`, and cap >= target.size() always suffices (smaller may report kTooLong).
NormalizedPath normalizePath(std::string_view target, char* out, size_t cap);

// A '#' (fragment) in a request target: RFC 9112 §3.2 origin-form and absolute-form have none,
// and a backend may cut the path there differently than routing did.
inline bool hasFragment(std::string_view target) {
  return target.find('#') != std::string_view::npos;
}

// The checks of a request target before routing, for analyzeRequest(): refuses a fragment (400),
// then normalises an origin-form `target` in place (it then views `storage`). Returns 0, or the
// status to refuse with and a short `*reason`. Targets not starting with '/' ("*") are kept.
int canonicalizeTarget(std::string_view& target, TargetStorage& storage, const char** reason);

// A Host header value or absolute-form authority: uri-host [ ":" port ] (RFC 3986 §3.2.2),
// where uri-host is an IP-literal in brackets (IPv6 or IPvFuture), or a reg-name of unreserved
// characters, sub-delims and valid %HH escapes (an IPv4 address is a reg-name to the grammar),
// and port is at most 5 digits up to 65535 (may be empty, as the grammar allows). No userinfo,
// whitespace, '/', '?', '#' or control bytes. An empty value is valid (RFC 9112 §3.2: Host is
// empty when the target URI has no authority).
bool validHost(std::string_view authority);

}  // namespace sy::http
