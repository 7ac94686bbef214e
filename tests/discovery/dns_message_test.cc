#include "switchyard/discovery/dns_message.h"

#include <doctest/doctest.h>

#include "dns_test_util.h"

namespace sy::discovery {
namespace {

using testing::DnsBuilder;
using testing::kResponse;

constexpr uint16_t kA = 1;
constexpr uint16_t kAAAA = 28;
constexpr uint16_t kCname = 5;

std::vector<uint8_t> nameBytes(const std::string& n) { return DnsBuilder().name(n).bytes; }

std::expected<DnsAnswer, DnsError> parse(const std::vector<uint8_t>& m, uint16_t id = 7,
                                         std::string_view name = "web.svc",
                                         RecordType type = RecordType::kA) {
  return parseResponse(m, id, name, type);
}

TEST_CASE("buildQuery: header, question and EDNS0 OPT record") {
  auto q = buildQuery(0x1234, "web.svc.", RecordType::kAAAA);
  REQUIRE(q.has_value());
  std::vector<uint8_t> want = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,  // RD, QD 1, AR 1
                               3, 'w', 'e', 'b', 3, 's', 'v', 'c', 0,            // web.svc
                               0, 28, 0, 1,                                      // AAAA IN
                               0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0};          // OPT 4096
  CHECK(*q == want);
}

TEST_CASE("buildQuery: refuses names DNS cannot carry") {
  CHECK_FALSE(buildQuery(1, "", RecordType::kA).has_value());
  CHECK_FALSE(buildQuery(1, ".", RecordType::kA).has_value());
  CHECK_FALSE(buildQuery(1, "a..b", RecordType::kA).has_value());
  CHECK_FALSE(buildQuery(1, std::string(64, 'a') + ".svc", RecordType::kA).has_value());
  CHECK(buildQuery(1, std::string(63, 'a') + ".svc", RecordType::kA).has_value());
  std::string longName;
  while (longName.size() < 254) longName += "abcdefg.";
  longName.pop_back();
  CHECK_FALSE(buildQuery(1, longName, RecordType::kA).has_value());
}

TEST_CASE("parseResponse: A records, compressed owner names, in message order") {
  DnsBuilder b;
  b.header(7, kResponse, 1, 2).name("web.svc").question(kA);
  b.pointer(12).a("10.0.0.2");
  b.pointer(12).a("10.0.0.1");
  auto r = parse(b.bytes);
  REQUIRE(r.has_value());
  CHECK(r->addresses == std::vector<std::string>{"10.0.0.2", "10.0.0.1"});
  CHECK_FALSE(r->nxdomain);
}

TEST_CASE("parseResponse: AAAA records; the name matches case-insensitively") {
  DnsBuilder b;
  b.header(7, kResponse, 1, 1).name("WEB.Svc").question(kAAAA);
  b.name("web.SVC").aaaa("fd00::1");
  auto r = parse(b.bytes, 7, "web.svc.", RecordType::kAAAA);
  REQUIRE(r.has_value());
  CHECK(r->addresses == std::vector<std::string>{"fd00::1"});
}

TEST_CASE("parseResponse: follows CNAMEs, ignores records of other names") {
  DnsBuilder b;
  b.header(7, kResponse, 1, 4).name("web.svc").question(kA);
  b.pointer(12).record(kCname, nameBytes("pods.svc"));  // web.svc -> pods.svc
  const uint16_t podsAt = static_cast<uint16_t>(b.bytes.size() - nameBytes("pods.svc").size());
  b.name("other.svc").a("192.0.2.9");                   // not in the chain
  b.pointer(podsAt).a("10.1.0.1");
  b.pointer(podsAt).record(kAAAA, std::vector<uint8_t>(16, 0));  // other type: skipped
  auto r = parse(b.bytes);
  REQUIRE(r.has_value());
  CHECK(r->addresses == std::vector<std::string>{"10.1.0.1"});
}

TEST_CASE("parseResponse: NXDOMAIN and NODATA are answers without addresses") {
  DnsBuilder nx;
  nx.header(7, kResponse | 3, 1, 0).name("web.svc").question(kA);
  auto r = parse(nx.bytes);
  REQUIRE(r.has_value());
  CHECK(r->nxdomain);
  CHECK(r->addresses.empty());

  DnsBuilder nodata;
  nodata.header(7, kResponse, 1, 0).name("web.svc").question(kA);
  r = parse(nodata.bytes);
  REQUIRE(r.has_value());
  CHECK_FALSE(r->nxdomain);
  CHECK(r->addresses.empty());
}

TEST_CASE("parseResponse: server errors and truncation are failures") {
  for (auto [rcode, text] : {std::pair{2, "SERVFAIL"}, {5, "REFUSED"}, {1, "FORMERR"}}) {
    DnsBuilder b;
    b.header(7, static_cast<uint16_t>(kResponse | rcode), 1, 0).name("web.svc").question(kA);
    auto r = parse(b.bytes);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == DnsError::kFailed);
    CHECK(r.error().message.find(text) != std::string::npos);
  }
  DnsBuilder tc;
  tc.header(7, kResponse | 0x0200, 1, 1).name("web.svc").question(kA).pointer(12).a("10.0.0.1");
  auto r = parse(tc.bytes);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == DnsError::kFailed);
  CHECK(r.error().message.find("truncated") != std::string::npos);
}

TEST_CASE("parseResponse: messages for another query are not ours") {
  auto kind = [](const std::vector<uint8_t>& m, RecordType t = RecordType::kA) {
    auto r = parseResponse(m, 7, "web.svc", t);
    return r.has_value() ? -1 : static_cast<int>(r.error().kind);
  };
  DnsBuilder otherId;
  otherId.header(8, kResponse, 1, 0).name("web.svc").question(kA);
  CHECK(kind(otherId.bytes) == DnsError::kNotOurs);
  DnsBuilder query;  // QR clear: a query, not a response
  query.header(7, 0x0100, 1, 0).name("web.svc").question(kA);
  CHECK(kind(query.bytes) == DnsError::kNotOurs);
  DnsBuilder otherName;
  otherName.header(7, kResponse, 1, 0).name("api.svc").question(kA);
  CHECK(kind(otherName.bytes) == DnsError::kNotOurs);
  DnsBuilder otherType;
  otherType.header(7, kResponse, 1, 0).name("web.svc").question(kA);
  CHECK(kind(otherType.bytes, RecordType::kAAAA) == DnsError::kNotOurs);
  CHECK(kind({0, 7, 0x81}) == DnsError::kNotOurs);
  auto ownQuery = buildQuery(7, "web.svc", RecordType::kA);
  CHECK(kind(*ownQuery) == DnsError::kNotOurs);
}

TEST_CASE("parseResponse: malformed answers fail without reading out of bounds") {
  auto failed = [](const std::vector<uint8_t>& m) {
    auto r = parseResponse(m, 7, "web.svc", RecordType::kA);
    return !r.has_value() && r.error().kind == DnsError::kFailed;
  };
  DnsBuilder base;
  base.header(7, kResponse, 1, 1).name("web.svc").question(kA);

  DnsBuilder shortData = base;
  shortData.pointer(12).a("10.0.0.1");
  shortData.bytes.resize(shortData.bytes.size() - 2);  // rdata cut
  CHECK(failed(shortData.bytes));

  DnsBuilder loop = base;
  const uint16_t here = static_cast<uint16_t>(loop.bytes.size());
  loop.pointer(here).a("10.0.0.1");  // a name pointing at itself
  CHECK(failed(loop.bytes));

  DnsBuilder badLength = base;
  badLength.pointer(12).record(kA, {10, 0, 0, 1, 5});
  CHECK(failed(badLength.bytes));

  DnsBuilder missing = base;  // says one answer, has none
  CHECK(failed(missing.bytes));

  // Every prefix of a good answer is refused or ignored, never read past its end.
  DnsBuilder good = base;
  good.pointer(12).a("10.0.0.1");
  for (size_t n = 0; n < good.bytes.size(); ++n) {
    std::vector<uint8_t> prefix(good.bytes.begin(), good.bytes.begin() + n);
    CHECK_FALSE(parseResponse(prefix, 7, "web.svc", RecordType::kA).has_value());
  }
  CHECK(parseResponse(good.bytes, 7, "web.svc", RecordType::kA).has_value());
}

}  // namespace
}  // namespace sy::discovery
