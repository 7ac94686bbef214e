// Coverage feedback for libFuzzer from g++-built code.
//
// clang 14 (the only libFuzzer compiler in Debian bookworm) cannot compile this project
// (libstdc++ 12's <expected> needs newer concepts support), and libFuzzer dropped GCC's
// -fsanitize-coverage=trace-pc callback. So the fuzz build compiles everything with g++ and
// -fsanitize-coverage=trace-pc, and this callback folds each edge's return address into a
// table of 8-bit counters that libFuzzer reads (the same data clang's inline-8bit-counters
// give it). It must win over libFuzzer's own stub, hence --allow-multiple-definition at link.

#include <cstddef>
#include <cstdint>

extern "C" void __sanitizer_cov_8bit_counters_init(uint8_t* start, uint8_t* stop);

namespace {
constexpr size_t kCounters = 1 << 16;
alignas(64) uint8_t gCounters[kCounters];

struct Register {
  Register() { __sanitizer_cov_8bit_counters_init(gCounters, gCounters + kCounters); }
} gRegister;
}  // namespace

extern "C" __attribute__((no_sanitize_coverage)) void __sanitizer_cov_trace_pc() {
  uintptr_t pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  uint64_t h = (pc ^ (pc >> 17)) * 0x9E3779B97F4A7C15ull;
  ++gCounters[(h >> 48) & (kCounters - 1)];
}
