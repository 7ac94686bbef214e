#include "switchyard/balancing/least_conn.h"

namespace sy::balancing {

LeastConn::LeastConn(const upstream::BackendSet& set)
    : set_(set),
      current_(set.backends.size(), 0),
      load_(set.backends.size(), -1),
      weight_(set.backends.size(), 1) {}

upstream::Backend* LeastConn::select(const SelectionContext& ctx) {
  const bool panic = panicMode(set_);
  const size_t n = set_.backends.size();
  int best = -1;
  for (size_t i = 0; i < n; ++i) {
    const upstream::Backend& b = *set_.backends[i];
    if (!isCandidate(b, ctx, panic)) {
      load_[i] = -1;
      continue;
    }
    // Read the shared counter once: other workers move it while we compare.
    const int32_t inFlight = b.inFlight();
    load_[i] = inFlight > 0 ? inFlight : 0;
    weight_[i] = selectionWeight(b);
    if (best < 0 || load_[i] * weight_[best] < load_[best] * weight_[i]) {
      best = static_cast<int>(i);
    }
  }
  if (best < 0) return nullptr;

  const int64_t bestLoad = load_[best];
  const int64_t bestWeight = weight_[best];
  int64_t total = 0;
  int pick = -1;
  for (size_t i = 0; i < n; ++i) {
    if (load_[i] < 0 || load_[i] * bestWeight != bestLoad * weight_[i]) continue;
    current_[i] += weight_[i];
    total += weight_[i];
    if (pick < 0 || current_[i] > current_[pick]) pick = static_cast<int>(i);
  }
  current_[pick] -= total;
  return set_.backends[pick].get();
}

}  // namespace sy::balancing
