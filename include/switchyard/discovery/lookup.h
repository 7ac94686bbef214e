#pragma once
// One lookup of the A and AAAA addresses of a name on a libuv loop, without blocking it:
//   - through the system resolver (uv_getaddrinfo on libuv's thread pool: /etc/hosts, the
//     search domains of resolv.conf, nsswitch), or
//   - by asking one DNS server directly over UDP (dns_message.h): both queries at once from a
//     fresh random port, resent while unanswered, until `timeout`.
// The loop's thread only.

#include <expected>
#include <functional>
#include <string>

#include <uv.h>

#include "switchyard/config/config.h"
#include "switchyard/discovery/expand.h"

namespace sy::discovery {

// The addresses (normalizeAddresses: sorted, unique; never empty), or why there are none:
// an error of the resolver, a timeout, or a name without A and AAAA records.
using LookupResult = std::expected<Addresses, std::string>;
using LookupDone = std::function<void(LookupResult)>;

class Lookup {
 public:
  virtual ~Lookup() = default;
  // Abandons the lookup: `done` will not run. The object frees itself (possibly later, once
  // libuv has released its handles or request).
  virtual void cancel() = 0;
};

// Starts a lookup of `name` through `resolver` (nullptr = the system resolver). `done` runs once
// on `loop`, never inside this call; the returned object stays valid until `done` has started
// or cancel() was called. `timeout` bounds UDP lookups only (the system resolver has its own,
// from resolv.conf). Error: the lookup could not start (then `done` never runs).
std::expected<Lookup*, std::string> startLookup(uv_loop_t* loop, const std::string& name,
                                               const config::SocketAddress* resolver,
                                               config::Duration timeout, LookupDone done);

}  // namespace sy::discovery
