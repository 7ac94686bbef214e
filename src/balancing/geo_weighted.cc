#include "switchyard/balancing/geo_weighted.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <limits>

#include "switchyard/common/log.h"
#include "switchyard/geo/locator.h"

namespace sy::balancing {

GeoWeighted::GeoWeighted(const upstream::BackendSet& set, const geo::Locator* geo,
                         std::unique_ptr<Rng> rng)
    : set_(set), rng_(std::move(rng)), overprovisioning_(set.cfg.geoOverprovisioning) {
  needs_.location = true;
  if (overprovisioning_ < 1) overprovisioning_ = 1;
  const size_t n = set.backends.size();
  current_.assign(n, 0);
  zones_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const config::Backend& cfg = set.backends[i]->config();
    zones_[i] = cfg.zone;
    all_.push_back(static_cast<uint32_t>(i));
    std::optional<config::LatLon> where = cfg.location;
    if (!where && !cfg.region.empty() && geo) {
      if (const config::LatLon* r = geo->region(cfg.region)) where = *r;
    }
    auto same = [&](const Place& p) {
      return where ? p.placed && p.lat == where->lat && p.lon == where->lon : !p.placed;
    };
    auto it = std::find_if(places_.begin(), places_.end(), same);
    if (it == places_.end()) {
      Place p;
      if (where) {
        p.placed = true;
        p.lat = where->lat;
        p.lon = where->lon;
        if (!cfg.location && !cfg.region.empty()) {
          p.label = cfg.region;
        } else {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%.2f,%.2f", p.lat, p.lon);
          p.label = buf;
        }
      } else {
        p.label = "unplaced";
      }
      places_.push_back(std::move(p));
      it = places_.end() - 1;
    }
    it->members.push_back(static_cast<uint32_t>(i));
  }
  order_.resize(places_.size());
  distance_.resize(places_.size());
  tierMembers_.resize(n);
  tiers_.resize(places_.size() + 1);
  health_.resize(places_.size() + 1);
  loads_.resize(places_.size() + 1);
}

void GeoWeighted::spill(const double* health, size_t n, double* loads) {
  double left = 1.0, sum = 0;
  for (size_t i = 0; i < n; ++i) {
    loads[i] = std::min(health[i], left);
    left -= loads[i];
    sum += health[i];
  }
  if (sum < 1.0 && sum > 0) {
    for (size_t i = 0; i < n; ++i) loads[i] = health[i] / sum;
  }
}

upstream::Backend* GeoWeighted::pickInRange(const uint32_t* members, size_t count,
                                            const SelectionContext& ctx, bool panic) {
  int64_t total = 0;
  int64_t best = -1;
  for (size_t k = 0; k < count; ++k) {
    const uint32_t i = members[k];
    const upstream::Backend& b = *set_.backends[i];
    if (!isCandidate(b, ctx, panic)) continue;
    const int64_t w = selectionWeight(b);
    current_[i] += w;
    total += w;
    if (best < 0 || current_[i] > current_[best]) best = i;
  }
  if (best < 0) return nullptr;
  current_[best] -= total;
  return set_.backends[best].get();
}

size_t GeoWeighted::buildTiers(const geo::ClientLocation& loc) {
  const size_t placeCount = places_.size();
  for (size_t p = 0; p < placeCount; ++p) {
    order_[p] = static_cast<uint32_t>(p);
    distance_[p] = places_[p].placed
                       ? geo::distanceKm(loc.lat, loc.lon, places_[p].lat, places_[p].lon)
                       : std::numeric_limits<double>::infinity();
  }
  // Few places: insertion sort, stable, no allocation.
  for (size_t i = 1; i < placeCount; ++i) {
    const uint32_t v = order_[i];
    size_t j = i;
    while (j > 0 && distance_[order_[j - 1]] > distance_[v]) {
      order_[j] = order_[j - 1];
      --j;
    }
    order_[j] = v;
  }

  size_t tierCount = 0;
  uint32_t filled = 0;
  const bool zoned = !loc.zone.empty();
  if (zoned) {
    Tier& t = tiers_[tierCount];
    t.begin = filled;
    for (size_t i = 0; i < zones_.size(); ++i)
      if (zones_[i] == loc.zone) tierMembers_[filled++] = static_cast<uint32_t>(i);
    t.end = filled;
    t.place = -1;
    t.distanceKm = 0;
    if (t.end > t.begin) ++tierCount;
  }
  for (size_t k = 0; k < placeCount; ++k) {
    const Place& p = places_[order_[k]];
    Tier& t = tiers_[tierCount];
    t.begin = filled;
    for (uint32_t i : p.members)
      if (!zoned || zones_[i] != loc.zone) tierMembers_[filled++] = i;
    t.end = filled;
    t.place = static_cast<int32_t>(order_[k]);
    t.distanceKm = distance_[order_[k]];
    if (t.end > t.begin) ++tierCount;
  }
  return tierCount;
}

upstream::Backend* GeoWeighted::select(const SelectionContext& ctx) {
  const bool panic = panicMode(set_);
  if (!ctx.location) {
    upstream::Backend* b = pickInRange(all_.data(), all_.size(), ctx, panic);
    LOG_DEBUG("pool %s: client not located: weighted choice over all backends -> %s",
              set_.name.c_str(), b ? b->name().c_str() : "none");
    return b;
  }
  const geo::ClientLocation& loc = *ctx.location;
  const size_t tierCount = buildTiers(loc);

  for (size_t t = 0; t < tierCount; ++t) {
    Tier& tier = tiers_[t];
    int64_t enabled = 0, healthy = 0;
    for (uint32_t k = tier.begin; k < tier.end; ++k) {
      const upstream::Backend& b = *set_.backends[tierMembers_[k]];
      if (b.adminState() != upstream::AdminState::kEnabled) continue;
      const int64_t w = std::max<uint32_t>(b.weight(), 1);
      enabled += w;
      if (panic || b.available()) healthy += w;
    }
    tier.health = enabled > 0 ? std::min(1.0, static_cast<double>(healthy) /
                                                  static_cast<double>(enabled) * overprovisioning_)
                              : 0.0;
    health_[t] = tier.health;
  }
  spill(health_.data(), tierCount, loads_.data());

  const double draw = rng_->uniform();
  size_t drawn = 0;
  double cumulative = 0;
  size_t lastLoaded = tierCount;
  for (size_t t = 0; t < tierCount; ++t) {
    if (loads_[t] <= 0) continue;
    lastLoaded = t;
    cumulative += loads_[t];
    if (draw < cumulative) break;
  }
  drawn = lastLoaded < tierCount ? lastLoaded : 0;

  upstream::Backend* chosen = nullptr;
  size_t used = drawn;
  // The drawn tier first, then the following ones, then the nearer ones.
  for (size_t k = 0; k < tierCount && !chosen; ++k) {
    used = (drawn + k) % tierCount;
    const Tier& tier = tiers_[used];
    chosen = pickInRange(tierMembers_.data() + tier.begin, tier.end - tier.begin, ctx, panic);
  }
  if (log::enabled(log::Level::kDebug)) logChoice(loc, tierCount, draw, drawn, used, chosen, panic);
  return chosen;
}

void GeoWeighted::logChoice(const geo::ClientLocation& loc, size_t tierCount, double draw,
                            size_t drawn, size_t used, const upstream::Backend* chosen,
                            bool panic) const {
  char tiers[768];
  size_t len = 0;
  tiers[0] = '\0';
  for (size_t t = 0; t < tierCount && len < sizeof tiers; ++t) {
    const Tier& tier = tiers_[t];
    const char* label = tier.place < 0 ? "zone" : places_[tier.place].label.c_str();
    int n = std::snprintf(tiers + len, sizeof tiers - len,
                          "%s#%zu %s%s%.*s %.0fkm health %.0f%% share %.1f%%", t ? "; " : "", t,
                          label, tier.place < 0 ? " " : "",
                          tier.place < 0 ? static_cast<int>(loc.zone.size()) : 0, loc.zone.data(),
                          tier.distanceKm, tier.health * 100, loads_[t] * 100);
    if (n < 0) break;
    len += static_cast<size_t>(n);
  }
  char where[160];
  if (!loc.region.empty()) {
    std::snprintf(where, sizeof where, "%.*s%s%.*s", static_cast<int>(loc.region.size()),
                  loc.region.data(), loc.zone.empty() ? "" : "/", static_cast<int>(loc.zone.size()),
                  loc.zone.data());
  } else {
    std::snprintf(where, sizeof where, "%.2f,%.2f", loc.lat, loc.lon);
  }
  const char* why = used == drawn ? "drawn" : "drawn tier had no untried candidate";
  log::write(log::Level::kDebug,
             "pool %s: client at %s (from %s)%s -> tier #%zu (%s; draw %.3f) -> %s [%s]",
             set_.name.c_str(), where, geo::sourceName(loc.source),
             panic ? " [panic: all enabled backends count as healthy]" : "", used, why, draw,
             chosen ? chosen->name().c_str() : "none", tiers);
}

}  // namespace sy::balancing
