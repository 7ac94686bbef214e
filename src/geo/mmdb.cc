#include "switchyard/geo/mmdb.h"

#include <cerrno>
#include <cstring>

#include <netinet/in.h>

#ifdef SWITCHYARD_HAVE_MAXMINDDB
#include <maxminddb.h>
#endif

namespace sy::geo {

#ifdef SWITCHYARD_HAVE_MAXMINDDB

struct MmdbDatabase::Impl {
  MMDB_s db{};
};

bool MmdbDatabase::available() { return true; }

std::expected<std::unique_ptr<MmdbDatabase>, std::string> MmdbDatabase::open(
    const std::string& path) {
  auto impl = std::make_unique<Impl>();
  int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &impl->db);
  if (rc != MMDB_SUCCESS) {
    std::string why = MMDB_strerror(rc);
    if (rc == MMDB_IO_ERROR) why += std::string(" (") + std::strerror(errno) + ")";
    return std::unexpected("cannot open MaxMind database '" + path + "': " + why);
  }
  return std::unique_ptr<MmdbDatabase>(new MmdbDatabase(std::move(impl)));
}

MmdbDatabase::~MmdbDatabase() {
  if (impl_) MMDB_close(&impl_->db);
}

namespace {

bool getDouble(MMDB_entry_s* entry, const char* a, const char* b, double& out) {
  MMDB_entry_data_s data{};
  if (MMDB_get_value(entry, &data, a, b, nullptr) != MMDB_SUCCESS || !data.has_data) return false;
  if (data.type == MMDB_DATA_TYPE_DOUBLE) {
    out = data.double_value;
    return true;
  }
  if (data.type == MMDB_DATA_TYPE_FLOAT) {
    out = data.float_value;
    return true;
  }
  return false;
}

void getCode(MMDB_entry_s* entry, const char* a, const char* b, char (&out)[4]) {
  MMDB_entry_data_s data{};
  out[0] = '\0';
  if (MMDB_get_value(entry, &data, a, b, nullptr) != MMDB_SUCCESS || !data.has_data ||
      data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size == 0 || data.data_size > 3) {
    return;
  }
  std::memcpy(out, data.utf8_string, data.data_size);
  out[data.data_size] = '\0';
}

}  // namespace

bool MmdbDatabase::lookup(const IpAddress& ip, Record& out) const {
  out = Record{};
  sockaddr_storage ss{};
  if (ip.family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, ip.bytes, 4);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, ip.bytes, 16);
  }
  int err = 0;
  MMDB_lookup_result_s result =
      MMDB_lookup_sockaddr(&impl_->db, reinterpret_cast<const sockaddr*>(&ss), &err);
  if (err != MMDB_SUCCESS || !result.found_entry) return false;
  double lat = 0, lon = 0;
  if (getDouble(&result.entry, "location", "latitude", lat) &&
      getDouble(&result.entry, "location", "longitude", lon) && lat >= -90 && lat <= 90 &&
      lon >= -180 && lon <= 180) {
    out.hasLocation = true;
    out.lat = lat;
    out.lon = lon;
  }
  getCode(&result.entry, "country", "iso_code", out.country);
  getCode(&result.entry, "continent", "code", out.continent);
  return out.hasLocation || out.country[0] || out.continent[0];
}

#else  // built without libmaxminddb

struct MmdbDatabase::Impl {};

bool MmdbDatabase::available() { return false; }

std::expected<std::unique_ptr<MmdbDatabase>, std::string> MmdbDatabase::open(
    const std::string& path) {
  return std::unexpected("cannot open MaxMind database '" + path +
                         "': this switchyard was built without MaxMind support (libmaxminddb-dev "
                         "was missing at build time): install libmaxminddb-dev and rebuild, or "
                         "remove geo.database");
}

MmdbDatabase::~MmdbDatabase() = default;

bool MmdbDatabase::lookup(const IpAddress&, Record&) const { return false; }

#endif

MmdbDatabase::MmdbDatabase(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

}  // namespace sy::geo
