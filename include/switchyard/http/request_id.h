#pragma once
// X-Request-Id: a request keeps the id its client sent when the value is acceptable, otherwise
// it gets a fresh one; the id goes upstream, back to the client, and into the access log.

#include <cstddef>
#include <string_view>

#include "switchyard/http/request_head.h"

namespace sy::http {

inline constexpr size_t kMaxRequestIdLength = 128;
inline constexpr size_t kGeneratedRequestIdLength = 32;

// 1 to kMaxRequestIdLength characters, each visible ASCII (0x21-0x7e): anything else (spaces,
// control bytes, very long values) is replaced rather than passed on to backends and logs.
bool acceptableRequestId(std::string_view v);

// The value of the first X-Request-Id header of `p` if it is acceptable, else empty.
std::string_view findRequestId(const FieldsView& f);
inline std::string_view findRequestId(const Parser& p) { return findRequestId(FieldsView(p)); }

// Writes a new id: 32 lowercase hex digits (128 bits). Per-thread state seeded once from the
// kernel's random source; no locks, no allocation, unique within a thread by construction.
void generateRequestId(char (&out)[kGeneratedRequestIdLength]);

}  // namespace sy::http
