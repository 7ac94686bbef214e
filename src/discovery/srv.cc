// SRV discovery (RFC 2782), as a Kubernetes headless Service publishes it: one record per
// ready pod and named port, `priority weight port target`. The records of the lowest priority
// are used (pools have no backup tier; the other priorities are ignored), each target is
// resolved to its addresses (A and AAAA), and every address becomes an endpoint with the
// record's port and weight (0 → 1, capped at 10000, the largest backend weight). Records that
// lead to the same address and port add their weights.

#include <ares.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/discovery/resolver.h"

namespace sy::discovery {
namespace {

constexpr int kTypeSrv = 33;
constexpr uint32_t kMaxWeight = 10000;

uint16_t get16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// The shortest TTL of the answer section's records (SRV, and a CNAME leading to them). c-ares'
// SRV parser does not report TTLs, so the records are walked here, names skipped with
// ares_expand_name. INT_MAX when the message cannot be read (then the interval applies).
int shortestTtl(const unsigned char* abuf, int alen) {
  if (alen < 12) return INT_MAX;
  int questions = get16(abuf + 4), answers = get16(abuf + 6);
  const unsigned char* p = abuf + 12;
  auto skipName = [&]() {
    char* name = nullptr;
    long len = 0;
    if (ares_expand_name(p, abuf, alen, &name, &len) != ARES_SUCCESS) return false;
    ares_free_string(name);
    p += len;
    return true;
  };
  for (int i = 0; i < questions; ++i) {
    if (!skipName() || abuf + alen - p < 4) return INT_MAX;
    p += 4;
  }
  int ttl = INT_MAX;
  for (int i = 0; i < answers; ++i) {
    if (!skipName() || abuf + alen - p < 10) return ttl;
    uint16_t type = get16(p);
    uint32_t t = (uint32_t{get16(p + 4)} << 16) | get16(p + 6);
    uint16_t rdlen = get16(p + 8);
    p += 10;
    if (abuf + alen - p < rdlen) return ttl;
    if (type == kTypeSrv || type == 5 /* CNAME */)
      ttl = std::min<int64_t>(ttl, std::min<uint32_t>(t, INT_MAX));
    p += rdlen;
  }
  return ttl;
}

struct Record {
  std::string target;
  uint16_t port;
  uint32_t weight;
};

// One SRV lookup: the records, then their targets, all at once.
struct SrvLookup {
  AnswerDone done;
  std::vector<Record> records;
  std::vector<Answer> targets;     // per record: the target's addresses (empty if it failed)
  std::string firstError;          // of a target, reported when no target resolved
  int ttl = INT_MAX;
  size_t pending = 0;

  void finish() {
    Answer out;
    for (size_t i = 0; i < records.size(); ++i) {
      for (const Endpoint& a : targets[i].endpoints) {
        auto same = std::find_if(out.endpoints.begin(), out.endpoints.end(), [&](const Endpoint& e) {
          return e.address == a.address && e.port == records[i].port;
        });
        if (same != out.endpoints.end()) {
          same->weight = std::min(kMaxWeight, same->weight + records[i].weight);
        } else {
          out.endpoints.push_back(Endpoint{a.address, records[i].port, records[i].weight});
        }
      }
    }
    if (out.endpoints.empty()) {
      return done(std::unexpected("no SRV target resolved" +
                                  (firstError.empty() ? "" : ": " + firstError)));
    }
    std::sort(out.endpoints.begin(), out.endpoints.end());
    out.ttl = std::chrono::seconds(ttl == INT_MAX ? 0 : ttl);
    done(std::move(out));
  }
};

}  // namespace

void Resolver::lookUpSrv(const std::string& name, AnswerDone done) {
  auto lookup = std::make_shared<SrvLookup>();
  lookup->done = std::move(done);
  search(name, kTypeSrv, [this, lookup](int status, const unsigned char* abuf, int alen) {
    if (status == ARES_ENODATA) return lookup->done(std::unexpected(std::string("no SRV records")));
    if (status != ARES_SUCCESS) return lookup->done(std::unexpected(describe(status)));
    ares_srv_reply* replies = nullptr;
    status = ares_parse_srv_reply(abuf, alen, &replies);
    if (status != ARES_SUCCESS) return lookup->done(std::unexpected(describe(status)));
    int lowest = INT_MAX;
    for (ares_srv_reply* r = replies; r; r = r->next) lowest = std::min<int>(lowest, r->priority);
    for (ares_srv_reply* r = replies; r; r = r->next) {
      // A target of "." means the service is not available at this name (RFC 2782).
      if (r->priority != lowest || r->port == 0 || !r->host || !*r->host) continue;
      uint32_t weight = std::clamp<uint32_t>(r->weight, 1, kMaxWeight);
      lookup->records.push_back(Record{r->host, r->port, weight});
    }
    ares_free_data(replies);
    if (lookup->records.empty()) {
      return lookup->done(std::unexpected(std::string("no usable SRV records")));
    }
    lookup->ttl = shortestTtl(abuf, alen);
    lookup->targets.resize(lookup->records.size());
    lookup->pending = lookup->records.size();
    // Targets are fully qualified; c-ares tries them as written first (they have ndots dots).
    for (size_t i = 0; i < lookup->records.size(); ++i) {
      getAddrinfo(lookup->records[i].target, [lookup, i](int st, const ares_addrinfo* ai) {
        if (st == ARES_SUCCESS) {
          Answer a = answerOf(ai);
          if (!a.endpoints.empty()) {
            lookup->ttl = std::min<int>(lookup->ttl, static_cast<int>(a.ttl.count()));
            lookup->targets[i] = std::move(a);
          }
        } else if (lookup->firstError.empty()) {
          lookup->firstError = lookup->records[i].target + ": " + describe(st);
        }
        if (--lookup->pending == 0) lookup->finish();
      });
    }
  });
}

}  // namespace sy::discovery
