#pragma once
// Test helpers for the balancing tests: hand-built BackendSets, a scripted Rng, and pick
// helpers that name the chosen backend.

#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/balancing/policy.h"
#include "switchyard/balancing/registry.h"
#include "switchyard/balancing/rng.h"

namespace sy::balancing::test {

struct Spec {
  std::string name;
  uint32_t weight = 1;
  std::string region = {};
  std::string zone = {};
  std::optional<config::LatLon> location = {};
};

inline std::unique_ptr<upstream::BackendSet> makeSet(const std::vector<Spec>& specs,
                                                     const std::string& policy = "round_robin",
                                                     double panicThreshold = 0.5) {
  auto set = std::make_unique<upstream::BackendSet>();
  set->name = "pool";
  set->cfg.name = "pool";
  const PolicyInfo* info = findPolicy(policy);
  REQUIRE_MESSAGE(info != nullptr, "no policy named " << policy);
  set->cfg.policy = info->kind;
  set->cfg.panicThreshold = panicThreshold;
  for (const Spec& s : specs) {
    config::Backend b;
    b.name = s.name;
    b.weight = s.weight;
    b.region = s.region;
    b.zone = s.zone;
    b.location = s.location;
    set->cfg.backends.push_back(b);
    set->backends.push_back(std::make_shared<upstream::Backend>(b, "pool", 1));
  }
  return set;
}

// Returns the queued values in order, then repeats the last one (0 if none was queued).
class ScriptedRng final : public Rng {
 public:
  ScriptedRng() = default;
  explicit ScriptedRng(std::vector<uint64_t> values) : values_(values.begin(), values.end()) {}
  void push(uint64_t v) { values_.push_back(v); }
  // Queues the value whose uniform() is `u` (0 <= u < 1).
  void pushUniform(double u) { push(static_cast<uint64_t>(u * 0x1p64)); }
  // Queues the value whose below(n) is `k` (0 <= k < n).
  void pushBelow(uint64_t k, uint64_t n) {
    using U128 = unsigned __int128;
    push(static_cast<uint64_t>(((U128{k} << 64) + (U128{1} << 63)) / n));
  }
  uint64_t next() override {
    if (values_.empty()) return last_;
    last_ = values_.front();
    values_.pop_front();
    return last_;
  }

 private:
  std::deque<uint64_t> values_;
  uint64_t last_ = 0;
};

inline std::string pick(Policy& p, const SelectionContext& ctx = {}) {
  upstream::Backend* b = p.select(ctx);
  return b ? b->name() : "<none>";
}

inline std::string picks(Policy& p, int n, const SelectionContext& ctx = {}) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += pick(p, ctx);
  }
  return s;
}

}  // namespace sy::balancing::test
