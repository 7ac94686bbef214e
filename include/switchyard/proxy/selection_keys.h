#pragma once
// The per-request inputs of a balancing policy beyond the client address: the client's
// location (geo_weighted) and the hash key (hash). Computed once per request, when its head is
// complete, and only what the pool's policy asks for (balancing::PolicyNeeds). Worker thread;
// no allocation. The results hold no view into the request bytes, so retries of the request
// may use them after the head buffer is gone.

#include <cstdint>
#include <string_view>

#include <sys/socket.h>

#include "switchyard/balancing/policy.h"
#include "switchyard/geo/location.h"
#include "switchyard/http/forward.h"
#include "switchyard/http/request_head.h"

namespace sy::geo {
class Locator;
}

namespace sy::proxy {

struct SelectionInputs {
  geo::ClientLocation location;  // source kNone: not needed, or nothing placed the client
  uint64_t hashKey = 0;
};

// `geo` may be null (then the client is never located). `head` and `req` describe the request
// whose head just completed; `client` is the request's client address (ClientAddress: after
// the PROXY protocol and real_ip), located and hashed; `peer` is the address the request came
// from (the PROXY protocol source, else the TCP peer), which geo.trusted_proxies must hold for
// geo.client_header to be believed.
SelectionInputs computeSelectionInputs(const balancing::PolicyNeeds& needs, const geo::Locator* geo,
                                       const sockaddr* client, const sockaddr* peer,
                                       const http::FieldsView& head, const http::RequestInfo& req);

// The hash of what `key` names for this request (hash_key, split_key): a header's or cookie's
// value, the path, or the client address (also when the header or cookie is missing).
uint64_t hashRequestKey(const config::HashKey& key, const sockaddr* client,
                        const http::FieldsView& head, const http::RequestInfo& req);

// Whether the request has a header named `name` (case-insensitive); if so, `value` is the
// first one's value, trimmed.
bool findHeader(const http::FieldsView& head, std::string_view name, std::string_view& value);
// Whether cookie `name` is in the request's Cookie headers (RFC 6265 "a=1; b=2"); if so,
// `value` is its value (surrounding double quotes removed).
bool findCookie(const http::FieldsView& head, std::string_view name, std::string_view& value);

}  // namespace sy::proxy
