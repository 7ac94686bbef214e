#include "switchyard/discovery/dns_message.h"

#include <arpa/inet.h>

#include <optional>

namespace sy::discovery {
namespace {

constexpr size_t kHeaderBytes = 12;
constexpr size_t kMaxNameBytes = 253;
constexpr size_t kMaxLabelBytes = 63;
constexpr uint16_t kClassIn = 1;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeOpt = 41;
constexpr uint16_t kFlagResponse = 0x8000;
constexpr uint16_t kFlagTruncated = 0x0200;
constexpr uint16_t kFlagRecursionDesired = 0x0100;
constexpr uint16_t kOpcodeMask = 0x7800;
constexpr uint16_t kRcodeMask = 0x000f;
constexpr int kMaxPointerJumps = 64;
constexpr int kMaxCnameHops = 16;

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v & 0xff));
}

uint16_t get16(std::span<const uint8_t> m, size_t at) {
  return static_cast<uint16_t>((m[at] << 8) | m[at + 1]);
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Reads the (possibly compressed) name at `at`: sets `out` to its canonical text and returns
// the offset just past it in the record, or nullopt when it is malformed.
std::optional<size_t> readName(std::span<const uint8_t> m, size_t at, std::string& out) {
  out.clear();
  std::optional<size_t> end;
  int jumps = 0;
  while (true) {
    if (at >= m.size()) return std::nullopt;
    uint8_t len = m[at];
    if ((len & 0xc0) == 0xc0) {
      if (at + 1 >= m.size() || ++jumps > kMaxPointerJumps) return std::nullopt;
      if (!end) end = at + 2;
      at = static_cast<size_t>(((len & 0x3f) << 8) | m[at + 1]);
      continue;
    }
    if ((len & 0xc0) != 0) return std::nullopt;  // 0x40 and 0x80 label types are obsolete
    if (len == 0) return end ? *end : at + 1;
    if (at + 1 + len > m.size()) return std::nullopt;
    if (!out.empty()) out += '.';
    for (size_t i = 0; i < len; ++i) out += lower(static_cast<char>(m[at + 1 + i]));
    if (out.size() > kMaxNameBytes) return std::nullopt;
    at += 1 + len;
  }
}

std::string rcodeText(int rcode) {
  switch (rcode) {
    case 1: return "the server could not read the query (FORMERR)";
    case 2: return "server failure (SERVFAIL)";
    case 4: return "not implemented by the server (NOTIMP)";
    case 5: return "refused by the server (REFUSED)";
    default: return "error code " + std::to_string(rcode);
  }
}

struct Record {
  std::string owner;
  uint16_t type = 0;
  uint16_t cls = 0;
  size_t data = 0;  // offset of the rdata
  uint16_t length = 0;
};

}  // namespace

std::string canonicalName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) c = lower(c);
  return out;
}

std::expected<std::vector<uint8_t>, std::string> buildQuery(uint16_t id, std::string_view name,
                                                            RecordType type) {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > kMaxNameBytes) {
    return std::unexpected("'" + std::string(name) + "' is not a valid DNS name");
  }
  std::vector<uint8_t> out;
  out.reserve(kHeaderBytes + name.size() + 2 + 4 + 11);
  put16(out, id);
  put16(out, kFlagRecursionDesired);
  put16(out, 1);  // QDCOUNT
  put16(out, 0);  // ANCOUNT
  put16(out, 0);  // NSCOUNT
  put16(out, 1);  // ARCOUNT: the OPT record
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    size_t len = dot - start;
    if (len == 0 || len > kMaxLabelBytes) {
      return std::unexpected("'" + std::string(name) + "' is not a valid DNS name");
    }
    out.push_back(static_cast<uint8_t>(len));
    out.insert(out.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  out.push_back(0);
  put16(out, static_cast<uint16_t>(type));
  put16(out, kClassIn);
  // OPT: root owner, type 41, class = UDP payload size, extended rcode/version/flags 0, no data.
  out.push_back(0);
  put16(out, kTypeOpt);
  put16(out, kUdpPayload);
  put16(out, 0);
  put16(out, 0);
  put16(out, 0);
  return out;
}

std::expected<DnsAnswer, DnsError> parseResponse(std::span<const uint8_t> m, uint16_t id,
                                                 std::string_view name, RecordType type) {
  auto notOurs = [](std::string why) {
    return std::unexpected(DnsError{DnsError::kNotOurs, std::move(why)});
  };
  auto failed = [](std::string why) {
    return std::unexpected(DnsError{DnsError::kFailed, std::move(why)});
  };
  if (m.size() < kHeaderBytes) return notOurs("shorter than a DNS header");
  const uint16_t flags = get16(m, 2);
  if (get16(m, 0) != id || !(flags & kFlagResponse) || (flags & kOpcodeMask) != 0) {
    return notOurs("not a response to this query");
  }
  if (get16(m, 4) != 1) return notOurs("not a response to this query (question count)");
  const std::string want = canonicalName(name);
  std::string owner;
  std::optional<size_t> at = readName(m, kHeaderBytes, owner);
  if (!at || *at + 4 > m.size()) return failed("malformed answer (question)");
  if (owner != want || get16(m, *at) != static_cast<uint16_t>(type) ||
      get16(m, *at + 2) != kClassIn) {
    return notOurs("answer to another question");
  }
  size_t pos = *at + 4;

  const int rcode = flags & kRcodeMask;
  if (rcode == 3) return DnsAnswer{{}, true};
  if (rcode != 0) return failed(rcodeText(rcode));
  // A truncated answer may miss addresses; using it would drop backends that still exist.
  if (flags & kFlagTruncated) {
    return failed("answer truncated (over " + std::to_string(kUdpPayload) +
                  " bytes; DNS over TCP is not supported)");
  }

  std::vector<Record> records;
  const uint16_t answers = get16(m, 6);
  for (uint16_t i = 0; i < answers; ++i) {
    Record r;
    std::optional<size_t> next = readName(m, pos, r.owner);
    if (!next || *next + 10 > m.size()) return failed("malformed answer (record header)");
    r.type = get16(m, *next);
    r.cls = get16(m, *next + 2);
    r.length = get16(m, *next + 8);
    r.data = *next + 10;
    if (r.data + r.length > m.size()) return failed("malformed answer (record data)");
    pos = r.data + r.length;
    records.push_back(std::move(r));
  }

  // The names that stand for `name`: itself and the targets of CNAMEs chained from it.
  std::vector<std::string> aliases = {want};
  for (int hop = 0; hop < kMaxCnameHops; ++hop) {
    bool grew = false;
    for (const Record& r : records) {
      if (r.type != kTypeCname || r.cls != kClassIn) continue;
      bool fromAlias = false;
      for (const std::string& a : aliases) fromAlias = fromAlias || a == r.owner;
      if (!fromAlias) continue;
      std::string target;
      if (!readName(m, r.data, target)) return failed("malformed answer (CNAME)");
      bool known = false;
      for (const std::string& a : aliases) known = known || a == target;
      if (!known) {
        aliases.push_back(std::move(target));
        grew = true;
      }
    }
    if (!grew) break;
  }

  DnsAnswer out;
  const int family = type == RecordType::kA ? AF_INET : AF_INET6;
  const uint16_t size = type == RecordType::kA ? 4 : 16;
  for (const Record& r : records) {
    if (r.type != static_cast<uint16_t>(type) || r.cls != kClassIn) continue;
    bool forName = false;
    for (const std::string& a : aliases) forName = forName || a == r.owner;
    if (!forName) continue;
    if (r.length != size) return failed("malformed answer (address length)");
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, m.data() + r.data, text, sizeof text);
    out.addresses.emplace_back(text);
  }
  return out;
}

}  // namespace sy::discovery
