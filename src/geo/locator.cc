#include "switchyard/geo/locator.h"

#include <algorithm>
#include <charconv>

#include "switchyard/common/ascii.h"

namespace sy::geo {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parseDegrees(std::string_view text, double min, double max, double& out) {
  text = trim(text);
  if (text.starts_with('+')) text.remove_prefix(1);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && out >= min &&
         out <= max;
}

std::string configError(const config::Config& cfg, const config::Mark& mark,
                        const std::string& path, const std::string& message) {
  std::string out = cfg.sourcePath;
  if (mark.line > 0) out += ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
  return out + ": " + path + ": " + message;
}

}  // namespace

std::expected<std::shared_ptr<const Locator>, std::string> Locator::create(
    const config::Config& cfg) {
  std::shared_ptr<Locator> loc(new Locator());
  for (const auto& [name, where] : cfg.regions) loc->regions_.push_back({name, where});
  std::sort(loc->regions_.begin(), loc->regions_.end(),
            [](const Region& a, const Region& b) { return a.name < b.name; });
  for (const config::Pool& p : cfg.pools) {
    for (const config::Backend& b : p.backends) {
      if (!b.zone.empty() &&
          std::find(loc->zones_.begin(), loc->zones_.end(), b.zone) == loc->zones_.end()) {
        loc->zones_.push_back(b.zone);
      }
    }
  }
  loc->clientHeader_ = cfg.geo.clientHeader;
  // The loader validated every CIDR and region; errors here would be internal.
  for (size_t i = 0; i < cfg.geo.trustedProxies.size(); ++i) {
    if (auto r = loc->trusted_.add(cfg.geo.trustedProxies[i], 0); !r) {
      return std::unexpected(
          configError(cfg, {}, "geo.trusted_proxies[" + std::to_string(i) + "]", r.error()));
    }
  }
  for (size_t i = 0; i < cfg.geo.networks.size(); ++i) {
    const config::GeoNetwork& n = cfg.geo.networks[i];
    const Region* r = loc->findRegion(n.region);
    if (!r) {
      return std::unexpected(configError(cfg, {}, "geo.networks[" + std::to_string(i) + "]",
                                         "unknown region '" + n.region + "'"));
    }
    auto added = loc->networks_.add(n.cidr, static_cast<uint32_t>(r - loc->regions_.data()));
    if (!added) {
      return std::unexpected(
          configError(cfg, {}, "geo.networks[" + std::to_string(i) + "].cidr", added.error()));
    }
  }
  if (cfg.geo.defaultRegion) {
    loc->defaultRegion_ = loc->findRegion(*cfg.geo.defaultRegion);
    if (!loc->defaultRegion_) {
      return std::unexpected(configError(cfg, {}, "geo.default_region",
                                         "unknown region '" + *cfg.geo.defaultRegion + "'"));
    }
  }
  if (cfg.geo.database) {
    auto db = MmdbDatabase::open(*cfg.geo.database);
    if (!db) {
      return std::unexpected(configError(cfg, cfg.geo.databaseMark, "geo.database", db.error()));
    }
    loc->database_ = std::move(*db);
  }
  return std::shared_ptr<const Locator>(std::move(loc));
}

const Locator::Region* Locator::findRegion(std::string_view name) const {
  auto it = std::lower_bound(regions_.begin(), regions_.end(), name,
                             [](const Region& r, std::string_view n) { return r.name < n; });
  return it != regions_.end() && it->name == name ? &*it : nullptr;
}

const Locator::Region* Locator::findRegionIgnoreCase(std::string_view name) const {
  if (name.empty()) return nullptr;
  for (const Region& r : regions_)
    if (common::equalsIgnoreCase(r.name, name)) return &r;
  return nullptr;
}

const config::LatLon* Locator::region(std::string_view name) const {
  const Region* r = findRegion(name);
  return r ? &r->where : nullptr;
}

bool Locator::trusted(const sockaddr* peer) const { return trusted_.lookup(peer).has_value(); }

ClientLocation Locator::at(const Region& r, LocationSource source) {
  ClientLocation out;
  out.source = source;
  out.lat = r.where.lat;
  out.lon = r.where.lon;
  out.region = r.name;
  return out;
}

bool Locator::parseHeader(std::string_view value, ClientLocation& out) const {
  value = trim(value);
  if (value.empty()) return false;
  if (size_t comma = value.find(','); comma != std::string_view::npos) {
    double lat = 0, lon = 0;
    if (!parseDegrees(value.substr(0, comma), -90, 90, lat) ||
        !parseDegrees(value.substr(comma + 1), -180, 180, lon)) {
      return false;
    }
    out = ClientLocation{};
    out.source = LocationSource::kHeader;
    out.lat = lat;
    out.lon = lon;
    return true;
  }
  std::string_view zone;
  if (size_t slash = value.find('/'); slash != std::string_view::npos) {
    zone = trim(value.substr(slash + 1));
    value = trim(value.substr(0, slash));
  }
  const Region* r = findRegion(value);
  if (!r) return false;
  out = at(*r, LocationSource::kHeader);
  if (!zone.empty()) {
    for (const std::string& z : zones_) {
      if (z == zone) {
        out.zone = z;
        break;
      }
    }
  }
  return true;
}

ClientLocation Locator::locate(const sockaddr* peer, const std::string_view* header) const {
  ClientLocation out;
  if (header && parseHeader(*header, out)) return out;
  std::optional<IpAddress> ip = IpAddress::fromSockaddr(peer);
  if (ip) {
    if (std::optional<uint32_t> idx = networks_.lookup(*ip)) {
      return at(regions_[*idx], LocationSource::kNetwork);
    }
    MmdbDatabase::Record rec;
    if (database_ && database_->lookup(*ip, rec)) {
      if (rec.hasLocation) {
        out = ClientLocation{};
        out.source = LocationSource::kDatabase;
        out.lat = rec.lat;
        out.lon = rec.lon;
        return out;
      }
      if (const Region* r = findRegionIgnoreCase(rec.country)) {
        return at(*r, LocationSource::kDatabase);
      }
      if (const Region* r = findRegionIgnoreCase(rec.continent)) {
        return at(*r, LocationSource::kDatabase);
      }
    }
  }
  if (defaultRegion_) return at(*defaultRegion_, LocationSource::kDefaultRegion);
  return ClientLocation{};
}

}  // namespace sy::geo
