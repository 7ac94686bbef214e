#pragma once
// Where a client is, as resolved by geo::Locator and carried to the balancing policy in
// balancing::SelectionContext, and the great-circle distance used to order locality tiers.
// Plain values; any thread.

#include <cstdint>
#include <string_view>

namespace sy::geo {

// Which source placed the client (config/README.md `geo`: the first source that answers wins).
enum class LocationSource : uint8_t {
  kNone,           // nothing placed the client: the policy makes a plain weighted choice
  kHeader,         // geo.client_header, sent by a trusted proxy
  kNetwork,        // geo.networks (longest prefix)
  kDatabase,       // geo.database (MaxMind .mmdb)
  kDefaultRegion,  // geo.default_region
};

// "header", "network", "database", "default_region" or "none" (for logs).
const char* sourceName(LocationSource source);

struct ClientLocation {
  LocationSource source = LocationSource::kNone;
  double lat = 0;
  double lon = 0;
  // The named region the client was placed in, if any. Views into the Locator (snapshot
  // lifetime), never into request bytes, so they stay valid for retries of the request.
  std::string_view region;
  std::string_view zone;  // a backend zone label, from a "region/zone" header value

  bool known() const { return source != LocationSource::kNone; }
};

// Great-circle distance in kilometres between two points given in degrees (haversine on a
// sphere of the Earth's mean radius, 6371.0088 km; error under 0.5%, plenty to order regions).
double distanceKm(double lat1, double lon1, double lat2, double lon2);

}  // namespace sy::geo
