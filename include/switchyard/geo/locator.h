#pragma once
// Client location resolution for geo_weighted pools (config/README.md `geo`). Built once per
// snapshot on the main thread from the config (regions, trusted proxies, the CIDR table and the
// optional MaxMind database), then shared read-only by all workers: every method is const,
// thread-safe and allocation-free.
//
// Sources, first hit wins:
//   1. the `geo.client_header` value, only when the peer is in `geo.trusted_proxies`
//      (the caller checks trusted() before passing the header): a region name, "region/zone",
//      or "lat,lon" in degrees;
//   2. `geo.networks`, longest prefix;
//   3. `geo.database`: the record's coordinates (City databases), else a region named like the
//      record's country code ("IE") or continent code ("EU"), compared case-insensitively;
//   4. `geo.default_region`.
// A header that does not parse, or names an unknown region, is ignored (the next source
// answers).

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>

#include "switchyard/config/config.h"
#include "switchyard/geo/cidr_table.h"
#include "switchyard/geo/location.h"
#include "switchyard/geo/mmdb.h"

namespace sy::geo {

class Locator {
 public:
  // Builds the locator for `cfg`; opens geo.database if set. The error is a full config
  // message ("FILE:LINE:COL: geo.database: cannot open ..."). Main thread.
  static std::expected<std::shared_ptr<const Locator>, std::string> create(
      const config::Config& cfg);

  // Whether `peer` may set the client header.
  bool trusted(const sockaddr* peer) const;
  // The header that carries a client location ("" = disabled).
  const std::string& clientHeader() const { return clientHeader_; }
  // Resolves the client at `peer`. `header` is the client header's value when the peer is
  // trusted and sent it, else nullptr.
  ClientLocation locate(const sockaddr* peer, const std::string_view* header) const;

  // A named region: its coordinates, or nullptr if not defined under `regions:`.
  const config::LatLon* region(std::string_view name) const;

 private:
  struct Region {
    std::string name;
    config::LatLon where;
  };
  Locator() = default;
  const Region* findRegion(std::string_view name) const;
  const Region* findRegionIgnoreCase(std::string_view name) const;
  bool parseHeader(std::string_view value, ClientLocation& out) const;
  static ClientLocation at(const Region& r, LocationSource source);

  std::vector<Region> regions_;     // sorted by name
  std::vector<std::string> zones_;  // zone labels of all backends, for "region/zone" headers
  CidrTable trusted_;
  CidrTable networks_;  // value = index into regions_
  std::string clientHeader_;
  std::unique_ptr<MmdbDatabase> database_;
  const Region* defaultRegion_ = nullptr;
};

}  // namespace sy::geo
