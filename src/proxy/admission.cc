// UpstreamRequest: the rate-limit admission step between routing and the first upstream attempt
// (routes[].rate_limit; src/ratelimit). Local policies decide at once; redis ones suspend the
// request until the store answers, redis.timeout passes, or the client goes (cancelAdmission).
#include <charconv>
#include <cstring>

#include "switchyard/proxy/selection_keys.h"
#include "switchyard/proxy/upstream_request.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

constexpr std::string_view kKeyPrefix = "switchyard:rl:";
constexpr size_t kKeyBytes = 1024;
constexpr size_t kMaxPartBytes = 256;  // a longer value is replaced by its hash

struct KeyWriter {
  char buf[kKeyBytes];
  size_t n = 0;
  void put(std::string_view s) {
    size_t k = std::min(s.size(), sizeof buf - n);
    if (k == 0) return;  // an empty view may have no data pointer at all
    std::memcpy(buf + n, s.data(), k);
    n += k;
  }
  void putPart(std::string_view v) {
    if (v.size() <= kMaxPartBytes) {
      put(v);
      return;
    }
    char hex[17];
    uint64_t h = ratelimit::hashKey(0, v);
    for (int i = 15; i >= 0; --i, h >>= 4) hex[i] = "0123456789abcdef"[h & 15];
    put("#");
    put(std::string_view(hex, 16));
  }
  std::string_view view() const { return {buf, n}; }
};

bool findQuery(std::string_view target, std::string_view name, std::string_view& value) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return false;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    return true;
  }
  return false;
}

void putUint(char*& p, char* end, uint64_t v) {
  auto r = std::to_chars(p, end, v);
  p = r.ptr;
}

void putText(char*& p, char* end, std::string_view s) {
  size_t k = std::min(s.size(), static_cast<size_t>(end - p));
  std::memcpy(p, s.data(), k);
  p += k;
}

}  // namespace

bool UpstreamRequest::admit(const routing::RouteTable::Entry& route, const http::RequestHead& head) {
  AdmissionState& a = rl_;
  a.reset();
  const config::Config& cfg = config();
  const ratelimit::Limiters& limiters = view_->snap->limiters;
  const uint64_t now = uv_hrtime();
  for (uint32_t idx : route.rateLimits) {
    if (idx >= limiters.size() || a.count >= AdmissionState::kMax) continue;
    const ratelimit::Limiter& l = *limiters[idx];
    KeyWriter k;
    k.put(kKeyPrefix);
    k.put(l.policy().name);
    bool any = false;
    for (const config::RateLimitKeyPart& part : l.policy().key) {
      k.put(":");
      std::string_view v;
      bool found = true;
      switch (part.kind) {
        case config::RateLimitKeyPart::Kind::kClientIp: v = clientAddress().ip(); break;
        case config::RateLimitKeyPart::Kind::kHost: v = req_.host; break;
        case config::RateLimitKeyPart::Kind::kRoute:
          k.put(route.host);
          v = route.pathPrefix;
          break;
        case config::RateLimitKeyPart::Kind::kHeader: found = findHeader(head.fields, part.name, v); break;
        case config::RateLimitKeyPart::Kind::kCookie: found = findCookie(head.fields, part.name, v); break;
        case config::RateLimitKeyPart::Kind::kQuery: found = findQuery(req_.target, part.name, v); break;
      }
      any = any || (found && (!v.empty() || part.kind == config::RateLimitKeyPart::Kind::kRoute));
      k.putPart(v);
    }
    if (!any) continue;  // nothing to key on (nginx: an empty key is not accounted)
    const size_t i = a.count++;
    a.limiter[i] = &l;
    if (ratelimit::LocalTable* table = l.table()) {
      a.decision[i] = table->decide(ratelimit::hashKey(l.seed(), k.view()), l.gcra(), now);
      a.step[i] = AdmissionState::Step::kDecided;
      continue;
    }
    uint64_t ticket = cfg.redis ? w_->rateLimitRedis().submit(*cfg.redis, k.view(), l.gcra(), this,
                                                              static_cast<uint32_t>(i))
                                : 0;
    if (ticket == 0) {
      a.step[i] = AdmissionState::Step::kStoreError;
      continue;
    }
    a.ticket[i] = ticket;
    a.step[i] = AdmissionState::Step::kWaiting;
    ++a.waiting;
  }
  if (a.waiting) {
    setDeadline(uv_now(w_->loop()) + static_cast<uint64_t>(cfg.redis->timeout.count()));
    return false;
  }
  return finishAdmission();
}

void UpstreamRequest::redisAnswered(uint32_t tag, bool ok, bool allowed, uint64_t aheadNs) {
  AdmissionState& a = rl_;
  if (tag >= a.count || a.step[tag] != AdmissionState::Step::kWaiting) return;
  a.ticket[tag] = 0;
  if (ok) {
    a.decision[tag] = ratelimit::fromAhead(a.limiter[tag]->gcra(), allowed, aheadNs);
    a.step[tag] = AdmissionState::Step::kDecided;
  } else {
    a.step[tag] = AdmissionState::Step::kStoreError;
  }
  if (--a.waiting > 0) return;
  deadline_ = 0;
  if (finishAdmission()) proceed();
}

void UpstreamRequest::admissionTimedOut() {
  AdmissionState& a = rl_;
  for (size_t i = 0; i < a.count; ++i) {
    if (a.step[i] != AdmissionState::Step::kWaiting) continue;
    w_->rateLimitRedis().cancel(a.ticket[i]);
    a.ticket[i] = 0;
    a.step[i] = AdmissionState::Step::kStoreError;
  }
  a.waiting = 0;
  ratelimit::RedisLink::logLimited("no answer within redis.timeout");
  if (finishAdmission()) proceed();
}

void UpstreamRequest::cancelAdmission() {
  AdmissionState& a = rl_;
  if (!a.waiting || !w_) return;
  for (size_t i = 0; i < a.count; ++i)
    if (a.step[i] == AdmissionState::Step::kWaiting) w_->rateLimitRedis().cancel(a.ticket[i]);
  a.waiting = 0;
  a.count = 0;
}

bool UpstreamRequest::finishAdmission() {
  AdmissionState& a = rl_;
  const unsigned worker = w_->id();
  bool refused = false;
  uint64_t retryNs = 0;
  for (size_t i = 0; i < a.count; ++i) {
    const ratelimit::Limiter& l = *a.limiter[i];
    if (a.step[i] == AdmissionState::Step::kStoreError) {
      l.count(worker, ratelimit::kStoreError);
      continue;
    }
    const ratelimit::Decision& d = a.decision[i];
    if (d.allowed) {
      l.count(worker, ratelimit::kAllowed);
    } else if (l.policy().dryRun) {
      l.count(worker, ratelimit::kDryRunLimited);
    } else {
      l.count(worker, ratelimit::kLimited);
      refused = true;
      retryNs = std::max(retryNs, d.retryAfterNs);
    }
  }
  // draft-ietf-httpapi-ratelimit-headers: RateLimit lists each enforced policy's remaining
  // quota (r) and seconds until it is whole again (t); RateLimit-Policy lists the policies.
  // Dry-run policies stay invisible to clients; a policy the store could not decide is left out.
  char* p = a.text;
  char* const end = a.text + sizeof a.text;
  char* const limitStart = p;
  for (size_t i = 0; i < a.count; ++i) {
    const ratelimit::Limiter& l = *a.limiter[i];
    if (a.step[i] != AdmissionState::Step::kDecided || l.policy().dryRun) continue;
    if (p != limitStart) putText(p, end, ", ");
    putText(p, end, "\"");
    putText(p, end, l.policy().name);
    putText(p, end, "\";r=");
    putUint(p, end, a.decision[i].allowed ? a.decision[i].remaining : 0);
    putText(p, end, ";t=");
    putUint(p, end, ratelimit::ceilSeconds(a.decision[i].resetNs));
  }
  a.fieldCount = 0;
  if (p != limitStart)
    a.fields[a.fieldCount++] = {"RateLimit", std::string_view(limitStart, p - limitStart)};
  if (!refused) return true;
  char* const policyStart = p;
  for (size_t i = 0; i < a.count; ++i) {
    const ratelimit::Limiter& l = *a.limiter[i];
    if (l.policy().dryRun) continue;
    if (p != policyStart) putText(p, end, ", ");
    putText(p, end, l.policyItem());
  }
  a.fields[a.fieldCount++] = {"RateLimit-Policy", std::string_view(policyStart, p - policyStart)};
  char* const retryStart = p;
  putUint(p, end, std::max<uint64_t>(1, ratelimit::ceilSeconds(retryNs)));
  a.fields[a.fieldCount++] = {"Retry-After", std::string_view(retryStart, p - retryStart)};
  sink_->respondLocal(429, metrics::LocalReason::kRateLimited, "too many requests\n", false);
  return false;
}

}  // namespace sy::proxy
