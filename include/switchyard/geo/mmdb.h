#pragma once
// A MaxMind .mmdb database (GeoLite2/GeoIP2 City or Country) read with Debian's libmaxminddb.
// Opened (memory-mapped) once on the main thread; lookups are read-only and safe from any
// thread, and do not allocate. The library is optional at build time: without it, open()
// fails with a message saying so, which `--check`, start-up and reload report as a config
// error at geo.database.

#include <expected>
#include <memory>
#include <string>

#include "switchyard/geo/cidr_table.h"

namespace sy::geo {

class MmdbDatabase {
 public:
  // What a lookup found. City databases carry coordinates; Country databases only codes.
  struct Record {
    bool hasLocation = false;
    double lat = 0;
    double lon = 0;
    char country[4] = {};    // ISO 3166-1 alpha-2 ("IE"), "" if absent
    char continent[4] = {};  // "EU", "NA", ... ; "" if absent
  };

  // Whether this build can read .mmdb files (libmaxminddb was found at build time).
  static bool available();
  // Opens `path`. Errors name the file and libmaxminddb's reason.
  static std::expected<std::unique_ptr<MmdbDatabase>, std::string> open(const std::string& path);

  ~MmdbDatabase();
  MmdbDatabase(const MmdbDatabase&) = delete;
  MmdbDatabase& operator=(const MmdbDatabase&) = delete;

  // The record for `ip`, or false when the database has no entry (or the entry has neither
  // coordinates nor codes).
  bool lookup(const IpAddress& ip, Record& out) const;

 private:
  struct Impl;
  explicit MmdbDatabase(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sy::geo
