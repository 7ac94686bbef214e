#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "switchyard/http/target.h"

using namespace sy::http;

namespace {

// The normal form of `target`, "<unchanged>", "<bad escape>" or "<too long>".
std::string normal(std::string_view target, size_t cap = kMaxNormalizedTarget) {
  std::string out(cap, '\xee');
  const NormalizedPath n = normalizePath(target, out.data(), cap);
  switch (n.status) {
    case PathStatus::kUnchanged: return "<unchanged>";
    case PathStatus::kBadEscape: return "<bad escape>";
    case PathStatus::kTooLong: return "<too long>";
    case PathStatus::kRewritten: break;
  }
  REQUIRE(n.len <= cap);
  return out.substr(0, n.len);
}

}  // namespace

TEST_CASE("normalizePath: targets already normal are used in place") {
  for (const char* t : {"/", "/api/v1/items", "/a/b/", "/a//b", "/.well-known/acme", "/a..b/c.",
                        "/a/...", "/%2F", "/a%2Fb?x=%2f", "/x?../..", "/p?q#", "*", ""}) {
    CAPTURE(t);
    CHECK(normal(t) == "<unchanged>");
  }
}

TEST_CASE("normalizePath: dot segments are removed per RFC 3986 5.2.4, never above the root") {
  CHECK(normal("/api/../admin") == "/admin");
  CHECK(normal("/api/./admin") == "/api/admin");
  CHECK(normal("/api/..") == "/");
  CHECK(normal("/api/.") == "/api/");
  CHECK(normal("/a/b/..") == "/a/");
  CHECK(normal("/a/b/../") == "/a/");
  CHECK(normal("/..") == "/");
  CHECK(normal("/../../etc/passwd") == "/etc/passwd");
  CHECK(normal("/a/b/c/./../../g") == "/a/g");  // RFC 3986 5.2.4 example
  CHECK(normal("/mid/content=5/../6") == "/mid/6");  // RFC 3986 5.2.4 example
  CHECK(normal("//a/../b") == "//b");
  CHECK(normal("/./") == "/");
  CHECK(normal("/a/./b/./") == "/a/b/");
}

TEST_CASE("normalizePath: percent-encoded dots count as dots") {
  CHECK(normal("/api/%2e%2e/admin") == "/admin");
  CHECK(normal("/api/%2E%2E/admin") == "/admin");
  CHECK(normal("/api/.%2e/admin") == "/admin");
  CHECK(normal("/api/%2e/admin") == "/api/admin");
  CHECK(normal("/api/%2e%2e") == "/");
  CHECK(normal("/api/%2e%2e?next=/x") == "/?next=/x");
}

TEST_CASE("normalizePath: unreserved escapes decoded, reserved kept with upper-case hex") {
  CHECK(normal("/%61pi/%7Euser/%2D%5F%2e") == "/api/~user/-_.");
  CHECK(normal("/a%2fb") == "/a%2Fb");              // never decoded: it would split a segment
  CHECK(normal("/api/..%2f..%2fadmin") == "/api/..%2F..%2Fadmin");  // one segment, not dots
  CHECK(normal("/x%3f%23%25%00%c3%a9") == "/x%3F%23%25%00%C3%A9");
  CHECK(normal("/%41%5A%30%39") == "/AZ09");
}

TEST_CASE("normalizePath: the query is copied unchanged") {
  CHECK(normal("/a/./b?x=/../%2e%2f&y=%7e") == "/a/b?x=/../%2e%2f&y=%7e");
  CHECK(normal("/a/%7e?%zz") == "/a/~?%zz");  // a query's escapes are the backend's business
  CHECK(normal("/a?%zz") == "<unchanged>");
}

TEST_CASE("normalizePath: invalid escapes are errors") {
  for (const char* t : {"/%", "/a%", "/a%2", "/a%zz", "/a%2g/b", "/%%41", "/a%2?x", "/a/%/../b"}) {
    CAPTURE(t);
    CHECK(normal(t) == "<bad escape>");
  }
}

TEST_CASE("normalizePath: output bounded by the caller's buffer") {
  CHECK(normal("/abc/../d", 9) == "/d");  // cap >= target.size() always suffices
  CHECK(normal("/abc/./d", 5) == "<too long>");
  CHECK(normal("/abc/./d", 6) == "/abc/d");
  CHECK(normal("/a/./b?query", 8) == "<too long>");
  std::string longTarget = "/" + std::string(5000, 'a');
  CHECK(normal(longTarget) == "<unchanged>");  // in place: no limit
  CHECK(normal(longTarget + "/..") == "<too long>");
}

TEST_CASE("canonicalizeTarget: fragment refused, rewritten target views the storage") {
  TargetStorage storage;
  const char* reason = nullptr;
  std::string_view t = "/a#frag";
  CHECK(canonicalizeTarget(t, storage, &reason) == 400);
  CHECK(std::string_view(reason) == "fragment in request target");
  t = "/a?x#y";
  CHECK(canonicalizeTarget(t, storage, &reason) == 400);
  const std::string raw = "/api/%2e%2e/admin?q";
  t = raw;
  CHECK(canonicalizeTarget(t, storage, &reason) == 0);
  CHECK(t == "/admin?q");
  CHECK(t.data() == storage.data);
  t = std::string_view(raw).substr(0, 4);  // "/api": kept in place
  CHECK(canonicalizeTarget(t, storage, &reason) == 0);
  CHECK(t.data() == raw.data());
  t = "/a%zz";
  CHECK(canonicalizeTarget(t, storage, &reason) == 400);
  const std::string huge = "/" + std::string(kMaxNormalizedTarget, 'x') + "/./y";
  t = huge;
  CHECK(canonicalizeTarget(t, storage, &reason) == 414);
  t = "*";
  CHECK(canonicalizeTarget(t, storage, &reason) == 0);
  CHECK(t == "*");
}

TEST_CASE("validHost: RFC 3986 authority syntax") {
  for (const char* h : {"", "example.com", "example.com:80", "a:0", "a:65535", "a:", "127.0.0.1:8080",
                        "[::1]", "[::1]:443", "[2001:db8::7]:1", "[::ffff:192.0.2.1]",
                        "[v1.fe80::a+en1]", "xn--bcher-kva.example", "a_b-c~d", "%61pi.example",
                        "sub!$&'()*+,;=.example"}) {
    CAPTURE(h);
    CHECK(validHost(h));
  }
  for (const char* h : {"a:b", "a:80x", "a:65536", "a:999999", "a:-1", "a:+80", "a: 80", "a:80:80",
                        "[::1", "[::1]x", "[::1]:http", "[]", "[example.com]", "[::1%25eth0]",
                        "[v.x]", "[v1.]", "a b", "a\tb", "user@host", "a/b", "a\\b", "a?b", "a#b",
                        "a%zz", "a%2", "a\x7f", "a\x01", "a\"b", "<a>", "a[b]", "a]"}) {
    CAPTURE(h);
    CHECK_FALSE(validHost(h));
  }
}

TEST_CASE("normalizePath: the normal form is stable and has no dot segments (generated paths)") {
  static constexpr char kAlphabet[] = "/./..a%2eE5fF?~";
  uint64_t state = 0x9e3779b97f4a7c15ull;  // fixed seed: deterministic
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int rewritten = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    std::string t = "/";
    const size_t len = next() % 14;
    for (size_t i = 0; i < len; ++i) t += kAlphabet[next() % (sizeof kAlphabet - 1)];
    std::string out(t.size(), '\0');
    const NormalizedPath n = normalizePath(t, out.data(), out.size());
    CAPTURE(t);
    REQUIRE(n.status != PathStatus::kTooLong);  // cap >= target.size() always suffices
    if (n.status == PathStatus::kBadEscape) continue;
    const std::string normal = n.status == PathStatus::kRewritten ? out.substr(0, n.len) : t;
    rewritten += n.status == PathStatus::kRewritten;
    std::string again(normal.size(), '\0');
    REQUIRE(normalizePath(normal, again.data(), again.size()).status == PathStatus::kUnchanged);
    const std::string path = normal.substr(0, normal.find('?'));
    REQUIRE(path.front() == '/');
    for (const char* dot : {"/./", "/../"}) REQUIRE((path + "/").find(dot) == std::string::npos);
  }
  CHECK(rewritten > 10000);
}
