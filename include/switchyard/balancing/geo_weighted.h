#pragma once
// Geo-weighted balancing: each client is served by the nearest healthy capacity, spilling to
// the next-nearest as a locality degrades.
//
// Tiers. Backends are placed by `location` or else their `region`'s coordinates; backends at
// the same coordinates form one place. For a client at a known location (SelectionContext::
// location) the tiers are, in order: the backends in the client's zone (when a trusted proxy
// named one), then each place by great-circle distance from the client (nearest first; equal
// distances keep config order).
//
// Spill (Envoy's priority-load arithmetic). A tier's health is
//   health = min(1, healthy_weight / enabled_weight * overprovisioning)
// over its enabled backends (configured weights; draining and disabled ones are out of the
// tier). Tier 0 takes min(health0, 1) of the traffic, tier 1 min(health1, what is left), and so
// on; if the healths add up to less than 1 the traffic is split in proportion to them. With
// the default overprovisioning 1.4 a tier keeps everything until under 1/1.4 = 71.4% of it is
// healthy: at 70% it keeps 98%, at 50% 70%, at 25% 35%. A request draws its tier at random
// with these shares (injected Rng); within the tier it goes by smooth weighted round robin.
// A drawn tier with no untried candidate hands the request to the next tier that has one.
//
// Health filtering and panic are the shared helper's: in panic mode every enabled backend is
// a candidate and counts as healthy (fail open), so the nearest tier takes the traffic.
// A client nothing placed gets a plain smooth weighted round robin over the whole pool.
// LOG_DEBUG shows, per request, the client's location and source, each tier's distance,
// health and share, the draw and the backend chosen.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/balancing/policy.h"
#include "switchyard/balancing/rng.h"

namespace sy::balancing {

class GeoWeighted final : public Policy {
 public:
  // `geo` gives region coordinates (may be null when every backend has a location).
  GeoWeighted(const upstream::BackendSet& set, const geo::Locator* geo, std::unique_ptr<Rng> rng);
  upstream::Backend* select(const SelectionContext& ctx) override;

  // The spill arithmetic above: loads[i] from health[i] (each within [0, 1]) for n tiers in
  // order. The loads add up to 1 unless every health is 0 (then all loads are 0).
  static void spill(const double* health, size_t n, double* loads);

 private:
  struct Place {
    double lat = 0;
    double lon = 0;
    bool placed = false;  // false: backends without coordinates (last tier)
    std::string label;    // region name or "lat,lon", for logs
    std::vector<uint32_t> members;
  };
  struct Tier {
    uint32_t begin = 0;  // range in tierMembers_
    uint32_t end = 0;
    int32_t place = -1;  // -1: the client's zone
    double distanceKm = 0;
    double health = 0;
  };

  upstream::Backend* pickInRange(const uint32_t* members, size_t count, const SelectionContext& ctx,
                                 bool panic);
  size_t buildTiers(const geo::ClientLocation& loc);
  void logChoice(const geo::ClientLocation& loc, size_t tierCount, double draw, size_t drawn,
                 size_t used, const upstream::Backend* chosen, bool panic) const;

  const upstream::BackendSet& set_;
  std::unique_ptr<Rng> rng_;
  double overprovisioning_;
  std::vector<Place> places_;
  std::vector<std::string> zones_;  // per backend
  std::vector<int64_t> current_;    // smooth WRR scores, per backend
  std::vector<uint32_t> all_;       // 0..n-1, for clients nothing placed
  // Per-select scratch, sized once (no allocation per request).
  std::vector<uint32_t> order_;        // place indices by distance
  std::vector<double> distance_;       // per place
  std::vector<uint32_t> tierMembers_;  // backends, grouped by tier
  std::vector<Tier> tiers_;
  std::vector<double> health_;
  std::vector<double> loads_;
};

}  // namespace sy::balancing
