#include "switchyard/http/request_id.h"

#include <sys/random.h>

#include <cstdint>

#include <uv.h>

namespace sy::http {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct IdState {
  uint64_t seed[2];
  uint64_t counter = 0;
  IdState() {
    if (getrandom(seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
      seed[0] = uv_hrtime() ^ reinterpret_cast<uintptr_t>(this);
      seed[1] = splitmix64(seed[0]);
    }
  }
};

void putHex(char* out, uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = kHex[v & 15];
    v >>= 4;
  }
}

}  // namespace

bool acceptableRequestId(std::string_view v) {
  if (v.empty() || v.size() > kMaxRequestIdLength) return false;
  for (char c : v)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

std::string_view findRequestId(const FieldsView& f) {
  for (uint32_t i = 0; i < f.size(); ++i) {
    if (f.nameSize(i) == 12 && equalsIgnoreCase(f.name(i), "x-request-id")) {
      std::string_view v = trimOws(f.value(i));
      return acceptableRequestId(v) ? v : std::string_view();
    }
  }
  return {};
}

void generateRequestId(char (&out)[kGeneratedRequestIdLength]) {
  thread_local IdState state;
  const uint64_t n = state.counter++;
  // splitmix64 is a bijection, so the first half never repeats within a thread.
  putHex(out, splitmix64(state.seed[0] + n));
  putHex(out + 16, splitmix64(state.seed[1] ^ n));
}

}  // namespace sy::http
