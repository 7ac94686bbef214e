#pragma once
// Why the proxy answered a request itself instead of relaying a backend's response: the
// `reason` label of switchyard_local_responses_total{listener,code,reason}. Every local answer
// goes through RequestSink::respondLocal(status, reason, ...) (HTTP/1.1 connection or HTTP/2
// stream), which counts it in the server's stats block with ShardRef::countLocal(); code that
// writes an answer some other way calls ShardRef::countLocal() itself. Cells are pre-sized per
// listener x reason x code (kLocalCodes fixed codes), so counting allocates nothing.
// Adding a reason: a LocalReason value before kLocalReasonCount, its name and usual code in
// kLocalReasonInfo (same order), and a line in README's Metrics section.
// Constant data: any thread.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace sy::metrics {

enum class LocalReason : uint8_t {
  kNoRoute,           // 404: no route matches the host and path
  kNoBackend,         // 503: the pool has no available backend
  kConnectFailed,     // 502: no backend could be connected to
  kUpstreamTimeout,   // 504: the backend did not answer within timeouts.upstream_response
  kUpstreamClosed,    // 502: the backend closed or reset the connection before answering
  kBadResponse,       // 502: the backend's response was invalid (or its head too large)
  kOverflow,          // 503: the pool's request queue is full (pool limits)
  kRateLimited,       // 429: a rate-limit policy refused the request
  kBadRequest,        // 400 (405, 414, 417, 501, 505): malformed or refused request
  kPayloadTooLarge,   // 413: body above limits.max_body_bytes
  kHeaderTooLarge,    // 431: request head above the header size limit
  kHeaderTimeout,     // 408: the request head did not arrive in time
  kBodyTimeout,       // 408: the request body did not arrive in time
  kRedirect,          // 308: redirect_https on the listener
  kInternalError,     // 500: the proxy could not build the upstream request
  kLocalReasonCount,
};
inline constexpr uint32_t kLocalReasons = static_cast<uint32_t>(LocalReason::kLocalReasonCount);

struct LocalReasonInfo {
  std::string_view name;  // label value
  int code;               // the status this reason usually answers with
};

// Indexed by LocalReason.
inline constexpr LocalReasonInfo kLocalReasonInfo[] = {
    {"no_route", 404},         {"no_backend", 503},     {"connect_failed", 502},
    {"upstream_timeout", 504}, {"upstream_closed", 502}, {"bad_response", 502},
    {"overflow", 503},         {"rate_limited", 429},   {"bad_request", 400},
    {"payload_too_large", 413}, {"header_too_large", 431}, {"header_timeout", 408},
    {"body_timeout", 408},     {"redirect", 308},       {"internal_error", 500},
};
static_assert(std::size(kLocalReasonInfo) == kLocalReasons,
              "one kLocalReasonInfo entry per LocalReason, in the same order");

constexpr const LocalReasonInfo& localReasonInfo(LocalReason r) {
  return kLocalReasonInfo[static_cast<size_t>(r)];
}

// The `code` label values with a cell of their own; any other status counts under "other".
inline constexpr int kLocalCodeValues[] = {308, 400, 404, 405, 408, 413, 414, 417,
                                           429, 431, 500, 501, 502, 503, 504, 505};
inline constexpr uint32_t kLocalCodes = static_cast<uint32_t>(std::size(kLocalCodeValues)) + 1;
inline constexpr uint32_t kLocalOtherCode = kLocalCodes - 1;
// `code` label values by cell.
inline constexpr std::string_view kLocalCodeNames[] = {"308", "400", "404", "405", "408", "413",
                                                       "414", "417", "429", "431", "500", "501",
                                                       "502", "503", "504", "505", "other"};
static_assert(std::size(kLocalCodeNames) == kLocalCodes);

constexpr uint32_t localCodeIndex(int status) {
  for (uint32_t i = 0; i < kLocalOtherCode; ++i)
    if (kLocalCodeValues[i] == status) return i;
  return kLocalOtherCode;
}

// Every reason's usual code has a cell of its own (its series is exported from the start).
static_assert([] {
  for (const LocalReasonInfo& i : kLocalReasonInfo)
    if (localCodeIndex(i.code) == kLocalOtherCode) return false;
  return true;
}());

// Reason for a request refused while it was read (parser, request line checks, limits), by
// the status it is refused with.
constexpr LocalReason refusedReason(int status) {
  switch (status) {
    case 413: return LocalReason::kPayloadTooLarge;
    case 431: return LocalReason::kHeaderTooLarge;
    case 500: return LocalReason::kInternalError;
    default: return LocalReason::kBadRequest;
  }
}

}  // namespace sy::metrics
