#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "switchyard/metrics/exposition.h"
#include "switchyard/metrics/families.h"

using namespace sy::metrics;

namespace {

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("label values are escaped by the serialiser: backslash, double quote, line feed") {
  Exposition w;
  w.sample(FamilyId::kUpstreamConnectFailures, {"a\\b", "say \"hi\"\ntwo"}, uint64_t{1});
  w.sample(FamilyId::kUpstreamConnectFailures, {"tab\there", "ü"}, uint64_t{2});
  std::string out;
  w.serialize(out);
  CHECK(out.find(
            "switchyard_upstream_connect_failures_total{pool=\"a\\\\b\",backend=\"say "
            "\\\"hi\\\"\\ntwo\"} 1\n") !=
        std::string::npos);
  CHECK(out.find("switchyard_upstream_connect_failures_total{pool=\"tab\there\",backend=\"ü\"} 2\n") !=
        std::string::npos);
}

TEST_CASE("sample values: integers exactly, fractions, infinities") {
  auto v = [](double x) {
    Exposition w;
    w.sample(FamilyId::kConfigLastReloadSuccess, {}, x);
    std::string out;
    w.serialize(out);
    std::vector<std::string> lines = splitLines(out);
    REQUIRE(lines.size() == 3);
    return lines[2].substr(lines[2].rfind(' ') + 1);
  };
  CHECK(v(0) == "0");
  CHECK(v(1.0) == "1");
  CHECK(v(0.5) == "0.5");
  CHECK(v(1700000000.25) == "1700000000.25");
  CHECK(v(static_cast<double>(uint64_t{1} << 52)) == "4503599627370496");
  CHECK(v(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(v(-std::numeric_limits<double>::infinity()) == "-Inf");
}

TEST_CASE("every family in the table is well formed") {
  std::set<std::string_view> names;
  for (const Family& f : kFamilies) {
    CHECK(names.insert(f.name).second);  // declared once
    CHECK_FALSE(f.help.empty());
    // The serialiser writes help text as it is: nothing that would need escaping.
    CHECK(f.help.find('\\') == std::string_view::npos);
    CHECK(f.help.find('\n') == std::string_view::npos);
    const bool isCounter = f.type == Type::kCounter;
    const bool endsTotal = f.name.size() > 6 && f.name.substr(f.name.size() - 6) == "_total";
    CHECK_MESSAGE(isCounter == endsTotal, f.name);
    for (size_t i = 0; i < f.labelCount(); ++i) CHECK(f.labels[i] != "le");
  }
}

TEST_CASE("Exposition writes HELP and TYPE once per family, in table order, samples in order") {
  Exposition w;
  w.sample(FamilyId::kUpstreamConnectFailures, {"web", "b\"1"}, uint64_t{3});
  w.sample(FamilyId::kUpstreamConnectFailures, {"web", "b2"}, uint64_t{0});
  w.begin(FamilyId::kUpstreamConnectFailures);
  w.sample(FamilyId::kConfigLastReloadSuccess, {}, 1700000000.25);
  w.sample(FamilyId::kConfigReloads, {"success"}, uint64_t{2});
  std::string out;
  w.serialize(out);
  CHECK(out ==
        "# HELP switchyard_upstream_connect_failures_total Failed or timed-out connects to a "
        "backend.\n"
        "# TYPE switchyard_upstream_connect_failures_total counter\n"
        "switchyard_upstream_connect_failures_total{pool=\"web\",backend=\"b\\\"1\"} 3\n"
        "switchyard_upstream_connect_failures_total{pool=\"web\",backend=\"b2\"} 0\n"
        "# HELP switchyard_config_reloads_total Configuration reloads (SIGHUP, --watch or "
        "POST /reload) by result (success, failure).\n"
        "# TYPE switchyard_config_reloads_total counter\n"
        "switchyard_config_reloads_total{result=\"success\"} 2\n"
        "# HELP switchyard_config_last_reload_success_timestamp_seconds Unix time of the last "
        "successful configuration load (start-up counts).\n"
        "# TYPE switchyard_config_last_reload_success_timestamp_seconds gauge\n"
        "switchyard_config_last_reload_success_timestamp_seconds 1700000000.25\n");
}

TEST_CASE("missing label values are written empty, extra ones ignored") {
  Exposition w;
  w.sample(FamilyId::kUpstreamConnectFailures, {"web"}, uint64_t{1});
  w.sample(FamilyId::kBuildInfo, {"1.0", "extra"}, uint64_t{1});
  std::string out;
  w.serialize(out);
  CHECK(out.find("switchyard_upstream_connect_failures_total{pool=\"web\",backend=\"\"} 1\n") !=
        std::string::npos);
  CHECK(out.find("switchyard_build_info{version=\"1.0\"} 1\n") != std::string::npos);
}

TEST_CASE("histograms: cumulative buckets, +Inf equals _count, _sum in seconds") {
  uint64_t buckets[kBuckets] = {};
  buckets[bucketIndex(50'000)] += 2;          // 50 us -> le 0.0001
  buckets[bucketIndex(3'000'000)] += 1;       // 3 ms -> le 0.005
  buckets[bucketIndex(20'000'000'000)] += 1;  // 20 s -> +Inf only
  const uint64_t sumNs = 2 * 50'000 + 3'000'000 + 20'000'000'000ull;
  Exposition w;
  w.histogram(FamilyId::kUpstreamConnect, {"web", "b1"}, buckets, sumNs);
  std::string out;
  w.serialize(out);
  std::vector<std::string> lines = splitLines(out);
  REQUIRE(lines.size() == 2 + kBuckets + 2);
  CHECK(lines[0].rfind("# HELP switchyard_upstream_connect_seconds ", 0) == 0);
  CHECK(lines[1] == "# TYPE switchyard_upstream_connect_seconds histogram");
  // prometheus-cpp's order: _count, _sum, then the buckets.
  CHECK(lines[2] == "switchyard_upstream_connect_seconds_count{pool=\"web\",backend=\"b1\"} 4");
  CHECK(lines[3] ==
        "switchyard_upstream_connect_seconds_sum{pool=\"web\",backend=\"b1\"} 20.0031");
  const std::string p =
      "switchyard_upstream_connect_seconds_bucket{pool=\"web\",backend=\"b1\",le=";
  CHECK(lines[4] == p + "\"0.0001\"} 2");
  CHECK(lines[5] == p + "\"0.00025\"} 2");
  CHECK(lines[9] == p + "\"0.005\"} 3");
  CHECK(lines[4 + kBucketBounds - 1] == p + "\"10\"} 3");
  CHECK(lines[4 + kBucketBounds] == p + "\"+Inf\"} 4");  // one +Inf bucket, = _count
  // le values are increasing and cumulative counts never decrease.
  double lastLe = -1;
  uint64_t lastCount = 0;
  for (size_t i = 4; i < 4 + kBucketBounds; ++i) {
    size_t q = lines[i].find("le=\"") + 4;
    double le = std::stod(lines[i].substr(q, lines[i].find('"', q) - q));
    uint64_t count = std::stoull(lines[i].substr(lines[i].rfind(' ') + 1));
    CHECK(le > lastLe);
    CHECK(count >= lastCount);
    lastLe = le;
    lastCount = count;
  }
}

TEST_CASE("bucket index: bounds are inclusive (le), above the last bound is +Inf") {
  CHECK(bucketIndex(0) == 0);
  CHECK(bucketIndex(100'000) == 0);
  CHECK(bucketIndex(100'001) == 1);
  CHECK(bucketIndex(1'000'000) == 3);
  CHECK(bucketIndex(1'000'001) == 4);
  CHECK(bucketIndex(10'000'000'000) == kBucketBounds - 1);
  CHECK(bucketIndex(10'000'000'001) == kBucketBounds);
  CHECK(bucketIndex(UINT64_MAX) == kBucketBounds);
  for (uint32_t i = 1; i < kBucketBounds; ++i) CHECK(kBucketBoundsNs[i] > kBucketBoundsNs[i - 1]);
  CHECK(kBucketBoundsNs[0] == 100'000);                    // 100 us
  CHECK(kBucketBoundsNs[kBucketBounds - 1] == 10'000'000'000);  // 10 s
}
