#pragma once
// DNS messages for discovery (RFC 1035, EDNS0 from RFC 6891): a recursive query for the A or
// AAAA records of one name, and the addresses in the answer to it. Pure functions; any thread.

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sy::discovery {

enum class RecordType : uint16_t { kA = 1, kAAAA = 28 };

// UDP payload size offered in the EDNS0 OPT record (the size most resolvers use).
constexpr uint16_t kUdpPayload = 4096;

// `name` as DNS compares it: lowercase, without a final dot.
std::string canonicalName(std::string_view name);

// A query for `name` (a final dot is optional) with recursion desired and an EDNS0 OPT record.
// Error: the name is not a valid DNS name (empty label, label over 63 or name over 253 bytes).
std::expected<std::vector<uint8_t>, std::string> buildQuery(uint16_t id, std::string_view name,
                                                            RecordType type);

struct DnsAnswer {
  // Addresses of `name` (following CNAMEs in the answer section), as inet_ntop writes them, in
  // message order. Empty when the name has no record of the type (NODATA) or does not exist.
  std::vector<std::string> addresses;
  bool nxdomain = false;
};

struct DnsError {
  // kNotOurs: the message is not an answer to this query (other id or question, not a
  // response): a UDP client ignores it and keeps waiting. kFailed: the answer is a failure.
  enum Kind { kNotOurs, kFailed } kind;
  std::string message;
};

// Reads the answer to buildQuery(id, name, type). SERVFAIL, REFUSED and other error codes, a
// truncated (TC) answer and a malformed message are kFailed; NXDOMAIN is an answer.
std::expected<DnsAnswer, DnsError> parseResponse(std::span<const uint8_t> msg, uint16_t id,
                                                 std::string_view name, RecordType type);

}  // namespace sy::discovery
