#pragma once
// Rate-limit admission of one request (the UpstreamRequest's state for it; the step itself is
// UpstreamRequest::admit(), in admission.cc). Fixed-size: nothing is allocated per request.

#include <cstdint>

#include "switchyard/config/config.h"
#include "switchyard/http/request_head.h"
#include "switchyard/ratelimit/gcra.h"
#include "switchyard/ratelimit/limiter.h"

namespace sy::proxy {

struct AdmissionState {
  static constexpr size_t kMax = config::kMaxRoutePolicies;
  enum class Step : uint8_t { kDecided, kWaiting, kStoreError };

  const ratelimit::Limiter* limiter[kMax] = {};
  ratelimit::Decision decision[kMax];
  uint64_t ticket[kMax] = {};
  Step step[kMax] = {};
  uint8_t count = 0;    // policies that apply to the request
  uint8_t waiting = 0;  // answers still expected from the redis store

  // Fields for the response head: RateLimit on every answer; RateLimit-Policy and Retry-After
  // too when refused.
  http::Field fields[3];
  uint8_t fieldCount = 0;
  char text[kMax * 2 * 96 + 32];

  void reset() {
    count = waiting = fieldCount = 0;
  }
};

}  // namespace sy::proxy
