#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "switchyard/config/loader.h"
#include "geo_test_util.h"
#include "switchyard/geo/locator.h"
#include "switchyard/geo/mmdb.h"

using sy::geo::ClientLocation;
using sy::geo::LocationSource;
using sy::geo::Locator;

namespace {

using sy::geo::test::addr;

const sockaddr* sa(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

constexpr const char* kBase = R"(listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]
pools:
  - name: web
    policy: geo_weighted
    backends:
      - {name: eu1, address: 127.0.0.1:9001, region: eu-west, zone: eu-west-1a}
      - {name: us1, address: 127.0.0.1:9002, region: us-east}
regions:
  eu-west: {lat: 53.35, lon: -6.26}
  us-east: {lat: 38.95, lon: -77.45}
  DE: {lat: 50.11, lon: 8.68}
  as: {lat: 1.35, lon: 103.82}
)";

std::shared_ptr<const Locator> build(const std::string& geoSection) {
  auto cfg = sy::config::loadConfigString(std::string(kBase) + geoSection, "t.yaml");
  if (!cfg) FAIL("config: " << cfg.error().format());
  auto loc = Locator::create(*cfg);
  if (!loc) FAIL("locator: " << loc.error());
  return *loc;
}

ClientLocation locate(const Locator& l, const char* peer, const char* header = nullptr) {
  sockaddr_storage ss = addr(peer);
  std::string_view h = header ? header : "";
  return l.locate(sa(ss), header ? &h : nullptr);
}

// The repository's tests/geo directory, wherever the test runs from.
std::filesystem::path testDir() {
  std::filesystem::path here = std::filesystem::path(__FILE__).parent_path();
  if (std::filesystem::exists(here / "make_test_mmdb.pl")) return here;
  if (const char* root = std::getenv("MESON_SOURCE_ROOT")) {
    return std::filesystem::path(root) / "tests" / "geo";
  }
  return "tests/geo";
}

}  // namespace

TEST_CASE("distanceKm: known great-circle distances") {
  CHECK(sy::geo::distanceKm(53.35, -6.26, 53.35, -6.26) == doctest::Approx(0.0));
  // Dublin - Ashburn (Virginia) about 5,450 km; London - Paris about 344 km.
  CHECK(sy::geo::distanceKm(53.35, -6.26, 38.95, -77.45) == doctest::Approx(5450).epsilon(0.01));
  CHECK(sy::geo::distanceKm(51.5074, -0.1278, 48.8566, 2.3522) ==
        doctest::Approx(343.5).epsilon(0.01));
  // Antipodes: half the circumference.
  CHECK(sy::geo::distanceKm(0, 0, 0, 180) == doctest::Approx(20015.1).epsilon(0.001));
}

TEST_CASE("Locator: only trusted proxies may set the header") {
  auto l = build("");  // default: trusted_proxies [127.0.0.0/8, ::1], header X-Client-Region
  CHECK(l->clientHeader() == "X-Client-Region");
  sockaddr_storage local = addr("127.0.0.1"), other = addr("10.0.0.1"),
                   mapped = addr("::ffff:127.0.0.5"), v6 = addr("::1"), v6other = addr("fd00::1");
  CHECK(l->trusted(sa(local)));
  CHECK(l->trusted(sa(mapped)));
  CHECK(l->trusted(sa(v6)));
  CHECK_FALSE(l->trusted(sa(other)));
  CHECK_FALSE(l->trusted(sa(v6other)));
  auto custom = build("geo: {trusted_proxies: [10.0.0.0/8, '::1'], client_header: X-Geo}\n");
  CHECK(custom->clientHeader() == "X-Geo");
  CHECK_FALSE(custom->trusted(sa(local)));
  CHECK(custom->trusted(sa(other)));
  CHECK(custom->trusted(sa(v6)));
  auto none = build("geo: {trusted_proxies: []}\n");
  CHECK_FALSE(none->trusted(sa(local)));
}

TEST_CASE("Locator: header values") {
  auto l = build("");
  ClientLocation c = locate(*l, "127.0.0.1", "eu-west");
  CHECK(c.source == LocationSource::kHeader);
  CHECK(c.region == "eu-west");
  CHECK(c.zone.empty());
  CHECK(c.lat == doctest::Approx(53.35));
  c = locate(*l, "127.0.0.1", " us-east ");
  CHECK(c.region == "us-east");
  c = locate(*l, "127.0.0.1", "eu-west/eu-west-1a");
  CHECK(c.region == "eu-west");
  CHECK(c.zone == "eu-west-1a");
  c = locate(*l, "127.0.0.1", "eu-west/no-such-zone");
  CHECK(c.region == "eu-west");
  CHECK(c.zone.empty());
  c = locate(*l, "127.0.0.1", "48.86, 2.35");
  CHECK(c.source == LocationSource::kHeader);
  CHECK(c.region.empty());
  CHECK(c.lat == doctest::Approx(48.86));
  CHECK(c.lon == doctest::Approx(2.35));
  c = locate(*l, "127.0.0.1", "-33.9,+151.2");
  CHECK(c.lat == doctest::Approx(-33.9));
  CHECK(c.lon == doctest::Approx(151.2));
  for (const char* bad : {"", "nowhere", "EU-WEST", "91,0", "0,181", "1,2,3", "a,b", "1,"}) {
    CAPTURE(bad);
    CHECK(locate(*l, "127.0.0.1", bad).source == LocationSource::kNone);
  }
}

TEST_CASE("Locator: networks by longest prefix, then default_region") {
  auto l = build(R"(geo:
  networks:
    - {cidr: 10.0.0.0/8, region: us-east}
    - {cidr: 10.1.0.0/16, region: eu-west}
    - {cidr: "fd00::/8", region: eu-west}
  default_region: DE
)");
  ClientLocation c = locate(*l, "10.1.2.3");
  CHECK(c.source == LocationSource::kNetwork);
  CHECK(c.region == "eu-west");
  CHECK(locate(*l, "10.2.0.1").region == "us-east");
  CHECK(locate(*l, "fd12::1").region == "eu-west");
  c = locate(*l, "192.0.2.1");
  CHECK(c.source == LocationSource::kDefaultRegion);
  CHECK(c.region == "DE");
  // A parsed header wins over the table; an unparsable one falls through to it.
  CHECK(locate(*l, "10.1.2.3", "us-east").region == "us-east");
  CHECK(locate(*l, "10.1.2.3", "bogus").region == "eu-west");
  auto bare = build("");
  CHECK(locate(*bare, "192.0.2.1").source == LocationSource::kNone);
}

TEST_CASE("Locator: a missing database is an error that names the key") {
  if (!sy::geo::MmdbDatabase::available()) {
    MESSAGE("skipped: built without libmaxminddb (opening geo.database fails with a message)");
    return;
  }
  auto cfg = sy::config::loadConfigString(
      std::string(kBase) + "geo:\n  database: /nonexistent/GeoLite2-City.mmdb\n", "t.yaml");
  REQUIRE(cfg.has_value());
  auto loc = Locator::create(*cfg);
  REQUIRE_FALSE(loc.has_value());
  CHECK(
      loc.error().starts_with("t.yaml:14:13: geo.database: cannot open MaxMind database "
                              "'/nonexistent/GeoLite2-City.mmdb'"));
}

TEST_CASE("Locator: MaxMind database lookup") {
  if (!sy::geo::MmdbDatabase::available()) {
    MESSAGE("skipped: built without libmaxminddb");
    return;
  }
  char dir[] = "/tmp/switchyard-mmdb-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::filesystem::path db = std::filesystem::path(dir) / "test.mmdb";
  std::string cmd =
      "perl '" + (testDir() / "make_test_mmdb.pl").string() + "' '" + db.string() + "' 2>&1";
  std::string output;
  int status = -1;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, p)) output += buf;
    status = pclose(p);
  }
  if (status != 0) {
    std::filesystem::remove_all(dir);
    if (output.find("Can't locate MaxMind/DB/Writer") != std::string::npos || status == 127 * 256) {
      MESSAGE(
          "skipped: cannot build the test .mmdb (install libmaxmind-db-writer-perl, the "
          "`test` profile of scripts/install-deps.sh): "
          << output);
      return;
    }
    FAIL("make_test_mmdb.pl failed (" << status << "): " << output);
  }

  auto l = build("geo:\n  database: " + db.string() +
                 "\n  networks: [{cidr: 81.2.69.128/25, region: us-east}]\n");
  {  // City record: coordinates
    ClientLocation c = locate(*l, "81.2.69.7");
    CHECK(c.source == LocationSource::kDatabase);
    CHECK(c.region.empty());
    CHECK(c.lat == doctest::Approx(53.35));
    CHECK(c.lon == doctest::Approx(-6.26));
    c = locate(*l, "2001:db8:1::42");
    CHECK(c.source == LocationSource::kDatabase);
    CHECK(c.lat == doctest::Approx(38.95));
    CHECK(c.lon == doctest::Approx(-77.45));
    CHECK(locate(*l, "::ffff:81.2.69.7").lat == doctest::Approx(53.35));
  }
  {  // Country record: a region named like the country or continent code
    ClientLocation c = locate(*l, "198.51.100.9");
    CHECK(c.source == LocationSource::kDatabase);
    CHECK(c.region == "DE");
    c = locate(*l, "203.0.113.9");
    CHECK(c.region == "as");  // continent "AS", matched case-insensitively
  }
  {  // networks come before the database; unknown addresses fall through
    CHECK(locate(*l, "81.2.69.200").source == LocationSource::kNetwork);
    CHECK(locate(*l, "192.0.2.1").source == LocationSource::kNone);
  }
  {  // direct reader
    auto reader = sy::geo::MmdbDatabase::open(db.string());
    REQUIRE(reader.has_value());
    sockaddr_storage ss = addr("198.51.100.1");
    auto ip = sy::geo::IpAddress::fromSockaddr(sa(ss));
    sy::geo::MmdbDatabase::Record rec;
    REQUIRE((*reader)->lookup(*ip, rec));
    CHECK_FALSE(rec.hasLocation);
    CHECK(std::string(rec.country) == "DE");
    CHECK(std::string(rec.continent) == "EU");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("MmdbDatabase: a file that is not a database") {
  if (!sy::geo::MmdbDatabase::available()) return;
  char path[] = "/tmp/switchyard-notdb-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "hello", 5) == 5);
  close(fd);
  auto db = sy::geo::MmdbDatabase::open(path);
  REQUIRE_FALSE(db.has_value());
  CHECK(db.error().find("cannot open MaxMind database") != std::string::npos);
  unlink(path);
}
