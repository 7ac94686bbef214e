#include "switchyard/geo/location.h"

#include <cmath>

namespace sy::geo {

const char* sourceName(LocationSource source) {
  switch (source) {
    case LocationSource::kHeader:
      return "header";
    case LocationSource::kNetwork:
      return "network";
    case LocationSource::kDatabase:
      return "database";
    case LocationSource::kDefaultRegion:
      return "default_region";
    case LocationSource::kNone:
      break;
  }
  return "none";
}

double distanceKm(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kEarthRadiusKm = 6371.0088;
  constexpr double kRad = M_PI / 180.0;
  const double dLat = (lat2 - lat1) * kRad;
  const double dLon = (lon2 - lon1) * kRad;
  const double s =
      std::sin(dLat / 2) * std::sin(dLat / 2) +
      std::cos(lat1 * kRad) * std::cos(lat2 * kRad) * std::sin(dLon / 2) * std::sin(dLon / 2);
  return 2 * kEarthRadiusKm * std::asin(std::sqrt(std::min(1.0, s)));
}

}  // namespace sy::geo
