#pragma once
// Random numbers for the policies that draw (p2c, geo_weighted). Each policy owns its own
// generator (one per pool per worker, so no sharing); tests inject a scripted one.

#include <cstdint>
#include <memory>

namespace sy::balancing {

class Rng {
 public:
  virtual ~Rng() = default;
  // 64 uniformly distributed bits.
  virtual uint64_t next() = 0;

  // Uniform in [0, 1) (the top 53 bits of next()).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }
  // Uniform in [0, n) for n > 0 (Lemire's multiply-shift; bias below 2^-64 * n).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
};

// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, passes BigCrush; plenty for load balancing.
class SplitMix64 final : public Rng {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() override {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// A generator seeded differently on every call (random_device mixed with a process counter),
// so workers do not draw in lockstep. Any thread.
std::unique_ptr<Rng> makeRng();

}  // namespace sy::balancing
